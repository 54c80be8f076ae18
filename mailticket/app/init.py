"""`mailticket init [DIR]`: a desk an admin can start from without copying anything by hand.

It writes the commented example config (with absolute paths, so the config means the same
whatever the working directory of cron, systemd or a shell), a copy of the built-in rule files
to edit (the running daemon reloads them; the ones inside the package are overwritten by an
upgrade), and a systemd unit with this host's paths. Customers' mail is personal data: the
config is 0600 and every folder 0700. Nothing existing is ever overwritten.

The store defaults to `DIR/store`, beside the config: `init` is often run by an admin without
root to try the desk, and that folder is one they can write. A service passes
`--storage /var/lib/mailticket`, the unit's `StateDirectory`, which systemd keeps owned by the
daemon's user.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from mailticket.config import DEFAULT_PATH
from mailticket.config_sections import BUILTIN_RULES
from mailticket.errors import UsageError

PACKAGE = Path(__file__).resolve().parents[1]
EXAMPLE = PACKAGE / "config.example.toml"
UNIT = PACKAGE / "packaging" / "mailticket.service"
SERVICE_STORAGE = Path("/var/lib/mailticket")  # the unit's StateDirectory=mailticket
# The lines of the shipped files that `init` fills in for this host.
EXAMPLE_STORAGE = f'path = "{SERVICE_STORAGE}"'
EXAMPLE_RULES = '# path = "rules"'
UNIT_EXEC = "ExecStart=/opt/mailticket/bin/mailticket --config /etc/mailticket/mailticket.toml run"
UNIT_UMASK = "UMask=0077"


PRIVATE_UMASK = 0o077  # files 0600, folders 0700


def private_umask() -> int:
    """Make every file and folder this process creates its user's alone, whatever the umask of
    the shell, cron job or unit that started it: the store holds customers' personal data and
    the Message-ID secret. Returns the old umask."""
    return os.umask(PRIVATE_UMASK)


def add_parser(commands: Any) -> None:
    init = commands.add_parser(
        "init", help="write a starter config, rules and systemd unit / 生成初始配置"
    )
    init.add_argument("dir", nargs="?", default=".", metavar="DIR", help="folder (default: .)")
    init.add_argument(
        "--storage",
        metavar="PATH",
        help=f"store folder (default: DIR/store; for the service: {SERVICE_STORAGE})",
    )
    init.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    folder = Path(args.dir).resolve()
    storage = Path(args.storage).resolve() if args.storage else folder / "store"
    # The unit runs the program that ran `init` (the console script of this install).
    script = Path(sys.argv[0])
    if script.name == "mailticket":
        program = script.resolve()
    else:  # python -m mailticket
        program = Path(sys.executable).parent / "mailticket"
    written = init_desk(folder, storage, program)
    config = folder / DEFAULT_PATH
    steps = next_steps(config, folder / "mailticket.service")
    if args.json:
        print(json.dumps({"written": written, "next": steps}, ensure_ascii=False, indent=2))
        return 0
    for entry in written:
        print(f"{entry['mode']}  {entry['path']}")
    print("\nnext / 下一步:")
    for number, step in enumerate(steps, 1):
        print(f"{number}. {step}")
    return 0


def init_desk(folder: Path, storage: Path, program: Path) -> list[dict[str, str]]:
    """Write config, rules and unit under `folder` and make the store folder; refuses, before
    writing anything, when one of them already exists."""
    config, rules, unit = folder / DEFAULT_PATH, folder / "rules", folder / "mailticket.service"
    for path in (config, rules, unit):
        if path.exists():
            raise UsageError(f"{path} exists: nothing was written / 已存在，未写入任何文件")
    if storage.exists() and any(storage.iterdir()):
        raise UsageError(f"{storage} is not empty: nothing was written / 存储目录非空，未写入")
    written: list[dict[str, str]] = []
    for path in (folder, storage, rules):
        if _make_folder(path):
            written.append({"path": str(path), "mode": "0700"})
    text = EXAMPLE.read_text(encoding="utf-8")
    text = _fill(text, EXAMPLE_STORAGE, f"path = {json.dumps(str(storage))}")
    text = _fill(text, EXAMPLE_RULES, 'path = "rules"')
    written.append(_write_new(config, text))
    for rule_file in sorted(BUILTIN_RULES.glob("*.toml")):
        written.append(_write_new(rules / rule_file.name, rule_file.read_text(encoding="utf-8")))
    written.append(_write_new(unit, unit_text(program, config, storage)))
    return written


def unit_text(program: Path, config: Path, storage: Path) -> str:
    """The shipped unit with this host's program and config; a store outside the unit's
    StateDirectory must be named writable, or ProtectSystem=strict makes it read-only."""
    text = UNIT.read_text(encoding="utf-8")
    text = _fill(text, UNIT_EXEC, f"ExecStart={program} --config {config} run")
    if storage != SERVICE_STORAGE:
        text = _fill(text, UNIT_UMASK, f"{UNIT_UMASK}\nReadWritePaths={storage}")
    return text


def next_steps(config: Path, unit: Path) -> list[str]:
    return [
        f"edit {config}: [desk] address, [imap], [smtp] / 编辑配置：地址、IMAP、SMTP",
        "put the secrets its *_env keys name (MAILTICKET_IMAP_PASSWORD=…) in "
        "/etc/mailticket/secrets.env, mode 0600 (the unit's EnvironmentFile) / 设置密码",
        f"mailticket --config {config} check --connect   (logins and TLS / 测试登录)",
        f"sudo cp {unit} /etc/systemd/system/ && sudo systemctl daemon-reload && "
        "sudo systemctl enable --now mailticket   (the service / 启动服务)",
        f"mailticket --config {config} status   (monitoring / 运行状态)",
    ]


def _fill(text: str, line: str, replacement: str) -> str:
    """Replace one known line of a shipped file; a shipped file without it is our bug."""
    if line not in text:
        raise AssertionError(f"shipped file lacks {line!r}")
    return text.replace(line, replacement, 1)


def _make_folder(path: Path) -> bool:
    """Create `path` as 0700 (whatever the umask); an existing folder is left as it is."""
    if path.is_dir():
        return False
    try:
        path.mkdir(parents=True, mode=0o700)
        path.chmod(0o700)
    except OSError as exc:
        raise UsageError(f"cannot create {path}: {exc.strerror} / 无法创建目录") from None
    return True


def _write_new(path: Path, text: str) -> dict[str, str]:
    """Create a file 0600; O_EXCL so a file that appeared meanwhile is never overwritten."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror} / 无法写入") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    return {"path": str(path), "mode": "0600"}
