"""Details written the way the second held-out set showed customers write them (issue 13):
weekday-relative and year-less dates, counts of days ago, amounts without a currency word,
and payment references after their labels, retyped with spaces or dashes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailticket.completeness.amounts import amounts
from mailticket.completeness.contacts import mobiles
from mailticket.completeness.dates import datetimes
from mailticket.completeness.extract import find_field
from mailticket.completeness.references import labelled_codes
from mailticket.completeness.rules import check_rules, load_rules
from mailticket.completeness.text import fold_width

# Friday 27 November 2026, 10:00 in Shanghai.
FRIDAY = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("上礼拜四用支付宝付的", "2026-11-19"),
        ("上個禮拜三攞錢出嚟", "2026-11-18"),
        ("上上周一", "2026-11-09"),
        ("周二上午十点转出的", "2026-11-24 10:00"),
        ("周日下午3点", "2026-11-22 15:00"),
        ("星期五早上8点", "2026-11-27 08:00"),  # this week's Friday is the mail's own day
        ("周六晚上", "2026-11-21"),  # this week's Saturday has not come: last week's
        ("since 星期一", "2026-11-23"),
        ("last Sunday evening", "2026-11-22"),
        ("on Wednesday", "2026-11-25"),
        ("last Friday", "2026-11-20"),  # "last" on a Friday is a week back
        ("5 days ago", "2026-11-22"),
        ("two days ago", "2026-11-25"),
        ("三天前", "2026-11-24"),
        ("前晚9点", "2026-11-25 21:00"),
        ("刚才付的款", "2026-11-27"),
        ("nag cash out kahapon", "2026-11-26"),
        ("wo zuotian xiawu", "2026-11-26"),
    ],
)
def test_relative_dates_count_back_from_the_mail(text: str, value: str) -> None:
    assert [f.value for f in datetimes(text, FRIDAY)][:1] == [value]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("我在11/24申請", "2026-11-24"),  # Chinese: month first
        ("11.25 提的 ¥6000", "2026-11-25"),
        ("PayNow on 23/11 at about 10.15pm", "2026-11-23"),  # English: day first
        ("on 5/11", "2026-11-05"),
        ("on 11/5", "2026-11-05"),  # day first would be 11 May, long ago: month first
    ],
)
def test_short_dates_without_a_year_are_read_in_the_language_s_order(text: str, value: str) -> None:
    assert [f.value for f in datetimes(text, FRIDAY)][:1] == [value]


@pytest.mark.parametrize(
    "text",
    ["价格99.9元", "RM3.50", "app v2.3", "一周了还没到", "成個禮拜都冇反應", "1.5万", "5.5%"],
)
def test_amounts_versions_and_durations_are_not_dates(text: str) -> None:
    assert datetimes(text, FRIDAY) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("从钱包取了三千到建行卡", "3000.00"),
        ("我在钱包里冲直了500，钱没了", "500.00"),  # 冲直: an input-method slip for 充值
        ("退回银行卡了，1万3，到现在", "13000.00"),
        ("1.2万还没到", "12000.00"),
        ("sent 5k from my GCash", "5000.00"),
        ("I paid 15k into the wallet", "15000.00"),
        ("nag cash out po ako ng 3,000 sa BDO", "3000.00"),
        ("tixian de 800 kuai dao xianzai", "800.00"),
        ("金额5000", "5000.00"),
        ("我把钱包里的1500转出到银行卡", "1500.00"),  # the number right before the verb
        ("tixian 3 tian le, jin e 1000", "1000.00"),  # 金额 typed in pinyin
        ("11.25 提现 ¥6000", "6000.00"),  # a date before the verb is no amount
        ("since Monday, N20000. Urgent", "20000.00 NGN"),
        ("我琴日充值咗500蚊", "500.00 HKD"),  # the currency word wins over the verb
    ],
)
def test_amounts_without_a_currency_word(text: str, value: str) -> None:
    assert [f.value for f in amounts(text)][:1] == [value]


@pytest.mark.parametrize(
    "text",
    [
        "打了3次电话都没人接",
        "提现3天了还没到",
        "等了2个小时",
        "第3,4次",
        "5km",
        # two phone numbers run together (found by hypothesis), and a sum past any cents
        "１３８１２３４５６７８１３８１２３４５６７８1.2万元",
        "RM99999999999999999999999999999999",
    ],
)
def test_counts_are_not_amounts(text: str) -> None:
    assert amounts(text) == []


LABELS = ("流水号", "参考编号", "交易编号", "ref", "ref no", "utr", "session id", "transaction ref")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("流水号 6228 4801 2233 9910", "6228480122339910"),
        ("提款申請咗成個禮拜，參考編號 WD-2026-1120-3391", "WD202611203391"),
        ("交易編號：FPS88231045567", "FPS88231045567"),
        ("UTR no. 433012345678. Kindly do the needful.", "433012345678"),
        ("Ref no. 7E 2611 2198 5531. Thank you po", "7E261121985531"),
        ("Session ID: 000013261125093022000123456789", "000013261125093022000123456789"),
        ("Transaction ref: TX202611220045123", "TX202611220045123"),
        ("ref ABC12345 and more", "ABC12345"),
    ],
)
def test_a_reference_after_its_label_without_spaces_or_dashes(text: str, value: str) -> None:
    assert [f.value for f in labelled_codes(fold_width(text), LABELS)] == [value]


@pytest.mark.parametrize(
    "text",
    [
        "please send me a refund",  # "ref" only as a word
        "ref: please check",  # no code after the label
        "ref 12-34",  # too short for a reference
        "Reference: ABCDEFGH",  # no digits: a word, not a code
    ],
)
def test_no_reference(text: str) -> None:
    assert labelled_codes(fold_width(text), LABELS) == []


def _rules_with(tmp_path: Path, field: str) -> list[str]:
    (tmp_path / "other.toml").write_text(
        'id = "other"\ncatch_all = true\nsla_working_days = 7\n'
        'name = { zh = "其他", en = "Other" }\n'
        '[[fields]]\nid = "x"\nweight = 1\nlabel = { zh = "单号", en = "No." }\n'
        f'hint = {{ zh = "单号", en = "No." }}\n{field}\n',
        encoding="utf-8",
    )
    rules, errors = check_rules(tmp_path)
    assert (rules is None) == bool(errors)
    return [str(e) for e in errors]


def test_labels_alone_make_a_pattern_field(tmp_path: Path) -> None:
    assert _rules_with(tmp_path, 'kind = "pattern"\nlabels = ["流水号"]') == []
    rules = load_rules(tmp_path)
    field = rules.catch_all.fields[0]
    assert find_field(field, "", "流水号 6228 4801", (), FRIDAY) == "62284801"


def test_labels_belong_to_pattern_fields_only(tmp_path: Path) -> None:
    [error] = _rules_with(tmp_path, 'kind = "mobile"\nlabels = ["流水号"]')
    assert "labels: is not used by a field of kind 'mobile'" in error


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("手機 0912-345-678", "+886912345678"),  # Taiwan, national form with its 0
        ("My number 0917 123 4567", "+639171234567"),  # the Philippines before India
        ("電話 6123 4567", "+85261234567"),  # Hong Kong, after a label
        ("can't log in since last night. 0918 765 4321", "+639187654321"),
        ("My registered mobile 9876501234", "+919876501234"),
        ("手机13912345678，备用 0917 123 4567", "+8613912345678"),  # the mainland's first
    ],
)
def test_a_local_mobile_without_its_country_code(text: str, value: str) -> None:
    assert [f.value for f in mobiles(text)][:1] == [value]


@pytest.mark.parametrize(
    "text", ["ref 88002233", "Ref no 8812 3344 5566", "UTR no. 433012345678", "金额 20261125"]
)
def test_a_bare_run_of_digits_is_no_local_mobile(text: str) -> None:
    # 88002233 is a valid Singapore mobile: without a label or a leading 0 it is a reference
    assert mobiles(text) == []
