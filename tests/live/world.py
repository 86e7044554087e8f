"""The shared minute timeline: one real cron daemon, every scenario's users, jobs, app
directories and workers on it, each scenario's steps run in its own thread at its minute.

Minute ``k`` of the timeline is ``m0 + k`` (epoch minutes). A scenario's ``step<k>`` starts at
second 3 of minute k (after cron's run of that minute, which Debian's cron starts at about
second 1); cutover and rollback then wait for the switch window (seconds 5-45) themselves. The
last step is ``STEPS - 1``; minute ``STEPS`` is only observed, so every job's runs are counted
for a whole minute after the final rollback.
"""

from __future__ import annotations

import json
import os
import pwd
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import host
from .counting import Run, Tally, minute_label, parse_runs, summarize, table, tally

STEPS = 4  # step0 .. step3; the minute after step3 is observed only
STEP_SECOND = 3

# Sets $runner to cron or worker: the first cron or python ancestor of the job's shell.
RUNNER_SH = """pid=$PPID
runner=unknown
while [ "$pid" -gt 1 ] 2>/dev/null; do
  comm=$(cat /proc/$pid/comm 2>/dev/null) || break
  case $comm in
    cron|crond) runner=cron; break ;;
    python*|owlmigrate) runner=worker; break ;;
  esac
  pid=$(cut -d' ' -f4 /proc/$pid/stat 2>/dev/null) || break
done
"""
JOB_SCRIPT = """#!/bin/sh
# owlmigrate live test job {key}: one line per run, nothing on stdout or stderr (cron mails
# output). The runner is the first cron or python ancestor: cron runs us via sh, so does the
# worker's LegacyCommand.
now=$(date +%s)
{runner}printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$now" "$(date -u -d "@$now" +%H:%M:%S)" \\
  "$(id -un)" "$HOME" "$LOGNAME" "$(cat /proc/$PPID/comm 2>/dev/null)" "$runner" >> {log}
exit 0
"""


