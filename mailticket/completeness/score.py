"""A ticket scored against the rules: its category, the details found, and what is still missing.

Scoring always replays the whole thread (every customer mail, oldest first), so a value given in
any mail counts, a later value replaces an earlier one with the change kept in the history, and a
ticket whose category becomes clear only in a follow-up still finds the details its first mail
already gave. The same replay with edited rules is what `mailticket check` shows admins.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailticket.completeness import guard
from mailticket.completeness.extract import caseless, find_fields, phrases_found
from mailticket.completeness.normalise import pinyin_key
from mailticket.completeness.rules import Category, RuleSet
from mailticket.model import Attachment, FieldChange, InboundMail

# Signal weight at which a category counts as plainly recognised (one strong phrase, or a few
# weaker ones); below it the confidence shrinks in proportion.
FULL_EVIDENCE = 5
# Below this confidence the catch-all is chosen and the ticket flagged: the best category must
# have at least 1.5 times the evidence of the next one, and enough of it.
MIN_CONFIDENCE = 0.6


@dataclass(frozen=True)
class ThreadMail:
    """One customer mail of a ticket, as scoring needs it."""

    message_id: str
    date: datetime  # when it was written, in the desk's zone: "昨天" counts from here
    subject: str  # the opening mail's subject; "" for replies, which only repeat it
    text: str  # the customer's new words (`InboundMail.text`: no quoted history), secrets cut
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Classification:
    category: Category
    confidence: float
    evidence: dict[str, int]  # category id -> weight of the phrases found
    hits: tuple[str, ...]  # phrases of the chosen category found in the text
    flag: str = ""  # why the catch-all was chosen, for agents


@dataclass(frozen=True)
class Assessment:
    classification: Classification
    score: int
    complete: bool
    missing: tuple[str, ...]  # field ids without a value, required ones first
    fields: dict[str, str]
    history: tuple[FieldChange, ...]
    extracted: dict[str, str] = field(default_factory=dict)  # found in the latest mail
    received: tuple[str, ...] = ()  # field ids the latest mail gave or corrected

    @property
    def category(self) -> Category:
        return self.classification.category

    def explanation(self) -> str:
        """One line for the message's notes: why this category, score and missing list."""
        c = self.classification
        others = ", ".join(f"{k} {v}" for k, v in c.evidence.items() if k != c.category.id)
        hits = ", ".join(c.hits) or "no phrases"
        line = (
            f"category {c.category.id} (confidence {c.confidence:.2f}; {hits}"
            f"{'; others: ' + others if others else ''}); score {self.score}/100; "
        )
        line += f"missing {', '.join(self.missing)}" if self.missing else "nothing missing"
        return line + (f"; {c.flag}" if c.flag else "")


def classify(rules: RuleSet, text: str) -> Classification:
    """The category whose phrases weigh most in `text`, or the catch-all when none is clear.
    When no phrase is found as written, the Chinese phrases are looked for again by their
    pinyin (冲值 for 充值, 帐号 for 账号, a mail typed in pinyin): slower, so only then."""
    evidence, hits = _evidence(rules, caseless(text), phrases_found)
    if not any(evidence.values()):
        key = pinyin_key(text)
        evidence, hits = _evidence(rules, key, _pinyin_phrases)
        hits = {k: tuple(f"{phrase} (pinyin)" for phrase in v) for k, v in hits.items()}
    ranked = sorted(evidence.items(), key=lambda item: -item[1])
    best, first = ranked[0] if ranked else ("", 0)
    second = ranked[1][1] if len(ranked) > 1 else 0
    if first == 0:
        return Classification(rules.catch_all, 0.0, evidence, (), "category unknown: no phrases")
    confidence = round(first / (first + second) * min(1.0, first / FULL_EVIDENCE), 2)
    if confidence < MIN_CONFIDENCE:
        runner_up = f" vs {ranked[1][0]} {second}" if second else ""
        flag = f"category unclear: {best} {first}{runner_up} (confidence {confidence:.2f})"
        return Classification(rules.catch_all, 0.0, evidence, (), flag)
    chosen = rules.get(best)
    assert chosen is not None
    return Classification(chosen, confidence, evidence, hits[best])


