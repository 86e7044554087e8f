"""Start delay of N legacy shell jobs due in the same minute: the real Debian cron daemon
against ``owlmigrate run`` running the app generated from the same crontab, in the same run.

One crontab of N lines ``* * * * * date +%s.%N >> OUT/$LOGNAME-K`` (each job's first act is
the high-resolution timestamp). Installed for a worker user, scanned (``scan --root /``),
generated, served by ``owlmigrate run --app`` and cut over (``cutover --all``, in the switch
window), the worker runs the N jobs at the first whole minute after the cutover; it is then
stopped and the same crontab installed for a cron user, which the daemon (``cron -f``,
Debian's default log level) runs at the next minute. Both runs happen on an otherwise idle
minute: neither competes with the other. The delay of a job is its timestamp minus the
minute's second 0.

Memory: ``VmHWM`` (peak RSS) and ``VmRSS`` of the worker's process and of the daemon's, read at
the end of their minute, and the peak RSS of each one's process tree (the daemon forks an
intermediate ``cron`` per job; the worker's children are the jobs' shells) sampled every 50 ms.

Needs root, Debian's ``cron`` and no other cron daemon; the daemon runs only under
``tests.live.host.daemon_turn()``. Users, crontabs, daemon and worker are removed by pid and
name at the end, whatever happened.

Run: sudo .venv/bin/python benchmarks/legacy_start.py [--jobs N] [--max-concurrent K]
(``--max-concurrent`` sets the worker's ``OWLCLAW_CRON__MAX_CONCURRENT``; default: the
product's default). The last line is JSON: {"benchmark": "legacy_start", ...,
"ratio_vs_cron": X} with X = cron's P99 / ours (X >= 1: we start jobs no later than cron).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "runtime")]

from tests.live import host  # noqa: E402
from tests.live.world import keep_sources  # noqa: E402

CRON_USER = "owlm-lb-cron"
WORKER_USER = "owlm-lb-worker"


def crontab_text(out: Path, jobs: int) -> str:
    lines = [f"* * * * * date +\\%s.\\%N >> {out}/$LOGNAME-{k}\n" for k in range(jobs)]
    return '# owlmigrate legacy_start benchmark\nMAILTO=""\n' + "".join(lines)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _tree_rss_kb(root: int) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _status(pid).get("VmRSS", 0)
        stack += _children(pid)
    return total


class TreeSampler:
    """Peak summed RSS of a process tree, sampled every 50 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))
            self._stop.wait(0.05)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start_delays(out: Path, user: str, jobs: int, minute: int) -> tuple[list[float], int]:
    """Each job's delay from the minute's second 0 (its first line), and how many are missing."""
    delays, missing = [], 0
    for k in range(jobs):
        path = out / f"{user}-{k}"
        try:
            first = path.read_text().split()[0]
        except (OSError, IndexError):
            missing += 1
            continue
        delays.append(float(first) - minute * 60)
    return delays, missing


def wait_for(out: Path, user: str, jobs: int, deadline: float) -> None:
    while time.time() < deadline:
        if sum(1 for p in out.glob(f"{user}-*") if p.stat().st_size) >= jobs:
            return
        time.sleep(0.25)


def summary(delays: list[float]) -> dict[str, float]:
    if not delays:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "spread": 0.0}
    return {
        "p50": round(percentile(delays, 50), 4),
        "p95": round(percentile(delays, 95), 4),
        "p99": round(percentile(delays, 99), 4),
        "min": round(min(delays), 4),
        "max": round(max(delays), 4),
        "spread": round(max(delays) - min(delays), 4),
    }