def minute_of(epoch: float) -> int:
    return int(epoch // 60)


@dataclass
class Job:
    """One legacy job: its script appends to its own log, one line per run."""

    key: str
    user: str
    script: Path
    log: Path
    schedule: str = "* * * * *"
    system: bool = False  # a line of a system crontab (/etc/cron.d): has a user column
    first: int | None = None  # epoch minute of its first expected run (None: the window's)
    last: int | None = None

    @property
    def line(self) -> str:
        user = f" {self.user}" if self.system else ""
        return f"{self.schedule}{user} {self.script}\n"

    def runs(self) -> list[Run]:
        return parse_runs(self.log.read_text(), where=str(self.log)) if self.log.exists() else []


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


class World:
    """The host under test: base directory, users, the daemon, the minute timeline."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.bin = base / "bin"
        self.logs = base / "logs"
        self.apps = base / "apps"
        self.scratch = base / "scratch"
        self.diag = base / "diag"
        for d in (self.bin, self.logs, self.apps, self.scratch, self.diag):
            d.mkdir(parents=True, exist_ok=True)
        for d in (base, self.bin, self.logs):
            os.chmod(d, 0o755)
        self.users: list[str] = []
        self.cron_d: list[Path] = []
        self.deny = host.FileState.of(host.CRON_DENY)
        self.daemon = host.CronDaemon(self.diag / "cron.log")
        self.m0 = 0
        self.stragglers: list[str] = []
        self.started = time.time()
        self.timeline_ended = 0.0

    # -- building the host --------------------------------------------------------------------

    def user(self, name: str) -> pwd.struct_passwd:
        account = host.ensure_user(name)
        if name not in self.users:
            self.users.append(name)
        return account

    def job(self, key: str, user: str, *, subdir: str = "bin", system: bool = False) -> Job:
        """A job whose script is ``<base>/<subdir>/<key>.sh`` (the basename names the job id)."""
        script_dir = self.base / subdir
        script_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(script_dir, 0o755)
        log = self.logs / f"{key}@{subdir}.log"
        script = script_dir / f"{key}.sh"
        log.touch()
        account = pwd.getpwnam(user)
        os.chown(log, account.pw_uid, account.pw_gid)
        os.chmod(log, 0o644)
        script.write_text(JOB_SCRIPT.format(key=key, log=log, runner=RUNNER_SH))
        os.chmod(script, 0o755)
        return Job(f"{key}@{subdir}" if subdir != "bin" else key, user, script, log, system=system)

    def cron_d_file(self, name: str, content: str) -> Path:
        path = host.write_cron_d(name, content)
        self.cron_d.append(path)
        return path

    # -- the timeline -------------------------------------------------------------------------

    @property
    def last(self) -> int:
        """The last observed minute."""
        return self.m0 + STEPS

    def at(self, k: int, second: float = STEP_SECOND) -> float:
        return (self.m0 + k) * 60 + second

    def wait_until(self, epoch: float) -> None:
        while (left := epoch - time.time()) > 0:
            time.sleep(min(left, 1.0))

    def run_timeline(self, scenarios: list[Scenario]) -> None:
        """Prepare every scenario, start the minute count, run each one's steps in its thread."""
        late = _in_threads([s.guarded("prepare", s.prepare) for s in scenarios], timeout=240)
        # A margin before minute 0: a step may start before its minute (step_second < 0).
        self.m0 = minute_of(time.time() + 12) + 1
        threads = [s.guarded("timeline", s.drive) for s in scenarios]
        late += _in_threads(threads, timeout=(STEPS + 3) * 60)
        self.stragglers = [scenarios[i].name for i in late]
        self.wait_until(self.at(STEPS, 20))
        self.timeline_ended = time.time()

    def stop_processes(self, scenarios: list[Scenario]) -> list[str]:
        """Stop every worker and the daemon (by pid); returns what went wrong."""
        problems = []
        for s in scenarios:
            for w in s.workers.values():
                try:
                    w.stop()
                except Exception as exc:
                    problems.append(f"stopping {w.app}: {exc}")
        try:
            self.daemon.stop()
        except Exception as exc:
            problems.append(f"stopping cron: {exc}")
        return problems

    def teardown(self, scenarios: list[Scenario]) -> list[str]:
        """Stop workers and the daemon, remove users and files; returns what went wrong."""
        problems = self.stop_processes(scenarios)
        for path in self.cron_d:
            path.unlink(missing_ok=True)
        try:
            self.deny.restore(host.CRON_DENY)
        except Exception as exc:
            problems.append(f"restoring {host.CRON_DENY}: {exc}")
        for name in self.users:
            host.remove_user(name)
        problems += self.leftovers()
        return problems

    def leftovers(self) -> list[str]:
        """What the clean-up failed to undo (checked, not assumed)."""
        out = [f"user {u} still exists" for u in self.users if _user_exists(u)]
        out += [f"{p} still exists" for p in self.cron_d if p.exists()]
        out += [
            f"{host.spool_path(u)} still exists" for u in self.users if host.spool_path(u).exists()
        ]
        if host.FileState.of(host.CRON_DENY) != self.deny:
            out.append(f"{host.CRON_DENY} differs from before the run")
        if self.daemon.alive():
            out.append("the cron daemon is still running")
        out += [f"scenario {name} was still running after the timeline" for name in self.stragglers]
        return out


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _in_threads(fns: list[Callable[[], None]], *, timeout: float) -> list[int]:
    """Run ``fns`` in threads; the indexes of those still running at the deadline."""
    threads = [threading.Thread(target=fn, daemon=True) for fn in fns]
    for t in threads:
        t.start()
    deadline = time.time() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.time()))
    return [i for i, t in enumerate(threads) if t.is_alive()]


