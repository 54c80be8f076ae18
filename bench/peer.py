"""django-helpdesk's `get_email` on the same Dovecot mailbox, for `run.py --peer django-helpdesk`.

Why a separate virtual environment (`bench/.peer/venv`, ignored by git): django-helpdesk brings
Django and its own dependencies, which have no business in mailticket's environment; its code is
installed from PyPI, never vendored. Its Django project (SQLite database, SMTP to our sink) is
written into the benchmark's temporary work folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path
from typing import Any

PEER = Path(__file__).resolve().parent / ".peer"
PYTHON = PEER / "venv" / "bin" / "python"
PACKAGE = "django-helpdesk==2.6.1"

SETTINGS = """\
SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
SITE_ID = 1
INSTALLED_APPS = [
    "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
    "django.contrib.messages", "django.contrib.sites", "django.contrib.humanize",
    "rest_framework", "helpdesk",
]
HELPDESK_TEAMS_MODE_ENABLED = False  # teams need pinax-teams; mail intake does not
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
MEDIA_ROOT = {media!r}
ROOT_URLCONF = "peer_urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = {smtp_host!r}
EMAIL_PORT = {smtp_port}
DEFAULT_FROM_EMAIL = "complaints@okwallet.example"
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [],
              "APP_DIRS": True, "OPTIONS": {{"context_processors": []}}}}]
LOGGING = {{"version": 1, "disable_existing_loggers": False}}
"""

URLS = """\
from django.urls import include, path
urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
"""

# Runs inside the peer's Python: one queue on our Dovecot mailbox, then `get_email`, timed.
WORKER = """\
import json, resource, sys, time
import django
django.setup()
from django.core.management import call_command
from helpdesk.models import Queue, Ticket
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
Queue.objects.all().delete()
Queue.objects.create(
    title="Complaints", slug="complaints", email_address="complaints@okwallet.example",
    allow_email_submission=True, email_box_type="imap", email_box_host=host,
    email_box_port=port, email_box_ssl=False, email_box_user=user, email_box_pass=password,
    email_box_imap_folder="INBOX", email_box_interval=0, logging_type="none",
)
before = Ticket.objects.count()
usage = resource.getrusage(resource.RUSAGE_SELF)
started = time.perf_counter()
call_command("get_email", quiet=True)
wall = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    "wall_s": wall,
    "cpu_s": after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime,
    "peak_rss_mb": after.ru_maxrss / 1024,
    "tickets": Ticket.objects.count() - before,
}))
"""


def ensure_installed() -> None:
    """Create the peer's virtual environment and install django-helpdesk once."""
    if PYTHON.exists():
        return
    PEER.mkdir(exist_ok=True)
    venv.EnvBuilder(with_pip=True).create(PEER / "venv")
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check", PACKAGE],
        check=True,
    )


def run_get_email(
    folder: Path, account: Any, smtp: tuple[str, int], mails: int, log: Path
) -> dict[str, Any]:
    """Set up a Django project in `folder` (migrated before the clock), then time `get_email`
    over the mailbox of `account`, which already holds the corpus."""
    ensure_installed()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "media").mkdir(exist_ok=True)
    (folder / "peer_settings.py").write_text(
        SETTINGS.format(
            db=str(folder / "db.sqlite3"),
            media=str(folder / "media"),
            smtp_host=smtp[0],
            smtp_port=smtp[1],
        ),
        encoding="utf-8",
    )
    (folder / "peer_urls.py").write_text(URLS, encoding="utf-8")
    (folder / "worker.py").write_text(WORKER, encoding="utf-8")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "peer_settings",
        "PYTHONPATH": str(folder),
    }
    with log.open("ab") as errors:
        subprocess.run(
            [str(PYTHON), "-m", "django", "migrate", "-v", "0"],
            check=True,
            env=env,
            cwd=folder,
            stdout=errors,
            stderr=errors,
        )
        done = subprocess.run(
            [str(PYTHON), "worker.py", account.host, str(account.port), account.username,
             account.password],
            env=env,
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=errors,
            check=False,
        )  # fmt: skip
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"django-helpdesk get_email failed ({done.returncode}):\n{tail}")
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    result["mails"] = mails
    result["mails_per_s"] = mails / result["wall_s"]
    return result


if __name__ == "__main__":
    ensure_installed()
    print(textwrap.dedent(f"django-helpdesk installed in {PEER / 'venv'}"))
    sys.exit(0)
