"""Scoring with the shipped rules: categories with confidence, merging over a thread, the
fixture mails with their expected values, and when a follow-up gets an answer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailticket.completeness.extract import find_field
from mailticket.completeness.rules import load_rules
from mailticket.completeness.score import ThreadMail, assess, check_report, classify
from mailticket.config_sections import BUILTIN_RULES
from mailticket.desk.decide import wants_information_reply
from mailticket.mail.parse import parse
from mailticket.model import Attachment, MessageKind, Ticket, TicketStatus
from mailticket.outbound.compose import SAMPLE_CONTEXT, Templates

PROJECT = Path(__file__).resolve().parents[2]
RULES = load_rules(BUILTIN_RULES)
FIXTURES = Path(__file__).parents[1] / "fixtures" / "rules"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def mail(
    text: str, *, subject: str = "", day: int = 24, mid: str = "", files: tuple = ()
) -> ThreadMail:
    return ThreadMail(
        mid or f"<{day}-{len(text)}@x>",
        datetime(2026, 11, day, 20, 0, tzinfo=SHANGHAI),
        subject,
        text,
        files,
    )


# --- categories -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("充值500元一直没到账，银行已经扣款", "topup_not_credited"),
        ("My top-up was not credited", "topup_not_credited"),
        ("提现三天了还在处理中", "withdrawal_delayed"),
        ("Withdrawal still processing after 5 days", "withdrawal_delayed"),
        ("账户被冻结了，无法登录", "account_locked"),
        ("I am locked out of my account", "account_locked"),
        ("ＴＯＰ－ＵＰ ＮＯＴ ＣＲＥＤＩＴＥＤ", "topup_not_credited"),
    ],
)
def test_clear_complaints_get_their_category(text: str, category: str) -> None:
    result = classify(RULES, text)
    assert (result.category.id, result.flag) == (category, "")
    assert 0.6 <= result.confidence <= 1


def test_nothing_recognisable_goes_to_the_catch_all_flagged() -> None:
    result = classify(RULES, "你好，在吗")
    assert (result.category.id, result.confidence) == ("other", 0.0)
    assert result.flag == "category unknown: no phrases"


def test_the_catch_all_s_own_topic_is_a_confident_choice_without_a_flag() -> None:
    result = classify(RULES, "建议你们的App增加夜间模式")  # 建议, a suggestion
    assert (result.category.id, result.flag) == ("other", "")
    assert result.confidence >= 0.6 and "建议" in result.hits


def test_a_passing_mention_of_a_withdrawal_in_a_fee_question_is_a_question() -> None:
    result = classify(RULES, "请问提现到银行卡的手续费是多少？")
    assert (result.category.id, result.flag) == ("other", "")
    assert result.evidence["withdrawal_delayed"] > 0  # seen, and outweighed by 手续费


def test_an_ambiguous_complaint_goes_to_the_catch_all_flagged_with_both() -> None:
    # 充值 3 + 不到账 2 against 提现 3 + 不到账 2; the opening's topic phrases count twice
    result = classify(RULES, "充值和提现都不到账")
    assert result.category.id == "other"
    assert result.flag.startswith("category unclear: ")
    assert "topup_not_credited 8" in result.flag and "withdrawal_delayed 8" in result.flag


def test_weak_evidence_is_not_enough() -> None:
    result = classify(RULES, "登录的时候有点慢")  # one weak phrase: 登录 (1)
    assert result.category.id == "other"
    assert result.flag == "category unclear: account_locked 1 (confidence 0.33)"


# --- a thread ---------------------------------------------------------------------------------


def test_values_merge_over_the_thread_and_a_correction_replaces_with_history() -> None:
    first = mail(
        "充值500元一直没到账，我的手机号13812345678", subject="充值不到账", day=24, mid="<a>"
    )
    second = mail("补充：交易单号 TX2026112415300001，昨天下午3点充的。", day=25, mid="<b>")
    third = mail("不好意思，金额写错了，应该是600元。", day=26, mid="<c>")

    after_one = assess(RULES, [first])
    assert after_one.category.id == "topup_not_credited"
    assert after_one.fields == {"account": "+8613812345678", "amount": "500.00"}
    assert after_one.missing[:2] == ("transaction_id", "time")
    assert not after_one.complete

    after_two = assess(RULES, [first, second])
    assert after_two.complete
    assert after_two.fields["time"] == "2026-11-24 15:00"  # 昨天 counts from the 25th
    assert after_two.received == ("transaction_id", "time")
    assert after_two.extracted == {
        "transaction_id": "TX2026112415300001",
        "time": "2026-11-24 15:00",
    }

    after_three = assess(RULES, [first, second, third])
    assert after_three.fields["amount"] == "600.00"
    assert after_three.received == ("amount",)
    changes = [(c.field_id, c.value, c.previous, c.message_id) for c in after_three.history]
    assert changes == [
        ("account", "+8613812345678", "", "<a>"),
        ("amount", "500.00", "", "<a>"),
        ("transaction_id", "TX2026112415300001", "", "<b>"),
        ("time", "2026-11-24 15:00", "", "<b>"),
        ("amount", "600.00", "500.00", "<c>"),
    ]


def test_a_value_given_before_the_category_was_clear_still_counts() -> None:
    vague = mail("你们的App有问题，我的账号 139 0000 1111，钱不见了", subject="投诉")
    clear = mail("是提现的问题，提现单号 WD20261120008812，3000元", day=25)
    assert assess(RULES, [vague]).category.id == "other"
    both = assess(RULES, [vague, clear])
    assert both.category.id == "withdrawal_delayed"
    assert both.fields["account"] == "+8613900001111"


def test_the_score_is_the_share_of_weights_present() -> None:
    screenshot = Attachment("s.png", "image/png", 10, "a" * 64)
    thread = [mail("充值不到账 ¥100 微信 13812345678", subject="充值", files=(screenshot,))]
    result = assess(RULES, thread)
    # account 20, amount 20, payment_method 10, screenshot 10 of 100
    assert (result.score, result.complete) == (60, False)
    assert result.missing == ("transaction_id", "time")


def test_explanation_says_why() -> None:
    line = assess(RULES, [mail("充值500元没到账", subject="充值")]).explanation()
    assert line.startswith("category topup_not_credited (confidence ")
    assert "充值" in line and "others: " in line and "missing account, transaction_id" in line


# --- the fixture mails and their expected values ----------------------------------------------


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml")), ids=lambda p: p.stem)
def test_fixture_mails(path: Path) -> None:
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    report = check_report(
        RULES, parse(path.read_bytes()), SHANGHAI, datetime(2026, 11, 25, tzinfo=UTC)
    )
    report.pop("explanation")
    evidence = report.pop("evidence")
    assert report == expected
    assert set(evidence["found_in"]) == set(report["fields"])
    assert path.stem.endswith("_complete") == report["complete"]
    assert path.stem.split("_")[1] in report["category"]


def test_check_report_without_rules_still_guards() -> None:
    raw = FIXTURES.joinpath("zh_withdrawal_incomplete.eml").read_bytes()
    report = check_report(None, parse(raw), SHANGHAI, datetime(2026, 11, 25, tzinfo=UTC))
    assert report["category"] is None and report["fields"] == {}
    assert report["flags"] == ["secrets removed: sms_code"]


# --- our own words never count as the customer's ----------------------------------------------


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("name", ["acknowledgement", "information_request"])
def test_our_replies_and_hints_yield_no_values(language: str, name: str) -> None:
    """A client may quote our reply without marking it: nothing in our words or the hints may
    look like a value (the deadline is a date, but one after any mail that quotes it)."""
    written = datetime(2026, 12, 1, 12, 0, tzinfo=SHANGHAI)
    for category in RULES.categories:
        details = [
            {"label": f.label.get(language), "hint": f.hint.get(language)} for f in category.fields
        ]
        text, _ = Templates().render(
            name,
            language,
            **SAMPLE_CONTEXT
            | {
                "category": category.name.get(language),
                "missing": details,
                "optional": details,
                "due": "-",
                "subject": "-",  # the customer's own words: values in it are theirs
            },
        )
        for field in category.fields:
            if field.kind not in ("description", "attachment"):
                assert find_field(field, "", text, (), written) is None, (category.id, field.id)


# --- when a follow-up is answered -------------------------------------------------------------

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SCORED = Ticket(
    id="OKW-2026-000001",
    status=TicketStatus.OPEN,
    customer="c@x.example",
    customer_name="",
    subject="充值不到账",
    language="zh",
    created=NOW,
    updated=NOW,
    category="topup_not_credited",
    missing=("transaction_id", "time", "screenshot"),
)


@pytest.mark.parametrize(
    ("before", "after", "kind", "answer"),
    [
        (SCORED, replace(SCORED, missing=("time", "screenshot")), MessageKind.FOLLOWUP, True),
        (
            SCORED,
            replace(SCORED, missing=("screenshot",), complete=True),
            MessageKind.FOLLOWUP,
            True,
        ),
        (SCORED, SCORED, MessageKind.FOLLOWUP, False),  # nothing new: no second list
        (replace(SCORED, complete=True), replace(SCORED, missing=()), MessageKind.FOLLOWUP, False),
        (SCORED, replace(SCORED, missing=()), MessageKind.AGENT, False),
        (SCORED, replace(SCORED, missing=()), MessageKind.AUTOMATED, False),
        (replace(SCORED, category=""), replace(SCORED, missing=()), MessageKind.FOLLOWUP, False),
    ],
)
def test_when_a_follow_up_is_answered(
    before: Ticket, after: Ticket, kind: MessageKind, answer: bool
) -> None:
    assert wants_information_reply(before, after, kind) is answer


# --- `mailticket check`: the same scoring, for admins ------------------------------------------


def run_check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "mailticket.toml"
    config.write_text(
        f'[desk]\naddress = "d@okwallet.example"\n[storage]\npath = "store"\n'
        f'[rules]\npath = "{BUILTIN_RULES}"\n',
        encoding="utf-8",
    )
    return subprocess.run(
        [sys.executable, "-m", "mailticket", "--config", str(config), "check", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT,
    )


def test_check_one_mail_adds_the_rules_keys(tmp_path: Path) -> None:
    done = run_check(tmp_path, "--json", str(FIXTURES / "en_topup_incomplete.eml"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {"from", "subject", "language", "text", "attachments"} <= set(report)
    assert report["category"] == "topup_not_credited"
    assert (report["score"], report["complete"]) == (45, False)
    assert report["fields"] == {
        "amount": "1200.50",
        "time": "2026-11-24",
        "payment_method": "Alipay",
    }
    assert report["missing"] == ["account", "transaction_id", "screenshot"]

    human = run_check(tmp_path, str(FIXTURES / "zh_topup_complete.eml")).stdout
    assert "category    topup_not_credited (confidence 0.9)" in human
    assert "score       100/100, complete" in human


def test_check_a_folder_prints_a_line_per_mail_and_a_summary(tmp_path: Path) -> None:
    (tmp_path / "not-a-mail.eml").write_bytes(b"\x00\x01")
    done = run_check(tmp_path, "--json", str(FIXTURES), str(tmp_path / "not-a-mail.eml"))
    assert done.returncode == 65  # one file was no mail
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [Path(line["file"]).name for line in lines] == [
        "en_account_locked_complete.eml",
        "en_topup_incomplete.eml",
        "zh_topup_complete.eml",
        "zh_withdrawal_incomplete.eml",
        "not-a-mail.eml",
    ]
    assert [line.get("complete") for line in lines] == [True, False, True, False, None]
    assert "error" in lines[-1]
    assert "5 mails, 1 not readable; by category:" in done.stderr
    assert "topup_not_credited           2  (1 complete)" in done.stderr


def test_check_with_edited_rules(tmp_path: Path) -> None:
    """Admins try an edit on real mail before deploying it: here the account becomes optional."""
    edited = tmp_path / "edited"
    shutil.copytree(BUILTIN_RULES, edited)
    topup = edited / "topup_not_credited.toml"
    text = topup.read_text(encoding="utf-8")
    old = 'id = "account"\nkind = "mobile"\nrequired = true'
    topup.write_text(text.replace(old, 'id = "account"\nkind = "mobile"'), encoding="utf-8")
    incomplete = str(FIXTURES / "en_topup_incomplete.eml")

    before = run_check(tmp_path, incomplete, incomplete).stdout
    after = run_check(tmp_path, "--rules", str(edited), incomplete, incomplete).stdout
    assert "score 45  missing account, transaction_id, screenshot" in before
    assert "score 45  missing transaction_id, account, screenshot" in after


def test_check_shows_the_evidence_and_where_each_detail_was_found() -> None:
    raw = (
        "From: a@b.example\nTo: desk@ok.example\nSubject: 充值没到账 ¥100\n"
        "Message-ID: <e@b>\nDate: Wed, 25 Nov 2026 10:00:00 +0800\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "我的手机号13812345678，支付密码是 907315，昨天下午3点充的\n"
    ).encode()
    report = check_report(RULES, parse(raw), SHANGHAI, datetime(2026, 11, 25, tzinfo=UTC))
    evidence = report["evidence"]
    assert "充值没到账" in evidence["phrases"]
    assert evidence["weights"]["topup_not_credited"] > evidence["weights"]["withdrawal_delayed"]
    assert evidence["found_in"] == {"amount": "subject", "account": "text", "time": "text"}
    assert "907315" not in json.dumps(report, ensure_ascii=False)
