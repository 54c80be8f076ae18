"""A ticket scored against the rules: its category, the details found, and what is still missing.

Scoring always replays the whole thread (every customer mail, oldest first), so a value given in
any mail counts, a later value replaces an earlier one with the change kept in the history, and a
ticket whose category becomes clear only in a follow-up still finds the details its first mail
already gave. The same replay with edited rules is what `mailticket check` shows admins.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailticket.completeness import guard
from mailticket.completeness.extract import caseless, find_fields, phrases_found
from mailticket.completeness.normalise import pinyin_key
from mailticket.completeness.rules import Category, Field, RuleSet
from mailticket.completeness.similarity import index_of
from mailticket.model import Attachment, FieldChange, InboundMail

# Evidence at which a category counts as plainly recognised (a topic phrase, or an example
# it is clearly close to); below it the confidence shrinks in proportion.
FULL_EVIDENCE = 3
# Below this confidence the catch-all is chosen and the ticket flagged: the best category must
# have more than 1.2 times the evidence of the next one, and enough of it.
MIN_CONFIDENCE = 0.55
# Similarity to a category's closest example below which it says nothing (unrelated mails
# share a few grams by chance); above it, each 0.1 of similarity is worth SIMILAR_WEIGHT / 10
# of phrase evidence, so 0.1 above the floor is a topic phrase. (These four were chosen on the
# shipped examples, rules/examples; the held-out sets only measure them.)
SIMILAR_FLOOR = 0.1
SIMILAR_WEIGHT = 30
# Phrase evidence this many times the runner-up's (and full) decides without the examples.
PLAIN_RATIO = 9


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
    examples: dict[str, str] = field(default_factory=dict)  # category id -> closest example


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
    """The category the text is about, or the catch-all when none is clear.

    Three kinds of evidence add up per category: its phrases (those in the opening, the subject
    and first sentence, count twice, so a passing mention later does not win); when no phrase is
    found as written, the Chinese phrases by their pinyin (冲值 for 充值, a mail typed in pinyin:
    slower, so only then); and how close the text is to the category's example complaints
    (`similarity`), which decides when the customer used none of the phrases. The catch-all
    takes part with its own phrases and examples (fees, closing an account, a seller, a
    suggestion): a mail about those is read as the catch-all even when it mentions a withdrawal
    in passing. The catch-all is also chosen, and flagged, when nothing is close or the best is
    not clearly ahead."""
    evidence, strength, hits = _phrase_evidence(rules, text)
    # Plain phrase evidence decides alone (and fast); the examples are read when it does not.
    similar = {} if _plain(evidence) else _similar(rules, text)
    for category_id, (similarity, _) in similar.items():
        if similarity >= SIMILAR_FLOOR:
            extra = round(SIMILAR_WEIGHT * (similarity - SIMILAR_FLOOR))
            evidence[category_id] = evidence.get(category_id, 0) + extra
            strength[category_id] = strength.get(category_id, 0) + extra
    examples = _example_hits(rules, similar)
    catch_all = rules.catch_all
    ranked = sorted(evidence.items(), key=lambda item: -item[1])
    best, first = ranked[0] if ranked else ("", 0)
    second = ranked[1][1] if len(ranked) > 1 else 0
    if first == 0:
        return Classification(
            catch_all, 0.0, evidence, (), "category unknown: no phrases", examples
        )
    plain = min(1.0, strength.get(best, 0) / FULL_EVIDENCE)
    confidence = round(first / (first + second) * plain, 2)
    decided = hits.get(best, ())
    if best in examples:
        decided += (f"example {examples[best]}",)
    if best == catch_all.id:
        # Its own topics (a fee, a suggestion) outweigh every category's: a confident choice.
        # Close to its examples alone, it is still flagged: they are a guess at the topic.
        guess = f"closest to the catch-all's examples ({first} vs {second})"
        flag = "" if hits.get(best) else guess
        return Classification(catch_all, confidence, evidence, decided, flag, examples)
    if confidence < MIN_CONFIDENCE:
        runner_up = f" vs {ranked[1][0]} {second}" if second else ""
        flag = f"category unclear: {best} {first}{runner_up} (confidence {confidence:.2f})"
        return Classification(catch_all, 0.0, evidence, (), flag, examples)
    chosen = rules.get(best)
    assert chosen is not None
    return Classification(chosen, confidence, evidence, decided, "", examples)


def _plain(evidence: dict[str, int]) -> bool:
    """Whether one category's phrases outweigh the rest clearly (confidence at least 0.9)."""
    ranked = [*sorted(evidence.values(), reverse=True), 0, 0]
    first, second = ranked[0], ranked[1]
    return first >= FULL_EVIDENCE and first >= PLAIN_RATIO * second


