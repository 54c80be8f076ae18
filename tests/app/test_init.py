"""`mailticket init` and the installed wheel: an admin starts from files the package carries."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from mailticket import config as config_module
from mailticket.app.cli import main
from mailticket.app.init import SERVICE_STORAGE, unit_text
from mailticket.config_sections import BUILTIN_RULES

PROJECT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_a_private_desk_that_checks_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "desk"
    old = os.umask(0o022)  # a usual shell: init must not rely on it
    try:
        assert main(["init", str(folder), "--json"]) == 0
    finally:
        os.umask(old)
    written = json.loads(capsys.readouterr().out)["written"]
    config_file = folder / "mailticket.toml"
    rules = sorted(p.name for p in (folder / "rules").iterdir())
    assert rules == sorted(p.name for p in BUILTIN_RULES.glob("*.toml")) and rules
    for entry in written:
        assert mode(Path(entry["path"])) == int(entry["mode"], 8)
    assert {mode(p) for p in (folder, folder / "store", folder / "rules")} == {0o700}
    assert {mode(p) for p in folder.rglob("*") if p.is_file()} == {0o600}
    config = config_module.load(config_file, environ={})
    assert config.storage_path == folder / "store" and config.storage_path.is_absolute()
    assert config.rules_path == folder / "rules"
    # The passwords the starter config names are not set yet: `check` says so (as `run` will).
    assert main(["--config", str(config_file), "check"]) == 78
    out = capsys.readouterr().out
    assert "secret error: environment: MAILTICKET_IMAP_PASSWORD (from imap.password_env)" in out
    assert "MAILTICKET_SMTP_PASSWORD (from smtp.password_env)" in out
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MAILTICKET_IMAP_PASSWORD", "imap secret")
        env.setenv("MAILTICKET_SMTP_PASSWORD", "smtp secret")
        assert main(["--config", str(config_file), "check"]) == 0
    assert "configuration OK" in capsys.readouterr().out

    config_file.write_text(config_file.read_text() + "# edited\n")
    assert main(["init", str(folder)]) == 64
    assert "exists: nothing was written" in capsys.readouterr().err
    assert config_file.read_text().endswith("# edited\n")


def test_commands_that_write_the_store_make_it_private_whatever_the_umask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mailticket.toml"
    path.write_text('[desk]\naddress = "d@x.example"\n[storage]\npath = "s"\n', encoding="utf-8")
    old = os.umask(0o022)
    try:
        assert main(["--config", str(path), "tickets", "list"]) == 0  # creates the store
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(old)
    store = tmp_path / "s"
    entries = [store, *store.rglob("*")]
    assert any(p.is_file() for p in entries)
    assert {mode(p) for p in entries if p.is_dir()} == {0o700}
    assert {mode(p) for p in entries if p.is_file()} == {0o600}


def test_rules_absent_are_the_built_in_ones_and_empty_are_none(tmp_path: Path) -> None:
    path = tmp_path / "mailticket.toml"
    path.write_text('[desk]\naddress = "d@x.example"\n', encoding="utf-8")
    assert config_module.load(path, environ={}).rules_path == BUILTIN_RULES
    path.write_text('[desk]\naddress = "d@x.example"\n[rules]\npath = ""\n', encoding="utf-8")
    assert config_module.load(path, environ={}).rules_path is None


def test_check_file_without_a_config_scores_with_the_built_in_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./mailticket.toml
    monkeypatch.delenv("MAILTICKET_CONFIG", raising=False)
    sample = PROJECT / "mailticket" / "app" / "samples" / "01_zh_topup.eml"
    assert main(["check", str(sample), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["category"] == "topup_not_credited"


def test_the_unit_runs_this_config_and_may_write_a_store_outside_its_state_directory() -> None:
    program, config = Path("/opt/mt/bin/mailticket"), Path("/etc/mt/mailticket.toml")
    service = unit_text(program, config, SERVICE_STORAGE)
    assert f"ExecStart={program} --config {config} run" in service
    assert "ReadWritePaths" not in service
    for line in ("User=mailticket", "StateDirectory=mailticket", "UMask=0077"):
        assert line in service.splitlines()
    assert "ReadWritePaths=/srv/desk" in unit_text(program, config, Path("/srv/desk"))


@pytest.mark.integration
def test_an_installed_wheel_finds_its_rules_and_config_template(tmp_path: Path) -> None:
    """Build the wheel, install it into a new venv (dependencies from this one's site-packages,
    no network) and run `init` and `check` from outside the repository."""
    wheels, venv, work = tmp_path / "wheels", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = [*pip, "wheel", str(PROJECT), "--no-deps", "--no-build-isolation", "-w", str(wheels)]
    subprocess.run(build, check=True, cwd=work, capture_output=True)
    [wheel] = wheels.glob("mailticket-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = target / "site-packages"
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    # The new venv's own python runs pip (found through deps.pth), so the script's shebang is
    # the new venv's; --ignore-installed leaves this checkout's editable install alone.
    install = [str(venv / "bin" / "python"), *pip[1:], "install", "--no-deps", "--no-index"]
    subprocess.run([*install, "--ignore-installed", str(wheel)], check=True, capture_output=True)
    program = venv / "bin" / "mailticket"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILTICKET_", "PYTHON"))}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(program), *args], cwd=work, env=env, capture_output=True, text=True, check=False
        )

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import mailticket; print(mailticket.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(site)), where.stdout  # the wheel, not this checkout
    done = run("init", str(work / "desk"))
    assert done.returncode == 0, done.stderr
    assert (
        f"ExecStart={program.resolve()} --config" in (work / "desk/mailticket.service").read_text()
    )
    env |= {"MAILTICKET_IMAP_PASSWORD": "i", "MAILTICKET_SMTP_PASSWORD": "s"}  # as it says
    done = run("--config", str(work / "desk" / "mailticket.toml"), "check")
    assert done.returncode == 0, done.stderr
    assert "configuration OK" in done.stdout and str(work / "desk" / "rules") in done.stdout
    done = run("rules", "check", "--json")  # no config: the rules inside the wheel
    assert done.returncode == 0, done.stdout + done.stderr
    files = {c["file"] for c in json.loads(done.stdout)["categories"]}
    assert files and all(f.startswith(str(site)) for f in files), files
