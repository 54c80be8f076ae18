"""`mailticket report` as a supervisor gets it: table, JSON, CSV for Excel, and the HTML page
opened in a real headless Chromium."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from report_data import CONFIG, NOW, Clock, build_store
from servers import missing_tool

from mailticket import config as config_module
from mailticket.app.cli import main
from mailticket.desk.context import Desk

SPAN = ["--from", "2026-09-28", "--to", "2026-10-31", "--now", NOW.isoformat()]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def config_path(tmp_path: Path) -> str:
    path = tmp_path / "mailticket.toml"
    path.write_text(CONFIG, encoding="utf-8")
    clock = Clock(NOW)
    build_store(Desk.open(config_module.load(path, environ={}), clock=clock), clock)
    return str(path)


def report_json(config_path: str, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["--config", config_path, "report", *SPAN, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_and_table_agree(config_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    figures = report_json(config_path, capsys)
    assert figures["totals"]["received"] == 5
    assert main(["--config", config_path, "report", *SPAN]) == 0
    text = capsys.readouterr().out
    assert re.search(r"收到 / Received\s+5$", text, re.M)
    assert re.search(r"时限达标率 / SLA compliance\s+50\.0%$", text, re.M)
    assert "积压 / Backlog now: 2 (超期 / overdue 1)" in text


def test_csv_has_a_bom_and_one_row_per_ticket(
    config_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.csv"
    assert main(["--config", config_path, "report", *SPAN, "--csv", str(out)]) == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert [r["id"][-1] for r in rows] == ["1", "2", "3", "4", "5"]
    first = rows[0]
    assert (first["working_days"], first["within_deadline"]) == (str(round(22 / 9, 2)), "True")
    assert first["received"] == "2026-09-30T17:00:00+08:00"


def test_a_period_needs_a_real_quarter(
    config_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", config_path, "report", "--quarter", "2026Q5"]) != 0
    assert "2026Q4" in capsys.readouterr().err


def test_html_page_renders_charts_and_the_json_totals(
    config_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path(CHROMIUM).exists():
        missing_tool("chromium not installed: the page test needs `apt-get install chromium`")
    figures = report_json(config_path, capsys)
    page = tmp_path / "report.html"
    assert main(["--config", config_path, "report", *SPAN, "--html", str(page)]) == 0
    source = page.read_text(encoding="utf-8")
    assert "<b>" not in source and "充值没到账" not in source  # no subjects, nothing unescaped
    assert not re.search(r"(src|href)=\"https?:", source)  # opens offline
    chromium = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*chromium, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    shown = dict(re.findall(r'data-key="(\w+)">([^<]*)<', dom))
    totals = figures["totals"]
    for key in ("received", "resolved", "breached", "reopened", "quarantined"):
        assert shown[key] == str(totals[key]), key
    assert shown["sla_compliance"] == "50.0%"
    assert shown["backlog"] == str(figures["backlog"]["total"])
    assert dom.count("<svg") == 4
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*chromium, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        check=True,
        timeout=120,
    )
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # text, lines and filled bars, not a blank page
    # matplotlib's first bar colour (tab:blue) is on the screen: a chart was drawn.
    assert any(abs(r - 31) + abs(g - 119) + abs(b - 180) < 30 for _, (r, g, b) in colours)