def _phrase_evidence(
    rules: RuleSet, text: str
) -> tuple[dict[str, int], dict[str, int], dict[str, tuple[str, ...]]]:
    """Weight of each category's phrases in the text with those in the opening counted again,
    the weight without that, and the phrases. When the phrases found as written do not plainly
    decide, the Chinese phrases are looked for by their pinyin too (冲值 for 充值 beside a
    没到账 that both money categories have), each phrase still counted once."""
    head = opening(text)
    evidence, hits = _evidence(rules, caseless(text), phrases_found)
    head_evidence, head_hits = _evidence(rules, caseless(head), phrases_found, OPENING_MIN_WEIGHT)
    # Chinese text whenever the written phrases do not decide; text without any Chinese (a
    # mail typed in pinyin, or English) only when no phrase was found at all, as English words
    # read as pinyin would meet phrases by chance.
    if not _plain(evidence) and (not text.isascii() or not any(evidence.values())):
        # The beginning only beside phrases found as written: a slip there is what decides,
        # and pypinyin costs about a millisecond for each thousand characters.
        read = text if not any(evidence.values()) else text[:PINYIN_PASS_LIMIT]
        key, head_key = pinyin_key(read), pinyin_key(head)
        for category in rules.categories:
            found = set(hits[category.id])
            found_head = set(head_hits[category.id])
            for signal in category.signals:
                for phrase in _pinyin_phrases(key, signal.phrases):
                    if phrase in found:
                        continue
                    found.add(phrase)
                    evidence[category.id] += signal.weight
                    hits[category.id] += (f"{phrase} (pinyin)",)
                    topic = signal.weight >= OPENING_MIN_WEIGHT and phrase not in found_head
                    if topic and _phrase_key(phrase) in head_key:
                        head_evidence[category.id] += signal.weight
    for category_id, weight in head_evidence.items():
        evidence[category_id] += weight
    return evidence, dict(evidence), hits


PINYIN_PASS_LIMIT = 400  # characters read by pinyin beside phrases found as written
_SENTENCE_END = re.compile(r"[。！？!?\n]|\.(?:\s|$)")
OPENING_LIMIT = 120  # characters of the opening given the double weight
# Only topic phrases count twice in the opening; a context word there (账号, 登录, pending)
# says little more than anywhere else.
OPENING_MIN_WEIGHT = 3


def opening(text: str) -> str:
    """The subject line and the first sentence after it: what the mail says it is about."""
    text = text.lstrip()[:OPENING_LIMIT]
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    # The first end closes the subject (or the first sentence when there is no subject).
    return text[: ends[1]] if len(ends) > 1 else text


def _similar(rules: RuleSet, text: str) -> dict[str, tuple[float, int]]:
    pairs = tuple((c.id, c.examples) for c in rules.categories if c.examples)
    if not pairs:
        return {}
    index = index_of(pairs)
    whole = index.closest(text)
    head = index.closest(opening(text))
    # The opening alone may be closer to an example than the whole mail (a long story after).
    return {c: max(whole[c], head[c]) for c in whole}


