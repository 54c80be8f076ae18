"""Redaction of hostile mail (issue 17): linear in the text however many secrets it holds and
however long the runs of spaces after a label. Measured as a ratio of the work at two sizes
(best of several runs, eight times the input), never against a clock limit: linear work grows
about 8 times, quadratic 64 times."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from mailticket.completeness.guard import REDACTED, redact


def _growth(make: Callable[[int], str], small: int) -> float:
    """How much longer 8x the input takes (linear ~8, quadratic ~64): the best of seven runs
    in CPU time, so other processes on a busy machine do not count (wall time measured 45
    under a load of 8 on two cores)."""

    def best(text: str) -> float:
        runs = []
        for _ in range(7):
            started = time.process_time()
            redact(text)
            runs.append(time.process_time() - started)
        return min(runs)

    return best(make(8 * small)) / best(make(small))


UNITS = {
    "sms codes": "验证码 123456。",
    "card numbers": "卡号 4111 1111 1111 1111，",
    "mixed": "验证码 123456 卡号 4111 1111 1111 1111 密码 abcd1234 PIN 9876，",
}


@pytest.mark.parametrize("unit", UNITS.values(), ids=UNITS.keys())
def test_many_secrets_are_cut_in_linear_time(unit: str) -> None:
    assert _growth(lambda n: unit * n, 600) < 24


@pytest.mark.parametrize("label", ["PIN", "密码", "验证码", "CVV"])
def test_a_long_run_of_spaces_after_a_label_is_linear(label: str) -> None:
    assert _growth(lambda n: (label + " " * n + "x") * 20, 300) < 24


def test_every_one_of_many_secrets_is_cut() -> None:
    text = UNITS["mixed"] * 3000
    result = redact(text)
    assert result.text.count(REDACTED) == 3 * 3000
    assert result.text.count("[card ****1111]") == 3000
    assert "123456" not in result.text and "4111 1111" not in result.text
    assert result.kinds == ("password", "payment_pin", "sms_code", "card_number")
