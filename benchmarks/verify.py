"""Verify benchmark: ``owlmigrate verify`` on a generated 1,000-job plan over 10 years.

A host tree is generated under a temporary directory (cronie, daemon on America/New_York,
ten user crontabs, a quarter of the jobs under ``CRON_TZ`` sections in other zones, a mix of
daily, hourly, every-N-minutes, weekday, monthly and macro schedules), scanned into a plan with
``owlmigrate scan``, then verified with ``owlmigrate.verify.verify_plan`` over 10 years.
Figures: wall time of the verify (the scan is not counted), jobs per second, offset-change
windows checked. Peer: the independent minute-by-minute reference run over the whole 10 years
(what a brute-force proof would cost), measured on a sample of jobs and extrapolated.
``ratio_vs_bruteforce`` = brute-force time / ours; ``ratio_vs_goal`` = 30 s / ours.

Run: .venv/bin/python benchmarks/verify.py [--jobs 1000] [--years 10]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from owlclaw_runtime.schedule import parse

from owlmigrate.cli import cli
from owlmigrate.verify import TimeModel, reference_minutes, verify_plan

START = datetime(2026, 1, 1, tzinfo=UTC)
ZONES = ["Europe/London", "Asia/Kolkata", "Australia/Sydney", "UTC"]


def _expression(rng: random.Random) -> str:
    m, h = rng.randrange(60), rng.randrange(24)
    kind = rng.randrange(10)
    return [
        f"{m} {h} * * *",
        f"*/{rng.choice([5, 10, 15, 20, 30])} * * * *",
        f"{m} * * * *",
        f"{m} {h} * * {rng.choice(['1-5', 'mon', 'sun', '0,6', '7'])}",
        f"{m} {h} {rng.choice(['1', '15', '1,15', '28-31'])} * *",
        f"{m} {h}-{min(23, h + rng.randrange(1, 6))} * * *",
        f"{m} */{rng.choice([2, 3, 4, 6, 12])} * * *",
        rng.choice(["@daily", "@hourly", "@weekly", "@monthly", "@yearly"]),
        f"{m},{(m + 30) % 60} {rng.choice([1, 2, 3])} * * *",
        f"{m} {h} */2 * {rng.choice(['1', 'fri'])}",
    ][kind]


def build_host(root: Path, jobs: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    users = [f"user{i}" for i in range(10)]
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(
        "root:x:0:0::/root:/bin/sh\n"
        + "".join(f"{u}:x:{1000 + i}:{1000 + i}::/home/{u}:/bin/sh\n" for i, u in enumerate(users))
    )
    spool = root / "var/spool/cron"
    spool.mkdir(parents=True)
    per_user = jobs // len(users)
    for i, user in enumerate(users):
        lines = ["MAILTO=ops@example.com"]
        for j in range(per_user):
            if j == per_user * 3 // 4 and i % 2:
                lines.append(f"CRON_TZ={ZONES[i % len(ZONES)]}")
            lines.append(f"{_expression(rng)} /usr/local/bin/job-{user}-{j} --run")
        (spool / user).write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--sample", type=int, default=3, help="jobs for the brute-force peer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "host"
        build_host(root, args.jobs)
        plan = Path(tmp) / "plan.json"
        result = CliRunner().invoke(
            cli,
            [
                "scan",
                "--root",
                str(root),
                "--dialect",
                "cronie",
                "--timezone",
                "America/New_York",
                "--no-systemd",
                "-o",
                str(plan),
            ],
        )
        if result.exit_code != 0:
            raise SystemExit(f"scan failed: {result.output}")
        t0 = time.perf_counter()
        report = verify_plan(plan, years=args.years, start=START)
        ours = time.perf_counter() - t0
    counts = report.counts()
    windows = sum(j.windows for j in report.jobs)
    print(
        f"verify: {len(report.jobs)} jobs over {args.years} years in {ours:.2f}s "
        f"({len(report.jobs) / ours:,.0f} jobs/s); {counts}; {windows} windows checked"
    )
    assert report.ok, [j for j in report.jobs if j.failed][:3]
    # Peer: the reference transcription over the whole window, minute by minute.
    sample = [j for j in report.jobs if j.status == "equivalent"][: args.sample]
    u0 = int(START.timestamp()) // 60
    span = 30 * 1440
    t1 = time.perf_counter()
    for job in sample:
        legacy = job.legacy or {}
        model = TimeModel(**legacy)
        reference_minutes(parse(model.expression, model.dialect), model, u0, u0 + span)
    per_job_month = (time.perf_counter() - t1) / max(1, len(sample))
    brute = per_job_month * (args.years * 365.25 / 30) * len(report.jobs)
    print(
        f"brute force (reference minute by minute over the window): ~{brute:,.0f}s "
        f"extrapolated from {len(sample)} jobs x 30 days"
    )
    print(
        json.dumps(
            {
                "benchmark": "verify",
                "jobs": len(report.jobs),
                "years": args.years,
                "seconds": round(ours, 2),
                "jobs_per_s": round(len(report.jobs) / ours, 1),
                "windows_checked": windows,
                "counts": counts,
                "bruteforce_seconds_estimate": round(brute, 1),
                "ratio_vs_goal": round(30 / ours, 2),
                "ratio_vs_bruteforce": round(brute / ours, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