def _evidence(
    rules: RuleSet, text: str, found_in: Callable[[str, Sequence[str]], list[str]]
) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    """Each category's weight of phrases `found_in` the text, and the phrases."""
    evidence: dict[str, int] = {}
    hits: dict[str, tuple[str, ...]] = {}
    for category in rules.categories:
        if category.catch_all:
            continue
        found: list[str] = []
        weight = 0
        for signal in category.signals:
            phrases = found_in(text, signal.phrases)
            found += phrases
            weight += signal.weight * len(phrases)
        evidence[category.id], hits[category.id] = weight, tuple(found)
    return evidence, hits


def _pinyin_phrases(key: str, phrases: Sequence[str]) -> list[str]:
    """The Chinese phrases of at least two characters whose pinyin key is in `key` (a
    one-syllable key such as "chong" would meet too many words)."""
    return [p for p in phrases if len(p) >= 2 and not p.isascii() and _phrase_key(p) in key]


@functools.lru_cache(maxsize=4096)
def _phrase_key(phrase: str) -> str:
    # The rules ask the same few hundred phrases of every mail that reaches the fallback.
    return pinyin_key(phrase)


def assess(
    rules: RuleSet, thread: Sequence[ThreadMail], category: Category | None = None
) -> Assessment:
    """Category, values, score and missing fields of a ticket from all its customer mails;
    with `category` (an agent's choice), that category instead of the one the text suggests."""
    if category is None:
        classification = classify(rules, "\n".join(f"{m.subject}\n{m.text}" for m in thread))
    else:
        classification = Classification(category, 1.0, {}, (), "")
    category = classification.category
    values: dict[str, str] = {}
    history: list[FieldChange] = []
    extracted: dict[str, str] = {}
    received: list[str] = []
    for mail in thread:
        extracted, received = {}, []
        found = find_fields(category.fields, mail.subject, mail.text, mail.attachments, mail.date)
        for rule, value in zip(category.fields, found, strict=True):
            if value is None:
                continue
            extracted[rule.id] = value
            previous = values.get(rule.id, "")
            if value != previous:
                history.append(FieldChange(rule.id, value, previous, mail.message_id, mail.date))
                received.append(rule.id)
                values[rule.id] = value
    total = sum(f.weight for f in category.fields)
    present = sum(f.weight for f in category.fields if f.id in values)
    missing = [f.id for f in category.fields if f.required and f.id not in values]
    missing += [f.id for f in category.fields if not f.required and f.id not in values]
    return Assessment(
        classification=classification,
        score=round(100 * present / total) if total else 100,
        complete=not any(f.required and f.id not in values for f in category.fields),
        missing=tuple(missing),
        fields=values,
        history=tuple(history),
        extracted=extracted,
        received=tuple(received),
    )


def check_report(
    rules: RuleSet | None, mail: InboundMail, zone: ZoneInfo, now: datetime
) -> dict[str, Any]:
    """What the daemon's rules and guards make of one mail on its own, as `mailticket check`
    shows it: `category`, `score`, `complete`, `fields` (id -> value), `missing` (ids)."""
    mail, redacted = guard.redact_mail(mail)
    found = list(guard.flags(f"{mail.subject}\n{mail.text}", redacted))
    if rules is None:
        return {
            "category": None,
            "category_confidence": None,
            "score": None,
            "complete": None,
            "fields": {},
            "missing": [],
            "flags": found,
            "explanation": "no rules configured",
        }
    thread = [
        ThreadMail(
            mail.message_id,
            (mail.date or now).astimezone(zone),
            mail.subject,
            mail.text,
            mail.attachments,
        )
    ]
    assessment = assess(rules, thread)
    classification = assessment.classification
    return {
        "category": assessment.category.id,
        "category_confidence": classification.confidence,
        "score": assessment.score,
        "complete": assessment.complete,
        "fields": assessment.fields,
        "missing": list(assessment.missing),
        "flags": [f for f in (classification.flag, *found) if f],
        "explanation": assessment.explanation(),
    }
