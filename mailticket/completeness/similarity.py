"""How close a mail is to a category's example complaints, by character n-grams.

Phrases catch the words an admin thought of; customers use others (充了, 转入钱包, reload,
提領). A mail that shares many short character sequences with a category's examples is about
the same thing even when no phrase matched. The text is compared twice: as simplified
characters (bigrams and trigrams, so 帳戶被鎖 and 账户被锁 meet) and as pinyin (pairs of
syllables, so 冲值 meets 充值); English by words. No model,
no download: cosine similarity of n-gram counts, each n-gram weighted by how few categories'
examples share it (a gram every category has, such as 我的 or "my", says nothing).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence

from mailticket.completeness.normalise import pinyin_syllables, simplified
from mailticket.completeness.text import fold_width

# Longest text compared: the opening of a complaint says what it is about.
SIMILARITY_LIMIT = 600
# Character or word n-grams (pinyin pairs aside) a mail must share with an example to be close.
MIN_SHARED = 2
_NOISE = re.compile(r"[\s\d\W_]+")
_SCRIPT = re.compile(r"[a-z]+|[^a-z]+")  # ASCII words and Chinese runs of one written word


def grams(text: str) -> Counter[str]:
    """Character bigrams and trigrams of the simplified Chinese runs, pairs of pinyin
    syllables (homophones typed by an input method meet), and English words by their first five
    letters (refund/refunded) with word pairs. English is not cut into letter n-grams: short
    letter sequences (th, he, ing) are shared by any two English texts."""
    text = text[:SIMILARITY_LIMIT]
    plain = _NOISE.sub(" ", simplified(fold_width(text)).lower())
    found: Counter[str] = Counter()
    words: list[str] = []
    for run in plain.split():
        for part in _SCRIPT.findall(run):
            if part.isascii():
                words.append(part[:5])
                continue
            for n in (2, 3):
                found.update(part[i : i + n] for i in range(len(part) - n + 1))
            # Pairs of syllables, not letter n-grams: a letter sequence across two syllables
            # (bu|chong -> "chon") would meet unrelated words.
            found.update(f"~{a} {b}" for a, b in itertools.pairwise(pinyin_syllables(part)))
    found.update("w:" + word for word in words if len(word) > 2)
    found.update(f"w:{a} {b}" for a, b in itertools.pairwise(words))
    return found


class ExampleIndex:
    """Each category's example complaints as weighted n-gram vectors, built once per rules."""

    def __init__(self, examples: dict[str, Sequence[str]]) -> None:
        counted = {c: [grams(t) for t in texts] for c, texts in examples.items() if texts}
        spread: Counter[str] = Counter()
        for vectors in counted.values():
            spread.update({g for v in vectors for g in v})
        total = max(1, len(counted))
        self._weight = {g: math.log((total + 0.5) / n) for g, n in spread.items()}
        self._vectors = {
            c: [self._normalised(v) for v in vectors] for c, vectors in counted.items()
        }
        # Which examples hold each gram, with its weight there: a mail's dot products are then
        # summed over its own grams once, not over every example (655,000 look-ups for 400
        # mails before, most of them misses).
        self._postings: dict[str, list[tuple[str, int, float]]] = {}
        for category, normalised in self._vectors.items():
            for index, (example, _norm) in enumerate(normalised):
                for gram, weight in example.items():
                    self._postings.setdefault(gram, []).append((category, index, weight))

    def _normalised(self, counts: Counter[str]) -> tuple[dict[str, float], float]:
        vector = {g: n * self._weight.get(g, 0.0) for g, n in counts.items()}
        vector = {g: w for g, w in vector.items() if w}
        return vector, math.sqrt(sum(w * w for w in vector.values())) or 1.0

    def closest(self, text: str) -> dict[str, tuple[float, int]]:
        """Per category, the highest cosine similarity of `text` to one of its examples, and
        which example (its index in the category's list)."""
        vector, norm = self._normalised(grams(text))
        dots: dict[tuple[str, int], float] = {}
        shared: dict[tuple[str, int], int] = {}
        for gram, weight in vector.items():
            for category, index, example_weight in self._postings.get(gram, ()):
                key = (category, index)
                dots[key] = dots.get(key, 0.0) + weight * example_weight
                if gram[0] != "~":
                    shared[key] = shared.get(key, 0) + 1
        result: dict[str, tuple[float, int]] = {}
        for category, examples in self._vectors.items():
            best, which = 0.0, -1
            for index, (_example, example_norm) in enumerate(examples):
                # One word in common (登录, "security") is not closeness: a short mail that
                # shares a single word with an example would count as a full phrase.
                if shared.get((category, index), 0) < MIN_SHARED:
                    continue
                similarity = dots.get((category, index), 0.0) / (norm * example_norm)
                if similarity > best:
                    best, which = similarity, index
            result[category] = (round(best, 3), which)
        return result


@functools.lru_cache(maxsize=8)
def index_of(examples: tuple[tuple[str, tuple[str, ...]], ...]) -> ExampleIndex:
    """The index of a rule set's examples, kept: the rules classify every mail with it."""
    return ExampleIndex(dict(examples))
