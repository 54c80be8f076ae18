"""How well the rules read a folder of labelled complaints: the learning loop for admins.

An admin who finds a misread mail adds it, with what it should have been read as, to an
example folder; `mailticket rules test` then shows category accuracy per language and, per
detail, the precision and recall of "missing" (is what we would ask for really missing, and is
everything really missing asked for), before a rule edit is deployed. Plain data in and out:
the folder is read by the CLI.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailticket.completeness.rules import RuleSet
from mailticket.completeness.score import ThreadMail, assess


@dataclass(frozen=True)
class Example:
    """One labelled complaint: the mail, and what a careful agent reads in it."""

    name: str  # file name, for the misses
    language: str  # e.g. zh-Hans, zh-Hant, yue, pinyin, en, mixed
    date: datetime  # the mail's own date, timezone-aware: 昨天 counts from here
    subject: str
    text: str
    category: str
    given: frozenset[str]  # detail ids the customer gave
    missing: frozenset[str]  # detail ids the customer did not give


@dataclass
class Counts:
    """Of "missing" for one detail: asked and missing, asked but given, not asked though missing."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def precision(self) -> float:
        asked = self.true_positive + self.false_positive
        return self.true_positive / asked if asked else 1.0

    @property
    def recall(self) -> float:
        really = self.true_positive + self.false_negative
        return self.true_positive / really if really else 1.0


@dataclass
class Report:
    total: int = 0
    right: int = 0  # category right and exactly the labelled missing details asked for
    by_language: dict[str, list[int]] = field(default_factory=dict)  # language -> [right, all]
    details: dict[str, Counts] = field(default_factory=dict)
    misses: list[dict[str, Any]] = field(default_factory=list)

    def category_accuracy(self) -> float:
        right = sum(r for r, _ in self.by_language.values())
        return right / self.total if self.total else 1.0

    def failures(self, min_category: float, min_precision: float, min_recall: float) -> list[str]:
        """Each threshold not met, as a line; empty when the rules pass."""
        lines = [
            f"category accuracy {right / count:.2f} < {min_category} in {language}"
            for language, (right, count) in sorted(self.by_language.items())
            if right / count < min_category
        ]
        for detail, counts in sorted(self.details.items()):
            if counts.precision < min_precision:
                lines.append(f"{detail}: precision of missing {counts.precision:.2f}")
            if counts.recall < min_recall:
                lines.append(f"{detail}: recall of missing {counts.recall:.2f}")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "examples": self.total,
            "right": self.right,
            "category_accuracy": round(self.category_accuracy(), 4),
            "by_language": {
                language: {"right": right, "examples": count, "accuracy": round(right / count, 4)}
                for language, (right, count) in sorted(self.by_language.items())
            },
            "missing": {
                detail: {
                    "precision": round(c.precision, 4),
                    "recall": round(c.recall, 4),
                    "true_positive": c.true_positive,
                    "false_positive": c.false_positive,
                    "false_negative": c.false_negative,
                }
                for detail, c in sorted(self.details.items())
            },
            "misses": self.misses,
        }


def evaluate(rules: RuleSet, examples: Iterable[Example]) -> Report:
    """Each example read as the daemon reads a new ticket's first mail, compared to its labels.
    Only the labelled details count: an example need not say everything about every field."""
    report = Report()
    for example in examples:
        thread = [ThreadMail(example.name, example.date, example.subject, example.text)]
        assessment = assess(rules, thread)
        got = assessment.category.id
        tally = report.by_language.setdefault(example.language, [0, 0])
        tally[1] += 1
        tally[0] += got == example.category
        asked = set(assessment.missing)
        wrong: dict[str, list[str]] = defaultdict(list)
        for detail in sorted(example.given | example.missing):
            counts = report.details.setdefault(detail, Counts())
            if detail in asked and detail in example.missing:
                counts.true_positive += 1
            elif detail in asked:
                counts.false_positive += 1
                wrong["asked_though_given"].append(detail)
            elif detail in example.missing:
                counts.false_negative += 1
                wrong["not_asked_though_missing"].append(detail)
        report.total += 1
        if got == example.category and not wrong:
            report.right += 1
        else:
            miss: dict[str, Any] = {"example": example.name, "language": example.language}
            if got != example.category:
                miss["category"] = {"expected": example.category, "got": got}
            miss |= wrong
            miss["explanation"] = assessment.explanation()
            report.misses.append(miss)
    return report