class Scenario:
    """One scenario: its users, jobs, apps and workers, its steps, its checks and counts.

    Subclasses set ``name``/``title``, build the host in ``build`` (before the daemon starts),
    prepare apps and workers in ``prepare`` and define ``step0`` .. ``step3``.
    """

    name = ""
    title = ""
    step_second: float = STEP_SECOND  # when in its minute each step starts (negative: before)

    def __init__(self, world: World) -> None:
        self.world = world
        self.jobs: dict[str, Job] = {}
        self.checks: list[Check] = []
        self.workers: dict[str, host.Worker] = {}
        self.commands: list[host.Result] = []
        self.installed: dict[str, str] = {}  # user -> the crontab text last installed by "admin"
        self.cron_d_installed: dict[Path, host.FileState] = {}
        # job -> [(from minute, runner)], piecewise: who must run each minute
        self.owners: dict[str, list[tuple[int, str]]] = {}
        self.lock = threading.Lock()

    # -- building -----------------------------------------------------------------------------

    def build(self) -> None:
        raise NotImplementedError

    def prepare(self) -> None:
        """Scan, generate, start workers (after the daemon started)."""

    def app(self, label: str = "app") -> Path:
        return self.world.apps / f"{self.name}-{label}"

    def plan(self, label: str = "plan") -> Path:
        return self.world.apps / f"{self.name}-{label}.json"

    def add(self, job: Job) -> Job:
        self.jobs[job.key] = job
        return job

    def install(self, user: str, jobs: list[Job], extra: str = "") -> None:
        text = f'# {self.name}: owlmigrate live test crontab of {user}\nMAILTO=""\n'
        text += "".join(j.line for j in jobs) + extra
        host.install_crontab(user, text, self.world.scratch)
        self.installed[user] = text

    def sources(self) -> set[str]:
        """Plan sources that belong to this scenario (relative to --root /)."""
        out = {f"var/spool/cron/crontabs/{u}" for u in self.installed}
        out |= {str(p.relative_to("/")) for p in self.cron_d_installed}
        return out

    # -- running ------------------------------------------------------------------------------

    def guarded(self, what: str, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception:
                self.check(f"{what} raised", False, traceback.format_exc())

        return run

    def drive(self) -> None:
        for k in range(STEPS):
            step = getattr(self, f"step{k}", None)
            if step is None:
                continue
            self.world.wait_until(self.world.at(k, self.step_second))
            try:
                step()
            except Exception:
                self.check(f"step{k} raised", False, traceback.format_exc())

    def cli(self, *args: str, env: dict[str, str] | None = None) -> host.Result:
        result = host.run_cli(*args, env=env)
        with self.lock:
            self.commands.append(result)
        return result

    def record(self, result: host.Result) -> host.Result:
        with self.lock:
            self.commands.append(result)
        return result

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        with self.lock:
            self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    def expect_command(
        self, name: str, result: host.Result, code: int = 0, *, says: str | None = None
    ) -> bool:
        ok = result.returncode == code
        if says is not None:
            ok = ok and says.lower() in (result.stdout + result.stderr).lower()
        wanted = f"exit {code}" + (f" mentioning {says!r}" if says else "")
        return self.check(name, ok, f"wanted {wanted}\n{result.describe()}")

    # -- the workflow, as a user runs it --------------------------------------------------------

    def scan(self, plan: Path, *, app: Path | None = None) -> host.Result:
        """``owlmigrate scan --root / -o PLAN [--app APP]``, then keep this scenario's sources.

        The host holds every scenario's crontabs; keeping only ours in the plan (what an admin
        migrating some crontabs of a host does) keeps concurrent scenarios out of each other's
        files."""
        args = ["scan", "--root", "/", "-o", str(plan)]
        if app is not None:
            args += ["--app", str(app)]
        result = self.cli(*args)
        if result.ok:
            keep_sources(plan, self.sources())
        return result

    def generate(self, plan: Path, app: Path) -> host.Result:
        return self.cli("generate", str(plan), "-o", str(app))

    def cutover(
        self, *jobs: str, app: Path | None = None, env: dict[str, str] | None = None
    ) -> host.Result:
        return self.cli("cutover", *jobs, "--app", str(app or self.app()), "--json", env=env)

    def rollback_all(self, app: Path | None = None) -> host.Result:
        return self.cli(
            "rollback", "--all", "--to-legacy", "--app", str(app or self.app()), "--json"
        )

    def status(self, app: Path | None = None) -> dict[str, Any] | None:
        result = self.cli("status", "--app", str(app or self.app()), "--json")
        try:
            return result.json() if result.ok else None
        except json.JSONDecodeError:
            return None

    def start_worker(self, label: str = "app", *, http: bool = False) -> host.Worker:
        worker = host.Worker(self.app(label), self.world.diag, http=http)
        self.workers[label] = worker
        worker.start()
        return worker

    def trigger_stage(self, status: dict[str, Any] | None, job: str) -> dict[str, Any]:
        for trig in (status or {}).get("triggers", []):
            if trig.get("event_name") == job:
                return dict(trig.get("migration") or {})
        return {}

    # -- who must run each minute ---------------------------------------------------------------

    def owned(self, job: Job, runner: str, from_minute: int) -> None:
        self.owners.setdefault(job.key, []).append((from_minute, runner))

    def switched(self, job: Job, runner: str, result: host.Result) -> None:
        """The command ended in minute M: from M + 1 the job belongs to ``runner``."""
        self.owned(job, runner, minute_of(result.ended) + 1)

    def expected_owner(self, job: Job, minute: int) -> str:
        owner = "cron"
        for start, runner in sorted(self.owners.get(job.key, [])):
            if minute >= start:
                owner = runner
        return owner

    # -- results ------------------------------------------------------------------------------

    def tallies(self) -> list[Tally]:
        out = []
        for job in self.jobs.values():
            first = job.first if job.first is not None else self.world.m0
            last = job.last if job.last is not None else self.world.last
            out.append(tally(job.key, job.runs(), first, last))
        return out

    def owner_problems(self) -> list[str]:
        problems = []
        for t in self.tallies():
            job = self.jobs[t.job]
            for minute in t.minutes:
                runs = t.per_minute.get(minute, [])
                if len(runs) != 1:
                    continue  # counted as a miss or a double
                want = self.expected_owner(job, minute)
                if runs[0].runner != want:
                    problems.append(
                        f"{job.key} {minute_label(minute)}: run by {runs[0].runner}, "
                        f"expected {want}"
                    )
        return problems

    def identity_problems(self) -> tuple[list[str], int]:
        """Runs whose user, HOME or LOGNAME is not the crontab owner's; and the worker runs seen."""
        problems = []
        worker_runs = 0
        for job in self.jobs.values():
            account = pwd.getpwnam(job.user)
            for run in job.runs():
                worker_runs += run.runner == "worker"
                seen = (run.user, run.home, run.logname)
                want = (job.user, account.pw_dir, job.user)
                if seen != want:
                    problems.append(
                        f"{job.key} {run.clock} ({run.runner}): user/HOME/LOGNAME {seen}, "
                        f"expected {want}"
                    )
        return problems, worker_runs

    def evaluate(self) -> Outcome:
        """Read the logs once (daemon and workers stopped) and judge everything."""
        tallies = self.tallies()
        owners = self.owner_problems()
        self.check(
            "each minute run by its expected owner (cron, or the worker once cut over)",
            not owners,
            "\n".join(owners),
        )
        identity, worker_runs = self.identity_problems()
        report = [f"== {self.name}: {self.title}", table(tallies)]
        for c in self.checks:
            if not c.ok:
                report.append(f"-- check failed: {c.name}\n{c.detail}")
        report.append("-- commands:")
        report.extend(r.describe() for r in self.commands)
        return Outcome(
            name=self.name,
            title=self.title,
            tallies=tallies,
            checks=list(self.checks),
            identity_problems=identity,
            worker_runs=worker_runs,
            report="\n".join(report),
            extra=self.extra(),
        )

    def extra(self) -> dict[str, Any]:
        """Scenario-specific facts for its test (e.g. the harness's removal minute)."""
        return {}


@dataclass
class Outcome:
    """A scenario's judged result: counts, checks, and the text to show on failure."""

    name: str
    title: str
    tallies: list[Tally]
    checks: list[Check]
    identity_problems: list[str]
    worker_runs: int
    report: str
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Outcome({self.name}: {summarize(self.tallies)})"

    @property
    def exact(self) -> bool:
        return all(t.exact for t in self.tallies)

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "title": self.title,
            **summarize(self.tallies),
            "checks_failed": [c.name for c in self.failed_checks],
            "checks_passed": [c.name for c in self.checks if c.ok],
            "jobs": [t.to_dict() for t in self.tallies],
            "table": table(self.tallies),
        }


def keep_sources(plan_path: Path, sources: set[str]) -> None:
    """Keep only the plan's jobs and sources in ``sources`` (paths relative to the root)."""
    plan = json.loads(plan_path.read_text())
    plan["jobs"] = [j for j in plan["jobs"] if j.get("source") in sources]
    plan["sources"] = [s for s in plan["sources"] if s.get("path") in sources]
    plan_path.write_text(json.dumps(plan, indent=2) + "\n")


def spool_markers(user: str) -> list[str]:
    """The owlmigrate marker lines in USER's spool file (read directly: works while crontab(1)
    refuses the user)."""
    try:
        text = host.spool_path(user).read_text()
    except FileNotFoundError:
        return []
    return [ln for ln in text.splitlines() if ln.startswith("#owlmigrate:")]
