"""The live scenarios. Each has its own users, jobs, app directories and worker(s), and runs its
steps on the shared minute timeline (``world.py``): step0 .. step2 do the scenario's workflow,
step3 is scenario 8's ``rollback --all --to-legacy`` for every app, the minute after is only
observed. Job scripts have distinct basenames, so their natural ids differ (s2's admin job
collides with s2_report on purpose)."""

from __future__ import annotations

import difflib
import json
import time
from pathlib import Path
from typing import Any

from . import host
from .world import Job, Scenario, minute_of, spool_markers


def _diff(want: str | None, got: str | None) -> str:
    return "".join(
        difflib.unified_diff(
            (want or "(absent)\n").splitlines(keepends=True),
            (got or "(absent or refused)\n").splitlines(keepends=True),
            "expected",
            "actual",
        )
    )


def mentions_stale(obj: Any) -> bool:
    """Whether a status/health document flags a stale module: a truthy key naming ``stale``
    (``stale_module: true``) or a string value saying stale (``"module": "stale"``)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if "stale" in str(key).lower() and value not in (False, None, 0, "", [], {}):
                return True
            if mentions_stale(value):
                return True
        return False
    if isinstance(obj, list):
        return any(mentions_stale(v) for v in obj)
    return isinstance(obj, str) and "stale" in obj.lower()


class Base(Scenario):
    """One user crontab, one app, one worker: the common shape."""

    user = ""
    keys: tuple[str, ...] = ()
    worker_http = False
    with_worker = True

    def build(self) -> None:
        self.world.user(self.user)
        for key in self.keys:
            self.add(self.world.job(key, self.user))
        self.install(self.user, list(self.jobs.values()))

    def prepare(self) -> None:
        self.expect_command("scan --root / -o plan.json", self.scan(self.plan()))
        ids = {j["id"] for j in json.loads(self.plan().read_text())["jobs"]}
        self.check("plan ids are the scripts' names", ids == set(self.keys), f"plan ids: {ids}")
        self.expect_command("generate plan.json -o APP", self.generate(self.plan(), self.app()))
        if self.with_worker:
            self.start_worker(http=self.worker_http)

    def cut(self, *keys: str, app: Path | None = None) -> host.Result:
        """``cutover KEYS`` expected to succeed; the jobs then belong to the worker."""
        result = self.cutover(*keys, app=app)
        jobs = _json_jobs(result)
        for key in keys:
            ok = result.ok and jobs.get(key) == "cut over"
            self.check(f"cutover {key}", ok, result.describe())
            if ok:
                self.switched(self.jobs[key], "worker", result)
        return result

    def admin_append(self, job: Job) -> None:
        """An admin adds a line: ``crontab -u USER -l``, one line more, ``crontab -u USER FILE``."""
        current = host.list_crontab(job.user)
        if current is None:
            raise RuntimeError(f"crontab -u {job.user} -l refused")
        host.install_crontab(job.user, current + job.line, self.world.scratch)
        self.installed[job.user] += job.line
        job.first = minute_of(time.time()) + 1
        self.add(job)

    def step3(self) -> None:
        self.final_rollback(["app"])

    def final_rollback(self, labels: list[str]) -> None:
        """Scenario 8 for this scenario: every app rolled back, every file as installed."""
        for label in labels:
            result = self.rollback_all(self.app(label))
            if self.expect_command(f"rollback --all --to-legacy --app {label}", result):
                for job in self.jobs.values():
                    self.owned(job, "cron", minute_of(result.ended) + 1)
        self.check_restored()

    def check_restored(self) -> None:
        for user, text in self.installed.items():
            now = host.list_crontab(user)
            self.check(
                f"restored: crontab -l of {user} as installed", now == text, _diff(text, now)
            )
        for path, state in self.cron_d_installed.items():
            now = host.FileState.of(path)
            self.check(
                f"restored: {path} byte-identical, same mode and owner",
                now == state,
                f"mode {state.mode and oct(state.mode)} -> {now.mode and oct(now.mode)}, "
                f"owner {state.uid}:{state.gid} -> {now.uid}:{now.gid}\n"
                + _diff(
                    state.data.decode() if state.data is not None else None,
                    now.data.decode() if now.data is not None else None,
                ),
            )


def _json_jobs(result: host.Result) -> dict[str, Any]:
    try:
        data = result.json()
    except (json.JSONDecodeError, ValueError):
        return {}
    jobs = data.get("jobs", {}) if isinstance(data, dict) else {}
    return {k: (v.get("status") if isinstance(v, dict) else v) for k, v in jobs.items()}


class Harness(Base):
    """The count itself: a doubled line must show as doubles, a removed line as misses."""

    name = "harness"
    title = "harness self-test: a doubled cron line is a double, a removed line a miss"
    user = "owlm-h-carol"

    def build(self) -> None:
        self.world.user(self.user)
        self.double = self.add(self.world.job("h_double", self.user))
        self.removed = self.add(self.world.job("h_removed", self.user))
        self.install(self.user, [self.double, self.double, self.removed])
        self.removed_from: int | None = None

    def prepare(self) -> None:
        """No app: only cron runs these."""

    def step1(self) -> None:
        self.install(self.user, [self.double, self.double])
        self.removed_from = minute_of(time.time()) + 1

    def step3(self) -> None:
        """Nothing to roll back."""

    def extra(self) -> dict[str, Any]:
        return {"removed_from": self.removed_from}


class SuccessiveCutovers(Base):
    name = "s1"
    title = "successive cutovers in one user crontab"
    user = "owlm-s1-alice"
    keys = ("s1_alpha", "s1_beta", "s1_gamma")

    def step0(self) -> None:
        self.cut("s1_alpha")

    def step1(self) -> None:
        self.cut("s1_beta")

    def step2(self) -> None:
        self.cut("s1_gamma")
        again = self.cli("cutover", "--all", "--app", str(self.app()), "--json")
        jobs = _json_jobs(again)
        self.check(
            "cutover --all afterwards is a no-op (every job: already cut over)",
            again.ok
            and set(jobs) == set(self.keys)
            and all(v == "already cut over" for v in jobs.values()),
            again.describe(),
        )
        markers = spool_markers(self.user)
        self.check(
            "three markers in the crontab",
            sorted(m.split(":")[1] for m in markers) == sorted(self.keys),
            "\n".join(markers),
        )


class RescanCollision(Base):
    name = "s2"
    title = "rescan and regenerate with cut-over jobs; an admin job whose natural id collides"
    user = "owlm-s2-alice"
    keys = ("s2_report",)

    def step0(self) -> None:
        self.cut("s2_report")

    def step1(self) -> None:
        a = self.jobs["s2_report"]
        new = self.world.job("s2_report", self.user, subdir="admin")
        self.admin_append(new)
        scan = self.scan(self.plan(), app=self.app())
        self.expect_command("rescan: scan --root / -o plan.json --app APP", scan)
        if scan.returncode == 2 and "--app" in scan.stderr:
            # today's scan has no --app: rescan the way it allows, to see what generate does
            self.expect_command("rescan without --app", self.scan(self.plan()))
        plan = json.loads(self.plan().read_text())
        by_command = {j["command"]: j["id"] for j in plan["jobs"]}
        self.check(
            "rescan: s2_report keeps its id for its own command",
            by_command.get(str(a.script)) == "s2_report",
            f"plan jobs: {by_command}",
        )
        new_id = by_command.get(str(new.script))
        self.check(
            "rescan: the admin's job gets another id",
            new_id is not None and new_id != "s2_report",
            f"plan jobs: {by_command}",
        )
        module = self.app() / "owlclaw_app.py"
        before = module.read_bytes()
        self.expect_command(
            "regenerate: generate plan.json -o APP", self.generate(self.plan(), self.app())
        )
        manifest = json.loads((self.app() / "owlmigrate.json").read_text())
        jobs = manifest.get("jobs", {})
        a_cmd = jobs.get("s2_report", {}).get("plan_job", {}).get("command")
        self.check(
            "regenerate: trigger s2_report still runs s2_report's own command",
            a_cmd == str(a.script),
            f"manifest s2_report command: {a_cmd!r}",
        )
        others = [
            n for n, j in jobs.items() if j.get("plan_job", {}).get("command") == str(new.script)
        ]
        self.check(
            "regenerate: the admin's job has its own trigger",
            len(others) == 1 and others[0] != "s2_report",
            f"triggers running the admin's command: {others}",
        )
        if module.read_bytes() != before:
            # The module changed: a worker serves what it loaded, so restart it (in the switch
            # window, so no instant falls between the old worker and the new one).
            self.workers["app"].restart()
        status = self.status()
        self.check(
            "status: s2_report still cut over, the admin's job not",
            self.trigger_stage(status, "s2_report").get("stage") == "cut over"
            and (new_id is None or self.trigger_stage(status, new_id).get("stage") != "cut over"),
            json.dumps(
                {
                    t.get("event_name"): t.get("migration")
                    for t in (status or {}).get("triggers", [])
                },
                indent=1,
            ),
        )


class NoWorker(Base):
    name = "s3"
    title = "cutover refused with no worker running"
    user = "owlm-s3-erin"
    keys = ("s3_nightly",)
    with_worker = False

    def step0(self) -> None:
        before = host.list_crontab(self.user)
        result = self.cutover("s3_nightly")
        self.expect_command(
            "cutover without a worker exits 1 naming the worker", result, 1, says="worker"
        )
        after = host.list_crontab(self.user)
        self.check(
            "crontab -l unchanged by the refused cutover", before == after, _diff(before, after)
        )


class RegenerateUnderWorker(Base):
    name = "s4"
    title = "regenerate under a running worker: stale module shown, cutover refused until restart"
    user = "owlm-s4-frank"
    keys = ("s4_sync",)
    worker_http = True

    def step0(self) -> None:
        added = self.world.job("s4_added", self.user)
        self.admin_append(added)
        self.expect_command("rescan: scan --root / -o plan.json", self.scan(self.plan()))
        self.expect_command(
            "regenerate: generate plan.json -o APP", self.generate(self.plan(), self.app())
        )
        manifest = json.loads((self.app() / "owlmigrate.json").read_text())
        self.check("regenerate: trigger s4_added generated", "s4_added" in manifest.get("jobs", {}))
        self.check_staleness(stale=True)
        before = host.list_crontab(self.user)
        result = self.cutover("s4_added")
        self.expect_command(
            "cutover of the new job refused while the worker serves the old module",
            result,
            1,
            says="worker",
        )
        after = host.list_crontab(self.user)
        self.check(
            "crontab -l unchanged by the refused cutover", before == after, _diff(before, after)
        )

    def check_staleness(self, *, stale: bool) -> None:
        word = "stale" if stale else "fresh"
        status = self.status()
        workers = (status or {}).get("workers")
        self.check(
            f"status --json shows the worker's module {word}",
            workers is not None and mentions_stale(workers) == stale,
            f"status workers: {json.dumps(workers, indent=1)}",
        )
        code, body = self.workers["app"].healthz()
        degraded = code != 200 or (body or {}).get("status") != "healthy"
        says_restart = "restart" in json.dumps(body).lower()
        self.check(
            f"/healthz {'degraded, saying restart' if stale else 'healthy'}",
            (degraded and says_restart) if stale else not degraded,
            f"HTTP {code}: {json.dumps(body)[:1500]}",
        )

    def step1(self) -> None:
        self.workers["app"].restart()
        self.check_staleness(stale=False)

    def step2(self) -> None:
        self.cut("s4_added")


class DeniedRollback(Base):
    name = "s5"
    title = "a rollback that crontab(1) refuses (user in /etc/cron.deny)"
    user = "owlm-s5-bob"
    keys = ("s5_backup",)

    def step0(self) -> None:
        self.cut("s5_backup")

    def step1(self) -> None:
        host.deny_user(self.user)
        result = self.cli(
            "rollback", "s5_backup", "--to-legacy", "--app", str(self.app()), "--json"
        )
        self.expect_command("rollback refused by crontab(1) exits 1", result, 1, says="crontab")
        markers = spool_markers(self.user)
        self.check(
            "the line stays disabled (marker still in the spool file)",
            any(m.startswith("#owlmigrate:s5_backup: ") for m in markers),
            "\n".join(markers) or "(no marker)",
        )
        mig = self.trigger_stage(self.status(), "s5_backup")
        self.check(
            "the job stays cut over and live (not paused, not shadow, nothing pending)",
            mig.get("stage") == "cut over"
            and mig.get("paused") is False
            and mig.get("shadow") is False
            and not mig.get("pending"),
            json.dumps(mig, indent=1),
        )

    def step2(self) -> None:
        self.world.deny.restore(host.CRON_DENY)
        self.check(
            "/etc/cron.deny restored exactly",
            host.FileState.of(host.CRON_DENY) == self.world.deny,
        )


class ConcurrentCutovers(Base):
    name = "s6"
    title = "two concurrent cutovers from two app dirs into one crontab"
    user = "owlm-s6-alice"
    keys = ("s6_one", "s6_two", "s6_three", "s6_four")
    # Start both cutovers before the minute: both then wait for the switch window and leave it
    # at the same instant, so their crontab reads and writes really race.
    step_second = -8.0

    def prepare(self) -> None:
        self.expect_command("scan --root / -o plan.json", self.scan(self.plan()))
        for label in ("a", "b"):
            self.expect_command(
                f"generate plan.json -o {label} (same scan)",
                self.generate(self.plan(), self.app(label)),
            )
            self.start_worker(label)

    def race(self, round_: int, pairs: list[tuple[str, str]]) -> None:
        started = time.time()
        procs = []
        for key, label in pairs:
            args = ("cutover", key, "--app", str(self.app(label)), "--json")
            procs.append((key, label, host.cli_argv(*args), host.start_cli(*args)))
        results = [
            (k, lab, self.record(host.finish(p, argv, started))) for k, lab, argv, p in procs
        ]
        markers = [m.split(":")[1] for m in spool_markers(self.user)]
        detail = "\n".join(r.describe() for _, _, r in results) + f"\nmarkers now: {markers}"
        for key, label, result in results:
            stage = self.trigger_stage(self.status(self.app(label)), key).get("stage")
            if result.ok and _json_jobs(result).get(key) == "cut over":
                self.switched(self.jobs[key], "worker", result)
                self.check(
                    f"round {round_}: {key} (app {label}) cut over, its marker in the file",
                    key in markers,
                    detail,
                )
            elif result.returncode == 1:
                self.check(
                    f"round {round_}: {key} (app {label}) refused cleanly (no marker, not live)",
                    key not in markers and stage != "cut over",
                    detail + f"\nstage in app {label}: {stage}",
                )
            else:
                self.check(f"round {round_}: {key} (app {label}) exit 0 or 1", False, detail)
        self.check(
            f"round {round_}: at least one of the two cutovers went through",
            any(r.ok for _, _, r in results),
            detail,
        )

    def step0(self) -> None:
        self.race(1, [("s6_one", "a"), ("s6_two", "b")])

    def step1(self) -> None:
        self.race(2, [("s6_three", "a"), ("s6_four", "b")])

    def step3(self) -> None:
        # one after the other: two rollbacks writing one crontab at once is scenario 6's race
        self.final_rollback(["a", "b"])


class CrashedCutover(Base):
    name = "s7"
    title = "a cutover killed between its crontab write and its ledger write, worker running"
    user = "owlm-s7-gina"
    keys = ("s7_rotate",)

    def step0(self) -> None:
        result = self.cutover("s7_rotate", env={"OWLMIGRATE_CRASH_AT": "cutover.crontab_written"})
        self.expect_command("cutover killed at cutover.crontab_written (exit 137)", result, 137)
        if any(m.startswith("#owlmigrate:s7_rotate: ") for m in spool_markers(self.user)):
            # the line is disabled from the next minute: the worker must take the job
            self.switched(self.jobs["s7_rotate"], "worker", result)
        else:
            self.check("the killed cutover had written the crontab", False, result.describe())

    def step2(self) -> None:
        mig = self.trigger_stage(self.status(), "s7_rotate")
        self.check(
            "status: s7_rotate cut over, nothing pending (the worker settled the row)",
            mig.get("stage") == "cut over" and not mig.get("pending"),
            json.dumps(mig, indent=1),
        )


class RollbackEverything(Base):
    name = "s8"
    title = "rollback of everything: user crontab and /etc/cron.d back as installed"
    user = "owlm-s8-dave"
    keys = ("s8_user", "s8_crond_dave", "s8_crond_root")
    cron_d_name = "owlmigrate-live-s8"

    def build(self) -> None:
        self.world.user(self.user)
        mine = self.add(self.world.job("s8_user", self.user))
        self.install(self.user, [mine])
        system = [
            self.add(self.world.job("s8_crond_dave", self.user, system=True)),
            self.add(self.world.job("s8_crond_root", "root", system=True)),
        ]
        text = '# s8: owlmigrate live test cron.d file\nMAILTO=""\n' + "".join(
            j.line for j in system
        )
        path = self.world.cron_d_file(self.cron_d_name, text)
        self.cron_d_installed[path] = host.FileState.of(path)

    def step0(self) -> None:
        result = self.cli("cutover", "--all", "--app", str(self.app()), "--json")
        jobs = _json_jobs(result)
        for key in self.keys:
            ok = result.ok and jobs.get(key) == "cut over"
            self.check(f"cutover --all: {key}", ok, result.describe())
            if ok:
                self.switched(self.jobs[key], "worker", result)


SCENARIOS: list[type[Base]] = [
    Harness,
    SuccessiveCutovers,
    RescanCollision,
    NoWorker,
    RegenerateUnderWorker,
    DeniedRollback,
    ConcurrentCutovers,
    CrashedCutover,
    RollbackEverything,
]
