"""Commands agents write at the top of a mail, before their text: `#status resolved`,
`#assign me`, `#priority high`, `#category withdrawal_delayed`, `#note`, `#resolve`,
`#attachments` (the customer's files, sent to the agent).

Reading them is strict on purpose: a line that is not exactly a known command is reported back
to the agent, never guessed, because a guess could close a ticket or mail a customer. Only the
top of the mail counts (blank lines between commands are allowed); the first other line starts
the text, and a `#` further down is just text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailticket.model import Priority, TicketStatus

_COMMAND_LINE = re.compile(r"^[#＃](\S*)\s*(.*?)\s*$")

USAGE = {
    "status": f"#status {'|'.join(TicketStatus)}",
    "assign": "#assign me | #assign name@example.com",
    "priority": f"#priority {'|'.join(Priority)}",
    "category": "#category <category id>",
    "note": "#note",
    "resolve": "#resolve",
    "attachments": "#attachments",
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "status": tuple(s.value for s in TicketStatus),
    "priority": tuple(p.value for p in Priority),
}


@dataclass(frozen=True)
class Command:
    name: str  # a key of USAGE
    argument: str  # lower-cased for the fixed vocabularies; "" for #resolve; #note's own text
    line: str  # as the agent wrote it


@dataclass(frozen=True)
class Problem:
    line: str
    why: str

    def __str__(self) -> str:
        return f"{self.line!r}: {self.why}"


@dataclass(frozen=True)
class AgentCommands:
    commands: tuple[Command, ...]
    problems: tuple[Problem, ...]
    text: str  # the agent's words below the commands

    def get(self, name: str) -> Command | None:
        return next((c for c in self.commands if c.name == name), None)


def _read(line: str) -> Command | Problem:
    found = _COMMAND_LINE.match(line)
    assert found is not None
    name, argument = found.group(1).lower(), found.group(2)
    if name not in USAGE:
        return Problem(line, f"unknown command (known: {', '.join(USAGE)})")
    if name in _CHOICES:
        value = argument.lower()
        if value not in _CHOICES[name]:
            return Problem(line, f"expected {USAGE[name]}")
        return Command(name, value, line)
    if name == "note":  # `#note text` on one line, as the notice suggests, or text below
        return Command(name, argument.strip(), line)
    if name in ("resolve", "attachments"):
        if argument:
            return Problem(line, f"{USAGE[name]} takes nothing after it; write the text below")
        return Command(name, "", line)
    if name == "assign":
        value = argument.lower() if argument.lower() == "me" else argument.strip("<>")
        if value != "me" and ("@" not in value or len(value.split()) != 1):
            return Problem(line, f"expected {USAGE[name]}")
        return Command(name, value, line)
    if len(argument.split()) != 1:  # the category: whether it exists is for the rules to say
        return Problem(line, f"expected {USAGE[name]}")
    return Command(name, argument, line)


def parse_commands(text: str) -> AgentCommands:
    """The command lines at the top of `text`, what is wrong with any of them, and the rest.

    A command given twice, or `#note` with `#resolve` (a note is never sent, a resolution
    always is), is a problem too: the agent says which they meant.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    commands: list[Command] = []
    problems: list[Problem] = []
    start = 0
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith(("#", "＃")):
            break
        start = number + 1
        read = _read(stripped)
        if isinstance(read, Problem):
            problems.append(read)
        elif any(c.name == read.name for c in commands):
            problems.append(Problem(stripped, f"#{read.name} is given twice"))
        else:
            commands.append(read)
    names = {c.name for c in commands}
    status = next((c.argument for c in commands if c.name == "status"), "")
    if "note" in names and ("resolve" in names or status == TicketStatus.RESOLVED):
        problems.append(Problem("#note", "a note is never sent; it cannot also resolve"))
    if "resolve" in names and status not in ("", TicketStatus.RESOLVED):
        problems.append(Problem("#resolve", f"contradicts #status {status}"))
    rest = "\n".join(lines[start:]).strip()
    if (note := next((c for c in commands if c.name == "note"), None)) and note.argument:
        rest = f"{note.argument}\n{rest}".strip()
    if "resolve" in names and not rest:
        problems.append(Problem("#resolve", "write the resolution for the customer below it"))
    return AgentCommands(tuple(commands), tuple(problems), rest)
