"""A per-mail time budget: one hostile or broken mail must never stall the inbox behind it.

Python cannot interrupt a running regex or parser safely, so the budget is checked between the
stages of taking a mail in (parse, redact, score, record); together with the caps on sizes,
part counts and nesting in `mail.parse`, and the bounded input the matchers see, no stage runs
long, and a mail that is over budget after any stage is quarantined with the stage named. The
clock is passed in (the desk's own), so tests drive it and never time anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mailticket.model import Clock


class BudgetExceeded(Exception):
    """The mail used up its `[limits] mail_seconds`; the reason names the stage."""


@dataclass
class Deadline:
    """`check(stage)` raises `BudgetExceeded` once `seconds` have passed since it was made."""

    clock: Clock
    seconds: float
    started: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def spent(self) -> float:
        return (self.clock() - self.started).total_seconds()

    def check(self, stage: str) -> None:
        spent = self.spent()
        if spent > self.seconds:
            raise BudgetExceeded(
                f"over the time budget of {self.seconds:g} s per mail ([limits] mail_seconds) "
                f"after {stage}: {spent:.1f} s"
            )
