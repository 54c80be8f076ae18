from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailticket import config as config_module
from mailticket.errors import ConfigError
from mailticket.toml_lines import line_of

GOOD = """\
[desk]
address = "complaints@okwallet.example"
ticket_prefix = "OKW"

[imap]
host = "imap.example.com"
port = 993
username = "desk"
password_env = "DESK_IMAP_PASSWORD"

[agents]
addresses = ["alice@okwallet.example"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailticket.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads_with_defaults(tmp_path: Path) -> None:
    config = config_module.load(write(tmp_path, GOOD), environ={})
    assert config.desk.ticket_prefix == "OKW"
    assert config.imap.port == 993
    assert config.imap.folder == "INBOX"
    assert config.smtp.security == "starttls"
    assert config.is_agent("Alice@okwallet.example")
    assert config.storage_path == tmp_path / "var/mailticket"


def test_environment_wins_over_file(tmp_path: Path) -> None:
    environ = {
        "MAILTICKET_IMAP_PORT": "1143",
        "MAILTICKET_IMAP_IDLE": "false",
        "MAILTICKET_AGENTS_ADDRESSES": "a@x.example, b@x.example",
        "MAILTICKET_SMTP_HOST": "relay.internal",
    }
    config = config_module.load(write(tmp_path, GOOD), environ=environ)
    assert config.imap.port == 1143
    assert config.imap.idle is False
    assert config.agents.addresses == ["a@x.example", "b@x.example"]
    assert config.smtp.host == "relay.internal"


def test_environment_alone_configures_a_container(tmp_path: Path) -> None:
    environ = {"MAILTICKET_DESK_ADDRESS": "desk@example.com"}
    config = config_module.load(tmp_path / "absent.toml", required=False, environ=environ)
    assert config.desk.address == "desk@example.com"


def test_bad_environment_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MAILTICKET_IMAP_PORT: expected an integer"):
        config_module.load(write(tmp_path, GOOD), environ={"MAILTICKET_IMAP_PORT": "imap"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("port = 993", 'port = "993"'),
            r"mailticket.toml:7: imap.port: must be an integer",
        ),
        (GOOD + "\n[imap2]\nx = 1\n", r"mailticket.toml:14: \[imap2\]: unknown section"),
        (
            GOOD.replace("username =", "user_name ="),
            r"mailticket.toml:8: imap.user_name: unknown key",
        ),
        (GOOD.replace('ticket_prefix = "OKW"', "ticket_prefix = 'okw'"), r":3: desk.ticket_prefix"),
        (GOOD.replace("port = 993", "port = "), r"mailticket.toml:7: invalid TOML"),
        ("[imap]\nhost = 'x'\n", r"missing section \[desk\]"),
        (GOOD.replace('"complaints@okwallet.example"', '"nobody"'), r":2: desk.address"),
    ],
)
def test_bad_file_names_file_key_and_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        config_module.load(write(tmp_path, text), environ={})


def test_secrets_from_environment_and_file(tmp_path: Path) -> None:
    config = config_module.load(write(tmp_path, GOOD), environ={})
    with pytest.raises(ConfigError, match="DESK_IMAP_PASSWORD is not set"):
        config.password("imap")
    (tmp_path / "secret").write_text("s3cret\n", encoding="utf-8")
    text = GOOD.replace('password_env = "DESK_IMAP_PASSWORD"', 'password_file = "secret"')
    assert config_module.load(write(tmp_path, text), environ={}).password("imap") == "s3cret"


def test_cli_prints_one_line_and_exits_78(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("port = 993", "port = true"))
    done = subprocess.run(
        [sys.executable, "-m", "mailticket", "--config", str(path), "tickets", "list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 78
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [f"mailticket: error: {path}:7: imap.port: must be an integer, not bool"]


def test_example_config_loads_and_documents_every_key() -> None:
    path = Path(__file__).resolve().parents[1] / "mailticket" / "config.example.toml"
    config = config_module.load(path, environ={})
    assert config.desk.ticket_prefix == "OKW"
    text = path.read_text(encoding="utf-8")
    for section, section_type in config_module.SECTIONS.items():
        assert f"[{section}]" in text
        for key in section_type.__dataclass_fields__:
            assert line_of(text, section, key) or f"# {key} =" in text, (
                f"{section}.{key} is not documented in config.example.toml"
            )


def test_agents_by_address_and_by_domain_but_never_the_desk(tmp_path: Path) -> None:
    text = GOOD.replace(
        'addresses = ["alice@okwallet.example"]',
        'addresses = ["alice@partner.example"]\ndomains = ["OKWallet.example"]',
    )
    config = config_module.load(write(tmp_path, text), environ={})
    assert config.is_agent("Alice@partner.example")
    assert config.is_agent("bob@okwallet.example")
    assert not config.is_agent("bob@cs.okwallet.example")  # the domain exactly
    assert not config.is_agent("carol@partner.example")
    assert not config.is_agent("Complaints@okwallet.example")  # our own mail coming back
    assert not config.is_agent("")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('domains = ["@okwallet.example"]', r":\d+: agents.domains: '@okwallet.example' is not"),
        ('team_address = "support"', r":\d+: agents.team_address: 'support' is not an e-mail"),
        ('supervisor = "boss at x"', r":\d+: agents.supervisor: 'boss at x' is not an e-mail"),
        ("reopen_days = -1", r":\d+: agents.reopen_days: must be 0 or more"),
    ],
)
def test_bad_agents_settings(tmp_path: Path, line: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        config_module.load(write(tmp_path, f"{GOOD}{line}\n"), environ={})


def test_teams_by_category(tmp_path: Path) -> None:
    text = GOOD.replace(
        '[agents]\naddresses = ["alice@okwallet.example"]',
        '[agents]\naddresses = ["alice@okwallet.example"]\nteam_address = "all@okwallet.example"\n'
        'teams = ["withdrawal_delayed=payouts@okwallet.example"]',
    )
    config = config_module.load(write(tmp_path, text), environ={})
    assert config.team_for("withdrawal_delayed") == "payouts@okwallet.example"
    assert config.team_for("topup_not_credited") == "all@okwallet.example"
    broken = text.replace("withdrawal_delayed=payouts", "payouts")
    with pytest.raises(ConfigError, match=r"agents\.teams"):
        config_module.load(write(tmp_path, broken), environ={})


def test_an_old_archive_setting_is_ignored_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`[storage] archive_after_days` went with the old store: an old config still loads."""
    path = write(tmp_path, GOOD + '\n[storage]\npath = "var"\narchive_after_days = 90\n')
    with caplog.at_level("WARNING", logger="mailticket.config"):
        loaded = config_module.load(path, environ={})
    assert loaded.storage.path == "var"
    line = line_of(path.read_text(encoding="utf-8"), "storage", "archive_after_days")
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}:{line}: storage.archive_after_days: ignored since the SQL store: closed "
        "tickets need no archive / 已废弃，忽略：SQL 存储无需归档已关闭工单"
    ]
    unknown = write(tmp_path, GOOD + "\n[storage]\narchive_after_weeks = 9\n")
    with pytest.raises(ConfigError, match="unknown key"):  # other unknown keys still fail
        config_module.load(unknown, environ={})


def test_the_cli_runs_with_an_old_archive_setting_and_says_so_once(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "\n[storage]\narchive_after_days = 90\n")
    done = subprocess.run(
        [sys.executable, "-m", "mailticket", "--config", str(path), "tickets", "list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "archive_after_days" in line]
    assert len(warned) == 1 and "WARNING" in warned[0] and "ignored" in warned[0]