def _example_hits(rules: RuleSet, similar: dict[str, tuple[float, int]]) -> dict[str, str]:
    """Category id -> the closest example (its opening) and the similarity, where close."""
    found = {}
    for category_id, (similarity, which) in similar.items():
        category = rules.get(category_id)
        if category is not None and similarity >= SIMILAR_FLOOR and which >= 0:
            found[category_id] = f"{category.examples[which][:30]!r} ({similarity:.2f})"
    return found


def _evidence(
    rules: RuleSet,
    text: str,
    found_in: Callable[[str, Sequence[str]], list[str]],
    min_weight: int = 0,
) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    """Each category's weight of phrases `found_in` the text (of signals weighing at least
    `min_weight`), and the phrases."""
    evidence: dict[str, int] = {}
    hits: dict[str, tuple[str, ...]] = {}
    for category in rules.categories:
        found: list[str] = []
        weight = 0
        for signal in category.signals:
            if signal.weight < min_weight:
                continue
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
    fields = _fields(rules, classification) if category.catch_all else category.fields
    values: dict[str, str] = {}
    history: list[FieldChange] = []
    extracted: dict[str, str] = {}
    received: list[str] = []
    for mail in thread:
        extracted, received = {}, []
        found = find_fields(fields, mail.subject, mail.text, mail.attachments, mail.date)
        for rule, value in zip(fields, found, strict=True):
            if value is None:
                continue
            extracted[rule.id] = value
            previous = values.get(rule.id, "")
            if value != previous:
                history.append(FieldChange(rule.id, value, previous, mail.message_id, mail.date))
                received.append(rule.id)
                values[rule.id] = value
    total = sum(f.weight for f in fields)
    present = sum(f.weight for f in fields if f.id in values)
    missing = [f.id for f in fields if f.required and f.id not in values]
    missing += [f.id for f in fields if not f.required and f.id not in values]
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


# Kinds of the details that identify a payment: asked in the catch-all too when the mail is
# about money, so a money complaint whose category was unclear is not left without them.
_MONEY_KINDS = ("pattern", "amount", "datetime")


def _fields(rules: RuleSet, classification: Classification) -> tuple[Field, ...]:
    """The catch-all's fields, and when another category had some evidence (the mail is about
    a top-up, a withdrawal...), that closest category's payment details (transaction number,
    amount, time) as well: an unclear money complaint is still asked for them."""
    fields = rules.catch_all.fields
    evidence = {k: v for k, v in classification.evidence.items() if k != rules.catch_all.id}
    closest = max(evidence, key=lambda k: evidence[k], default=None)
    category = rules.get(closest) if closest and evidence[closest] > 0 else None
    if category is None:
        return fields
    have = {f.id for f in fields}
    money = tuple(f for f in category.fields if f.kind in _MONEY_KINDS and f.id not in have)
    return fields + money


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
            "evidence": {},
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
        "evidence": _evidence_report(rules, assessment, thread[0]),
    }


def _evidence_report(rules: RuleSet, assessment: Assessment, mail: ThreadMail) -> dict[str, Any]:
    """Why `check` read the mail as it did: the phrases and the closest example of each
    category, the weights, and where each detail was found (subject, text or attachment).
    The mail is already redacted, so no secret is quoted."""
    c = assessment.classification
    category = assessment.category
    rules_fields = _fields(rules, c) if category.catch_all else category.fields
    where = {}
    for rule in rules_fields:
        if rule.id not in assessment.fields:
            continue
        if rule.kind == "attachment":
            where[rule.id] = "attachment"
        elif find_fields([rule], mail.subject, "", (), mail.date)[0] is not None:
            where[rule.id] = "subject"
        else:
            where[rule.id] = "text"
    return {
        "phrases": list(c.hits),
        "weights": dict(c.evidence),
        "closest_examples": dict(c.examples),
        "found_in": where,
    }