def start_worker(app: Path, log: Path, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        proc = subprocess.Popen(
            host.cli_argv("run", "--app", str(app)),
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=host.cli_env(extra_env),
        )
    deadline = time.time() + 180
    while time.time() < deadline:
        if "owlmigrate: running " in log.read_text(errors="replace"):
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited ({proc.returncode}): {log.read_text()[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"worker not ready after 180 s: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def run(jobs: int, max_concurrent: int | None) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="owlmigrate-legacy-start-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    out = base / "out"
    out.mkdir()
    os.chmod(out, 0o1777)
    daemon = host.CronDaemon(base / "cron.log")
    worker: subprocess.Popen[bytes] | None = None
    notes: list[str] = []
    try:
        for user in (CRON_USER, WORKER_USER):
            host.remove_user(user)
            host.ensure_user(user)
        text = crontab_text(out, jobs)
        host.install_crontab(WORKER_USER, text, base)
        plan, app = base / "plan.json", base / "app"
        for args in (
            ("scan", "--root", "/", "-o", str(plan)),
            ("generate", str(plan), "-o", str(app)),
        ):
            done = host.run_cli(*args, timeout=600)
            if not done.ok:
                raise RuntimeError(done.describe())
            if args[0] == "scan":
                keep_sources(plan, {f"var/spool/cron/crontabs/{WORKER_USER}"})
        extra = {"OWLCLAW_CRON__MAX_CONCURRENT": str(max_concurrent)} if max_concurrent else {}
        worker = start_worker(app, base / "worker.err", extra)
        done = host.run_cli("cutover", "--all", "--app", str(app), "--json", timeout=600)
        if not done.ok:
            raise RuntimeError(done.describe())
        ours_minute = int(done.ended // 60) + 1
        # the daemon starts now, with the worker user's lines disabled and no cron user lines
        daemon.start()
        assert daemon.proc is not None
        while time.time() < ours_minute * 60 - 2:
            time.sleep(0.2)
        with TreeSampler(worker.pid) as worker_tree:
            wait_for(out, WORKER_USER, jobs, ours_minute * 60 + 45)
            time.sleep(0.5)
        worker_mem = _status(worker.pid)
        stop(worker)
        ours, ours_missing = start_delays(out, WORKER_USER, jobs, ours_minute)
        if time.time() > ours_minute * 60 + 55:
            raise RuntimeError("the worker's minute overran: the cron user's minute would be late")
        # Debian's cron reloads changed crontabs when it wakes at about second 1, then runs
        # that minute: installed after it, the crontab first runs at the next minute
        while time.time() < ours_minute * 60 + 15:
            time.sleep(0.2)
        host.install_crontab(CRON_USER, text, base)
        cron_minute = ours_minute + 1
        while time.time() < cron_minute * 60 - 2:
            time.sleep(0.2)
        with TreeSampler(daemon.proc.pid) as cron_tree:
            wait_for(out, CRON_USER, jobs, cron_minute * 60 + 45)
            time.sleep(0.5)
        cron_mem = _status(daemon.proc.pid)
        theirs, cron_missing = start_delays(out, CRON_USER, jobs, cron_minute)
        mine, peer = summary(ours), summary(theirs)
        ratio = peer["p99"] / mine["p99"] if mine["p99"] and mine["p99"] == mine["p99"] else 0.0
        return {
            "benchmark": "legacy_start",
            "jobs": jobs,
            "max_concurrent": max_concurrent or "default",
            "ours": {**mine, "missing": ours_missing},
            "cron": {**peer, "missing": cron_missing},
            "worker_rss_kb": worker_mem.get("VmRSS"),
            "worker_peak_rss_kb": worker_mem.get("VmHWM"),
            "worker_tree_peak_rss_kb": worker_tree.peak_kb,
            "cron_rss_kb": cron_mem.get("VmRSS"),
            "cron_peak_rss_kb": cron_mem.get("VmHWM"),
            "cron_tree_peak_rss_kb": cron_tree.peak_kb,
            "notes": notes,
            "ratio_vs_cron": round(ratio, 3),
        }
    finally:
        stop(worker)
        daemon.stop()
        for user in (CRON_USER, WORKER_USER):
            host.remove_user(user)
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--max-concurrent", type=int, default=None)
    args = parser.parse_args()
    # `make bench` runs every benchmark: one that cannot run here says why and does not fail
    reason = host.why_not_live() if os.geteuid() != 0 else None
    if reason is None:
        with host.daemon_turn() as turn:
            reason = None if turn else "another live run holds the cron daemon lock"
            reason = reason or host.why_not_live()
            if reason is None:
                result = run(args.jobs, args.max_concurrent)
    if reason is not None:
        print(f"legacy_start cannot run: {reason}", file=sys.stderr)
        print(json.dumps({"benchmark": "legacy_start", "skipped": reason}))
        return 0
    for side in ("ours", "cron"):
        s = result[side]
        print(
            f"{side:5} P50 {s['p50']:.3f}s  P95 {s['p95']:.3f}s  P99 {s['p99']:.3f}s  "
            f"spread {s['spread']:.3f}s  missing {s['missing']}"
        )
    print(
        f"RSS worker {result['worker_rss_kb']} kB (peak {result['worker_peak_rss_kb']}, tree "
        f"{result['worker_tree_peak_rss_kb']}); cron {result['cron_rss_kb']} kB (peak "
        f"{result['cron_peak_rss_kb']}, tree {result['cron_tree_peak_rss_kb']})"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
