"""Latency from delivery to acknowledgement with the real daemon on IMAP IDLE.

    .venv/bin/python bench/latency.py --mails 100 [--json]

Starts the tests' private Dovecot and SMTP sink, runs `mailticket --config ... run` as a child
process (IDLE on), then delivers new complaints one at a time by APPEND and measures, for each,
the time from just before the APPEND to the acknowledgement's arrival at the sink; the next mail
goes in only after that (and a short `--gap`, so it arrives while the daemon waits in IDLE, as an
independent customer's mail would). Dovecot holds IDLE notifications for about 0.5 s: that is
the floor under every figure here.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import imaplib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import generate


def complaints(count: int, seed: int) -> list[generate.GeneratedMail]:
    """New complaints from distinct senders: each must earn an acknowledgement, and the storm
    guard (a few automatic replies per sender and hour) must never hold one back."""
    chosen: list[generate.GeneratedMail] = []
    senders: set[str] = set()
    for mail in generate.corpus(count * 4 + 20, seed):
        if mail.kind == "complaint" and mail.sender not in senders:
            senders.add(mail.sender)
            chosen.append(mail)
            if len(chosen) == count:
                return chosen
    raise RuntimeError(f"the corpus has fewer than {count} usable complaints")


def _in_reply_to(data: bytes) -> tuple[str, bool]:
    """The Message-ID the acknowledgement answers, and whether it was sent as an RFC 2047
    encoded word (which mail clients do not decode in this header: threading breaks)."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(data)
    raw = str(headers.get("In-Reply-To", ""))
    encoded = b"In-Reply-To: =?" in data
    return "".join(str(raw).split()), encoded


def measure(args: argparse.Namespace) -> dict[str, Any]:
    mails = complaints(args.mails + 1, args.seed)  # the first one warms the daemon up
    with common.servers(keep=args.keep) as (work, dovecot, sink):
        account = common.new_account(dovecot, "latency")
        config = common.desk_config(work / "desk", account, sink, imap_extra="idle = true")
        log_path = work / "daemon.log"
        with log_path.open("wb") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "mailticket", "--config", str(config), "run"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=common.PROJECT,
                # The tests' config polls every second; a desk runs with the default (60 s),
                # and the environment wins over the file.
                env={**os.environ, "MAILTICKET_IMAP_POLL_INTERVAL": str(args.poll_interval)},
            )
        client = imaplib.IMAP4(account.host, account.port, timeout=30)
        try:
            client.login(account.username, account.password)
            latencies, appends = [], []
            encoded_words = 0
            others: list[str] = []  # agent notices and the like: not what we wait for
            seen = 0
            for number, mail in enumerate(mails, start=1):
                started = time.perf_counter()
                typ, data = client.append('"INBOX"', None, None, mail.raw)
                appended = time.perf_counter()
                if typ != "OK":
                    raise RuntimeError(f"APPEND failed: {data!r}")
                deadline = started + (args.timeout if number > 1 else 60)
                while True:
                    try:
                        received = sink.wait_for(seen + 1, timeout=deadline - time.perf_counter())
                    except AssertionError:
                        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
                        raise RuntimeError(
                            f"no acknowledgement for mail {number}:\n{tail}"
                        ) from None
                    arrived = time.perf_counter()
                    found = False
                    for message in received[seen:]:
                        seen += 1
                        answered, encoded = _in_reply_to(message.data)
                        if answered == mail.message_id:
                            found = True
                            encoded_words += encoded
                        else:
                            others.append(", ".join(message.rcpt_tos))
                    if found:
                        break
                if number > 1:
                    latencies.append(arrived - started)
                    appends.append(appended - started)
                time.sleep(args.gap)
        finally:
            try:
                client.logout()
            except (imaplib.IMAP4.error, OSError):
                client.shutdown()
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
    return {
        "machine": common.machine(),
        "mails": len(latencies),
        "seed": args.seed,
        "gap_s": args.gap,
        "poll_interval_s": args.poll_interval,
        "p50_s": common.percentile(latencies, 0.50),
        "p90_s": common.percentile(latencies, 0.90),
        "p99_s": common.percentile(latencies, 0.99),
        "min_s": min(latencies),
        "max_s": max(latencies),
        "mean_s": statistics.fmean(latencies),
        "append_p50_s": common.percentile(appends, 0.50),
        "in_reply_to_encoded_words": encoded_words,
        "other_mails": len(others),
        "other_recipients": sorted(set(others)),
        "latencies_s": latencies,
    }


def print_table(figures: dict[str, Any]) -> None:
    box = figures["machine"]
    lines = [
        "mailticket bench: latency, APPEND -> acknowledgement at the SMTP sink "
        "(`mailticket run`, IMAP IDLE)",
        f"{figures['mails']} mails one at a time (seed {figures['seed']}, {figures['gap_s']} s "
        f"after each ack, poll_interval {figures['poll_interval_s']} s) · {box['date']} · "
        f"{box['cpus']} CPUs · Python {box['python']}",
        "",
        f"{'figure':<34}{'seconds':>10}",
    ]
    for key, name in (
        ("p50_s", "p50"),
        ("p90_s", "p90"),
        ("p99_s", "p99"),
        ("min_s", "min"),
        ("max_s", "max"),
        ("mean_s", "mean"),
        ("append_p50_s", "APPEND itself, p50"),
    ):
        lines.append(f"{name:<34}{figures[key]:>10.3f}")
    lines.append("floor: Dovecot batches IDLE notifications for ~0.5 s after delivery")
    if figures["other_mails"]:
        lines.append(
            f"other mails at the sink meanwhile: {figures['other_mails']} "
            f"(to {', '.join(figures['other_recipients'][:3])})"
        )
    if figures["in_reply_to_encoded_words"]:
        lines.append(
            f"check: {figures['in_reply_to_encoded_words']} of {figures['mails'] + 1} "
            "acknowledgements carry In-Reply-To as an RFC 2047 encoded word (long Message-IDs "
            "folded by the SMTP policy): clients will not thread them"
        )
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="mailticket delivery-to-acknowledgement latency")
    parser.add_argument("--mails", type=int, default=100, help="measured mails (default 100)")
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument("--gap", type=float, default=0.3, help="pause after each ack, seconds")
    parser.add_argument("--timeout", type=float, default=90, help="seconds to wait for an ack")
    parser.add_argument(
        "--poll-interval", type=int, default=60, help="[imap] poll_interval of the daemon"
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    figures = measure(args)
    print_table(figures)
    if args.json:
        print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
