"""The benchmarks in bench/ run end to end with tiny sizes, so they cannot rot unnoticed.

Only that each completes and prints its table with numeric figures is checked: the machine is
shared, and no test here may pass or fail on speed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
BENCH = PROJECT / "bench"
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402

NUMBER = r"(\d+(?:\.\d+)?)"


def bench(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def figure(output: str, name: str) -> list[float]:
    """The numbers on the table line that starts with `name`."""
    for line in output.splitlines():
        if line.startswith(name):
            return [float(n) for n in re.findall(NUMBER, line[len(name) :])]
    raise AssertionError(f"no line {name!r} in:\n{output}")


def trailing_json(output: str) -> dict:
    start = output.index("\n{")
    return json.loads(output[start:])


def test_generator_is_reproducible_and_mixed() -> None:
    first = list(generate.corpus(120, seed=7))
    assert [m.raw for m in first] == list(generate.mails(120, seed=7))
    assert [m.raw for m in generate.corpus(5, seed=8)] != [m.raw for m in first[:5]]
    assert {"complaint", "reply"} <= {m.kind for m in first}
    assert {"utf-8", "gb2312", "big5"} <= {m.charset for m in first}
    ids = {m.message_id for m in first}
    replies = [m for m in first if m.kind == "reply"]
    assert all(any(i.encode() in m.raw for i in ids - {m.message_id}) for m in replies)


def test_generate_command_writes_eml_files(tmp_path: Path) -> None:
    output = bench("generate.py", "--count", "15", "--out", str(tmp_path), "--stats")
    assert len(list(tmp_path.glob("*.eml"))) == 15
    assert "median" in output


@pytest.mark.integration
@pytest.mark.usefixtures("mail_servers")
def test_throughput_run_prints_ours_floor_and_ratio() -> None:
    output = bench("run.py", "--mails", "12", "--stored", "30", "--json")
    ours, floor = figure(output, "mails/s end to end")
    assert ours > 0 and floor > 0
    assert figure(output, "CPU s per mail")[0] > 0
    assert figure(output, "peak RSS MB")[0] > 0
    assert figure(output, "ratio ours/floor")[0] > 0
    assert figure(output, "parse")[0] >= 0
    assert figure(output, "SMTP send")[0] >= 0
    figures = trailing_json(output)
    assert figures["ours"][0]["mails"] == 12


@pytest.mark.integration
@pytest.mark.usefixtures("mail_servers")
def test_growth_run_prints_both_sizes_ratio_and_cli_times() -> None:
    output = bench(
        "run.py", "--growth", "--mails", "8", "--growth-sizes", "20,60", "--cli-repeat", "1"
    )
    small, large, ratio, *_ = figure(output, "mails/s end to end")
    assert small > 0 and large > 0 and ratio > 0
    assert figure(output, "  tickets list --status open")[0] > 0
    assert "SLA sweep at 60 stored" in output


@pytest.mark.integration
@pytest.mark.usefixtures("mail_servers", "postgres")
def test_ha_prints_the_failover_run() -> None:
    output = bench(
        "ha.py", "--mails", "4", "--setups", "leader killed", "--timeout", "200", "--json"
    )
    rate, seconds, tickets, sent = figure(output, "leader killed")
    assert rate > 0 and seconds > 0 and tickets >= 1 and sent >= tickets
    assert trailing_json(output)["runs"][0]["mails"] == 4


@pytest.mark.integration
@pytest.mark.usefixtures("mail_servers")
def test_latency_prints_percentiles() -> None:
    output = bench("latency.py", "--mails", "1", "--gap", "0.5")
    for name in ("p50", "p90", "p99"):
        assert figure(output, name)[0] > 0


def test_replies_prints_the_trimmed_share() -> None:
    out = bench("replies.py")
    total, right, share = figure(out, "replies")
    assert total >= 30
    assert 0 <= right <= total
    assert share == pytest.approx(100 * right / total, abs=0.1)


def test_report_bench_times_the_commands_at_n_tickets() -> None:
    """`bench/report.py`: every command runs on the pre-filled SQL store and is timed."""
    output = bench("report.py", "--stored", "120", "--repeat", "1", "--json")
    figures = trailing_json(output)
    assert figures["stored"] == 120 and figures["engine"] == "sqlite"
    names = list(figures["commands"])
    assert any(n.startswith("report --month") for n in names)
    assert "tickets list" in names and any(n.startswith("tickets show") for n in names)
    for name in names:
        assert figures["commands"][name]["seconds"] > 0
        assert figures["commands"][name]["peak_rss_mb"] > 0
    assert figures["commands"]["tickets list"]["output_lines"] == 52  # header, 50, cursor
