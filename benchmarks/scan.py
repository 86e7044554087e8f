"""Scan throughput: owlmigrate's crontab parser against python-crontab on the same input.

The input is built from the example hosts' crontabs (user spools and an /etc/cron.d file,
with env lines, comments, macros, % stdin and CRON_TZ) repeated to LINES lines, split into
files of 100,000 lines. Both parsers read the same bytes in the same run. python-crontab
parses a prefix of the input by default (it runs at a few thousand lines a second, so the full
million would take minutes); ``--full`` gives it every line. The figure compared is lines per
second. A second figure is the whole ``scan`` (discovery, analysis, risks) over the example
trees, in jobs per second.

Run: .venv/bin/python benchmarks/scan.py [--lines N] [--peer-lines N] [--full]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

from crontab import CronTab

from owlmigrate.crontab import LineKind, parse_crontab
from owlmigrate.crontab import parser as crontab_parser
from owlmigrate.scan import scan

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "legacy_crontabs"
# Files python-crontab can read at all (it raises IndexError on an empty "NAME=" value, which
# the busybox and RHEL batch examples have on purpose).
SOURCES = [
    "debian-web/var/spool/cron/crontabs/www-data",
    "debian-web/var/spool/cron/crontabs/deploy",
    "rhel-batch/var/spool/cron/etl",
    "rhel-batch/etc/cron.d/etl",
]
FILE_LINES = 100_000


def build_files(total_lines: int) -> list[bytes]:
    unit = b"".join((EXAMPLES / s).read_bytes() for s in SOURCES)
    per_unit = unit.count(b"\n")
    units_per_file = max(1, FILE_LINES // per_unit)
    chunk = unit * units_per_file
    files = []
    lines = 0
    while lines < total_lines:
        files.append(chunk)
        lines += chunk.count(b"\n")
    return files


def bench_ours(files: list[bytes]) -> tuple[float, int, int]:
    crontab_parser._spec_cache.clear()  # start cold, like a fresh process
    jobs = 0
    t0 = time.perf_counter()
    for i, data in enumerate(files):
        f = parse_crontab(data, path=f"bench/{i}", dialect="cronie", system=False)
        jobs += sum(1 for ln in f.lines if ln.kind is LineKind.JOB)
    return time.perf_counter() - t0, sum(d.count(b"\n") for d in files), jobs


def bench_python_crontab(files: list[bytes], max_lines: int) -> tuple[float, int, int]:
    jobs = 0
    lines = 0
    elapsed = 0.0
    for data in files:
        if lines >= max_lines:
            break
        text = data.decode("utf-8")
        sink = io.StringIO()  # python-crontab prints a message for every line it rejects
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sink):
            tab = CronTab(tab=text)
            jobs += sum(1 for _ in tab)
        elapsed += time.perf_counter() - t0
        lines += data.count(b"\n")
    return elapsed, lines, jobs


def bench_scan(rounds: int) -> tuple[float, int]:
    jobs = 0
    t0 = time.perf_counter()
    for _ in range(rounds):
        for host in ("debian-web", "rhel-batch", "alpine-container"):
            jobs += len(scan(root=EXAMPLES / host).jobs)
    return time.perf_counter() - t0, jobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--peer-lines", type=int, default=200_000)
    ap.add_argument("--full", action="store_true", help="python-crontab parses every line too")
    ap.add_argument("--scan-rounds", type=int, default=5)
    args = ap.parse_args()
    files = build_files(args.lines)
    ours_s, ours_lines, ours_jobs = bench_ours(files)
    peer_max = ours_lines if args.full else min(args.peer_lines, ours_lines)
    peer_s, peer_lines, peer_jobs = bench_python_crontab(files, peer_max)
    scan_s, scan_jobs = bench_scan(args.scan_rounds)
    ours_rate = ours_lines / ours_s
    peer_rate = peer_lines / peer_s
    print(f"input: {ours_lines:,} lines in {len(files)} files built from {len(SOURCES)} examples")
    print(
        f"owlmigrate parse_crontab: {ours_lines:,} lines in {ours_s:.2f} s "
        f"= {ours_rate:,.0f} lines/s ({ours_jobs:,} jobs)"
    )
    print(
        f"python-crontab CronTab(tab=...): {peer_lines:,} lines in {peer_s:.2f} s "
        f"= {peer_rate:,.0f} lines/s ({peer_jobs:,} items)"
    )
    print(
        f"full scan of the 3 example hosts x{args.scan_rounds}: {scan_jobs} jobs in "
        f"{scan_s:.2f} s = {scan_jobs / scan_s:,.0f} jobs/s"
    )
    print(
        json.dumps(
            {
                "benchmark": "scan",
                "lines": ours_lines,
                "peer_lines": peer_lines,
                "ours_lines_per_s": round(ours_rate),
                "python_crontab_lines_per_s": round(peer_rate),
                "scan_jobs_per_s": round(scan_jobs / scan_s, 1),
                "ratio_vs_python_crontab": round(ours_rate / peer_rate, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
