"""``verify``: prove, per job, that the trigger fires exactly when the legacy daemon would.

For every job the *legacy* side is rebuilt from the raw crontab bytes (re-read and re-parsed
with :func:`owlmigrate.crontab.parse_crontab` for the host's dialect, ``CRON_TZ`` from the
accumulated environment, the host's zone), and the *trigger* side from what the trigger declares
(a generated app's registry) or would declare (the plan). Over the window they are proved equal:

1. the two parsed specs match the same wall minutes (minute and hour sets and the full
   month x day-of-month x day-of-week table), so away from offset changes, where every
   semantics reduces to plain matching, they fire at the same instants;
2. the zones involved have the same offsets and changes in the window;
3. around every offset change (the job's zone and, for cronie ``CRON_TZ`` jobs, the daemon's)
   and over a sample at the start, the legacy instants computed by an independent
   minute-by-minute transcription of the daemon loop (:func:`reference_minutes`) equal the
   trigger's :class:`~owlclaw_runtime.schedule.Schedule` instants as multisets;
4. the trigger's UTC superset covers the exact instants there and the gate reproduces them.

Jobs that cannot be time triggers (``@reboot``, anacron, run-parts scripts, ``RANDOM_DELAY``,
``~``) are listed as ``inexpressible`` with the reason; they do not fail the run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from owlclaw_runtime.errors import OwlClawError
from owlclaw_runtime.schedule import CronSpec, Schedule, parse, zone
from owlclaw_runtime.schedule.superset import check_superset, tick_schedules

from owlmigrate.errors import FindingError, UsageError

Progress = Callable[[int, int, str], None]
_EPOCH_NAIVE = datetime(1970, 1, 1)
_SAMPLE = 180  # minutes compared around the first run
_MARGIN = 5  # minutes compared on each side of an offset change (the loop is steady there)


@dataclass(frozen=True)
class TimeModel:
    """What decides when a job runs: expression, dialect, zone, DST semantics, daemon zone."""

    expression: str
    dialect: str
    timezone: str
    semantics: str
    daemon_timezone: str


@dataclass
class JobVerdict:
    """One job's result. ``status``: equivalent, not_equivalent, inexpressible, skipped, error."""

    job_id: str
    source: str | None
    line: int | None
    status: str
    reason: str | None = None
    legacy: dict[str, Any] | None = None
    trigger: dict[str, Any] | None = None
    fires: int | None = None
    windows: int = 0
    superset: list[str] = field(default_factory=list)
    waste_ratio: float | None = None
    mismatches: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in ("not_equivalent", "error")


@dataclass
class VerifyReport:
    """All verdicts plus the window; ``ok`` is False when any job failed."""

    start: datetime
    end: datetime
    jobs: list[JobVerdict]

    @property
    def ok(self) -> bool:
        return not any(j.failed for j in self.jobs)

    def counts(self) -> dict[str, int]:
        return dict(Counter(j.status for j in self.jobs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "window": {"start": _iso(self.start), "end": _iso(self.end)},
            "counts": self.counts(),
            "jobs": [asdict(j) for j in self.jobs],
        }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_minute(u: int) -> str:
    return _iso(datetime.fromtimestamp(u * 60, tz=UTC))


# --------------------------------------------------------------------------- reference model


def _wall_fields(u: int, tz: ZoneInfo) -> tuple[int, datetime]:
    """(wall minute number, local datetime) of UTC minute ``u`` in ``tz``."""
    local = datetime.fromtimestamp(u * 60, tz=tz)
    off = local.utcoffset()
    return (u * 60 + int(off.total_seconds() if off else 0)) // 60, local


def _spec_matches(spec: CronSpec, wall: datetime) -> bool:
    # find_jobs: minute, hour, month, then (DOM_STAR || DOW_STAR) ? dom && dow : dom || dow
    if wall.minute not in spec.minute or wall.hour not in spec.hour:
        return False
    if wall.month not in spec.month:
        return False
    dom = wall.day in spec.dom
    dow = (wall.weekday() + 1) % 7 in spec.dow
    return (dom and dow) if (spec.dom_star or spec.dow_star) else (dom or dow)


def reference_minutes(spec: CronSpec, model: TimeModel, u0: int, u1: int) -> list[int]:
    """Legacy runs in ``[u0, u1)`` (UTC minutes of each run's start).

    Written independently of the fast engine: cronie/Debian ``main()`` for ``daemon``, second
    by second (the catch-up loops' ``sleep(10)`` after each busy step, ``set_time`` ending the
    "DST begins" loop when the wall minute changes); every real minute for ``wallclock``
    (busybox ``flag_starting_jobs``), minus cronie's ``CRON_TZ`` fixed jobs while the daemon's
    own zone is in the negative ("DST ends") branch. ``u0`` must be a minute where the daemon
    loop is steady (no offset change in the hour before).
    """
    tz = ZoneInfo(model.timezone)
    wild = spec.min_star or spec.hr_star
    if model.semantics == "daemon":
        return _CronMain(spec, tz, wild).run(u0, u1)
    out: list[int] = []
    lose = model.dialect.startswith("cronie") and not wild
    dtz = ZoneInfo(model.daemon_timezone)
    dvt, _ = _wall_fields(u0 - 1, dtz)
    for u in range(u0, u1):
        dtr, _ = _wall_fields(u, dtz)
        ddiff = dtr - dvt
        negative = -180 <= ddiff <= 0
        if not negative:
            dvt = dtr
        _, wall = _wall_fields(u, tz)
        if _spec_matches(spec, wall) and not (lose and negative):
            out.append(u)
    return out


class _CronMain:
    """cron.c ``main()`` for one job, with a clock in seconds and a one-job run queue."""

    def __init__(self, spec: CronSpec, tz: ZoneInfo, wild: bool) -> None:
        self.spec, self.tz, self.wild = spec, tz, wild
        self.now = 0
        self.queued = False
        self.started: list[int] = []
        self._offsets: dict[int, int] = {}  # UTC minute -> offset (zones change on minutes)

    def clock_time(self) -> int:
        # set_time(): (StartTime + GMToff) / SECONDS_PER_MINUTE
        minute = self.now // 60
        off = self._offsets.get(minute)
        if off is None:
            delta = datetime.fromtimestamp(minute * 60, tz=self.tz).utcoffset()
            off = self._offsets[minute] = int(delta.total_seconds()) if delta else 0
        return (self.now + off) // 60

    def find_jobs(self, vtime: int, do_wild: bool, do_non_wild: bool) -> None:
        if vtime % 60 not in self.spec.minute or (vtime // 60) % 24 not in self.spec.hour:
            return  # minute and hour of the wall minute number, before building its date
        due = _spec_matches(self.spec, _EPOCH_NAIVE + timedelta(minutes=vtime))
        if due and ((do_wild and self.wild) or (do_non_wild and not self.wild)):
            self.queued = True  # job_add: at most once in the queue

    def job_runqueue(self) -> bool:
        ran = self.queued
        if ran:
            self.started.append(self.now // 60)
        self.queued = False
        return ran

    def run(self, u0: int, u1: int) -> list[int]:
        self.now = (u0 - 1) * 60
        time_running = virtual_time = self.clock_time()
        self.now = u0 * 60
        while self.now < u1 * 60:
            clock = self.clock_time()
            if clock == time_running:
                self.now = (self.now // 60 + 1) * 60  # cron_sleep(timeRunning + 1)
                continue
            time_running = clock
            woke = self.now
            time_diff = time_running - virtual_time
            if time_diff == 1:
                virtual_time = time_running
                self.find_jobs(virtual_time, True, True)
            elif time_diff > 180 or time_diff < -180:
                virtual_time = time_running
                self.find_jobs(time_running, True, True)
            elif time_diff > 5:
                self.find_jobs(time_running, True, False)
                while True:
                    if self.job_runqueue():
                        self.now += 10  # sleep(10)
                    virtual_time += 1
                    self.find_jobs(virtual_time, False, True)
                    if not (virtual_time < time_running and self.clock_time() == time_running):
                        break
            elif time_diff > 0:
                while True:
                    if self.job_runqueue():
                        self.now += 10
                    virtual_time += 1
                    self.find_jobs(virtual_time, True, True)
                    if virtual_time >= time_running:
                        break
            else:
                self.find_jobs(time_running, True, False)
            self.job_runqueue()
            if self.now == woke:
                self.now += 60  # slept nowhere: the next wake-up is the next minute
        return self.started


def _sets(spec: CronSpec) -> tuple[Any, ...]:
    return (spec.minute, spec.hour, spec.dom, spec.month, spec.dow, spec.day_and, spec.is_wildcard)


def _behaviour(spec: CronSpec) -> tuple[Any, ...]:
    """What decides the wall minutes a spec matches (two specs with equal keys match alike)."""
    import calendar

    days = []
    for month in sorted(spec.month):
        for dom in range(1, (29 if month == 2 else calendar.monthrange(2001, month)[1]) + 1):
            for dow in range(7):
                a, b = dom in spec.dom, dow in spec.dow
                if (a and b) if (spec.dom_star or spec.dow_star) else (a or b):
                    days.append((month, dom, dow))
    return (frozenset(spec.minute), frozenset(spec.hour), frozenset(days), spec.is_wildcard)


def _offsets(name: str, start: int, end: int) -> tuple[Any, ...]:
    z = zone(name)
    return (z.offset_at(start), tuple((t.at, t.after) for t in z.transitions(start, end)))


# --------------------------------------------------------------------------- comparison


class _Cache:
    def __init__(self) -> None:
        self.results: dict[tuple[TimeModel, TimeModel], JobVerdict] = {}


def compare(
    legacy: TimeModel,
    trigger: TimeModel,
    start: datetime,
    end: datetime,
    cache: _Cache | None = None,
) -> JobVerdict:
    """Prove ``trigger`` fires exactly like ``legacy`` over ``[start, end)``."""
    if cache is not None and (legacy, trigger) in cache.results:
        got = cache.results[(legacy, trigger)]
        return JobVerdict(**{**asdict(got), "job_id": "", "source": None, "line": None})
    verdict = _compare(legacy, trigger, start, end)
    if cache is not None:
        cache.results[(legacy, trigger)] = verdict
    return verdict


def _compare(legacy: TimeModel, trigger: TimeModel, start: datetime, end: datetime) -> JobVerdict:
    v = JobVerdict(job_id="", source=None, line=None, status="equivalent")
    v.legacy, v.trigger = asdict(legacy), asdict(trigger)
    try:
        lspec = parse(legacy.expression, legacy.dialect)
    except OwlClawError as exc:
        v.status, v.reason = "error", f"the legacy daemon rejects the schedule: {exc}"
        return v
    try:
        tspec = parse(trigger.expression, trigger.dialect)
        tsched = Schedule(
            tspec,
            timezone=trigger.timezone,
            semantics=trigger.semantics,
            daemon_timezone=trigger.daemon_timezone,
        )
    except OwlClawError as exc:
        v.status, v.reason = "not_equivalent", f"the trigger cannot be scheduled: {exc}"
        return v
    if lspec.reboot or lspec.randomized:
        v.status = "inexpressible"
        v.reason = "@reboot" if lspec.reboot else "cronie '~' random range"
        return v
    v.warnings = list(lspec.warnings)
    if lspec.never_fires:
        v.warnings.append("the legacy schedule never fires (no calendar day matches)")
    s0, s1 = int(start.timestamp()), int(end.timestamp())
    u0, u1 = -(-s0 // 60), -(-s1 // 60)
    problems: list[str] = []
    if _sets(lspec) != _sets(tspec) and _behaviour(lspec) != _behaviour(tspec):
        problems.append(
            f"the schedules match different wall minutes ({legacy.expression!r} as "
            f"{legacy.dialect} vs {trigger.expression!r} as {trigger.dialect})"
        )
    if _offsets(legacy.timezone, s0, s1) != _offsets(trigger.timezone, s0, s1):
        problems.append(f"zone {trigger.timezone} differs from {legacy.timezone} in the window")
    # Windows: every offset change of each zone involved, plus a sample at the start.
    names = {legacy.timezone, trigger.timezone, legacy.daemon_timezone, trigger.daemon_timezone}
    # a sample around the first run, away from any change (the fast path's plain matching)
    first = tsched.next_fire(datetime.fromtimestamp(u0 * 60 - 1, tz=UTC))
    at = u0 if first is None else max(u0, int(first.timestamp()) // 60 - _SAMPLE // 2)
    windows: list[tuple[int, int]] = [(at, min(u1, at + _SAMPLE))]
    for name in sorted(names):
        for tr in zone(name).transitions(s0, s1):
            t = tr.at // 60
            # not clipped to the window: the reference must start where the loop is steady
            # after a forward jump the paced catch-up (six busy minutes per real minute) can
            # run on for up to jump / 5 real minutes (a job with n run times a day is busy in
            # at most n of those steps; with five or fewer it ends in the jump minute)
            spill = 0
            if tr.delta_minutes > 0 and _skipped_times(lspec, tr) >= 6:
                times = len(lspec.minute) * len(lspec.hour)
                spill = min(tr.delta_minutes // 5, times // 6 + 1)
            windows.append((t - _MARGIN, t + max(0, -tr.delta_minutes) + _MARGIN + spill))
    windows = _merge(windows)
    v.windows = len(windows)
    lsched_model = legacy
    for a, b in windows:
        ref = [u for u in reference_minutes(lspec, lsched_model, a, b) if u0 <= u < u1]
        got = list(tsched.iter_minutes(max(a, u0), min(b, u1)))
        if Counter(ref) != Counter(got):
            missing = sorted((Counter(ref) - Counter(got)).elements())
            extra = sorted((Counter(got) - Counter(ref)).elements())
            v.mismatches += [f"legacy runs at {_iso_minute(u)}, trigger does not" for u in missing]
            v.mismatches += [f"trigger runs at {_iso_minute(u)}, legacy does not" for u in extra]
    if v.mismatches:
        problems.append(f"{len(v.mismatches)} instants differ around offset changes")
        v.mismatches = v.mismatches[:10]
    # The superset the UTC-only engine would fire, checked where the daemon loop matters.
    v.superset = tsched.utc_superset()
    ticks = tick_schedules(v.superset)
    for a, b in windows:
        check = check_superset(
            tsched,
            datetime.fromtimestamp(max(a, u0) * 60, tz=UTC),
            datetime.fromtimestamp(min(b, u1) * 60, tz=UTC),
            v.superset,
            ticks,
        )
        if not check.ok:
            problems.append(
                f"the UTC superset {v.superset} does not reproduce the runs in "
                f"{_iso_minute(a)}..{_iso_minute(b)} (covered={check.covered}, "
                f"gate={check.gate_exact}, duplicate ticks={check.duplicate_ticks})"
            )
            break
    v.fires = tsched.count_minutes(u0, u1)
    if v.superset and v.fires:
        year = min(u1, u0 + 366 * 1440)
        real = tsched.count_minutes(u0, year)
        if real:
            v.waste_ratio = round(sum(t.count_minutes(u0, year) for t in ticks) / real, 4)
    if problems:
        v.status, v.reason = "not_equivalent", "; ".join(problems)
    return v


def _skipped_times(spec: CronSpec, tr: Any) -> int:
    """How many skipped wall minutes of a forward change have the job's minute and hour (an
    upper bound on its catch-up runs: days are not looked at)."""
    w0 = (tr.at + tr.before) // 60
    return sum(
        1
        for w in range(w0, w0 + tr.delta_minutes)
        if w % 60 in spec.minute and (w // 60) % 24 in spec.hour
    )


def _merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


# --------------------------------------------------------------------------- legacy side


def _legacy_semantics(dialect: str, host_tz: str, env: dict[str, str]) -> tuple[str, str]:
    """(zone, semantics) cron uses for a line: CRON_TZ only in cronie; busybox is wall clock."""
    if dialect == "busybox":
        return host_tz, "wallclock"
    tz = env.get("CRON_TZ")
    if dialect.startswith("cronie") and tz:
        try:
            zone(tz)
        except OwlClawError:
            return "UTC", "wallclock"  # glibc falls back to UTC for an unknown TZ
        return tz, "wallclock"
    return host_tz, "daemon"


def legacy_model(
    root: Path | None,
    source: str,
    line: int,
    *,
    dialect: str,
    host_tz: str,
    system: bool,
    expected_sha256: str | None = None,
    markers: Collection[str] = (),
) -> TimeModel:
    """Re-read the raw crontab and rebuild the job's time model from the line as written.

    ``markers`` names the triggers whose cutover markers are ours (the plan's cut-over jobs, the
    app's triggers): only those are taken off, so a comment that merely looks like a marker
    stays a comment. ``expected_sha256`` may be the hash of the file as found or without them."""
    from owlmigrate.crontab import parse_crontab

    path = (root / source) if root is not None else Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FindingError(f"cannot read the legacy crontab: {exc.strerror}", path=path) from None
    from owlmigrate.crontab.header import content_sha256
    from owlmigrate.markers import without

    # After `owlmigrate cutover` the line carries a marker comment; verify the line as written.
    found = content_sha256(data)
    data = without(data, markers)
    if expected_sha256 and expected_sha256 not in (found, content_sha256(data)):
        raise FindingError("the crontab changed since the scan (sha256 differs)", path=path)
    parsed = parse_crontab(data, path=source, dialect=dialect, system=system)
    for entry in parsed.lines:
        if entry.number <= line <= entry.end_number and entry.is_job and entry.schedule:
            tz, semantics = _legacy_semantics(dialect, host_tz, dict(entry.env))
            return TimeModel(entry.schedule, dialect, tz, semantics, host_tz)
    raise FindingError(f"line {line} is not a job line any more", path=path, line=line)


# --------------------------------------------------------------------------- verbs


def _window(years: int, start: datetime | None) -> tuple[datetime, datetime]:
    if years < 1:
        raise UsageError("--years must be at least 1")
    begin = (start or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    try:
        end = begin.replace(year=begin.year + years)
    except ValueError:  # 29 February
        end = begin.replace(year=begin.year + years, day=28)
    return begin, end


def _inexpressible(job: Any, sources: dict[str, Any]) -> tuple[str, str] | None:
    kind = job.kind
    if kind == "reboot":
        return "inexpressible", "@reboot runs when the daemon starts, not at a time of day"
    if kind == "anacron":
        return "inexpressible", "anacron runs from timestamps and uptime, not from the clock"
    if kind == "periodic":
        return "inexpressible", "a run-parts script: it runs when its directory's crontab line runs"
    if not job.enabled:
        return "skipped", "commented out: the daemon runs nothing"
    src = sources.get(job.source)
    if src is not None and not src.runs:
        return "skipped", f"the daemon ignores its source ({src.reason or 'not loaded'})"
    if job.dialect.startswith("cronie") and (job.random_delay or job.env.get("RANDOM_DELAY")):
        return "inexpressible", "cronie RANDOM_DELAY shifts runs by a random amount per start"
    if "~" in job.schedule:
        return "inexpressible", "cronie '~' draws a random value on every reload"
    return None


def verify_plan(
    plan_path: str | Path,
    *,
    years: int = 10,
    start: datetime | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Verify every job of a plan against the trigger ``generate`` would write for it."""
    from owlmigrate.plan import Plan

    plan = Plan.load(plan_path)
    begin, end = _window(years, start)
    root = _root(plan.host.root, Path(plan_path))
    sources = {s.path: s for s in plan.sources}
    cache = _Cache()
    verdicts = []
    ours = {j.migration.marker for j in plan.jobs if j.migration is not None}
    for i, job in enumerate(plan.jobs):
        if progress:
            progress(i, len(plan.jobs), job.id)
        skip = _inexpressible(job, sources)
        if skip is not None:
            verdicts.append(JobVerdict(job.id, job.source, job.line, skip[0], skip[1]))
            continue
        trigger = TimeModel(
            job.schedule, job.dialect, job.timezone, job.semantics, job.daemon_timezone
        )
        verdicts.append(
            _job(job.id, job.source, job.line, trigger, begin, end, cache, root, plan, job, ours)
        )
    return VerifyReport(begin, end, verdicts)


def _root(root: str | None, anchor: Path) -> Path | None:
    if root is None:
        return None
    p = Path(root)
    if not p.is_absolute() and not p.exists():
        p = anchor.parent / p
    return p


def _job(
    job_id: str,
    source: str | None,
    line: int | None,
    trigger: TimeModel,
    begin: datetime,
    end: datetime,
    cache: _Cache,
    root: Path | None,
    plan: Any,
    job: Any,
    markers: Collection[str] = (),
) -> JobVerdict:
    try:
        src = next((s for s in plan.sources if s.path == source), None) if plan else None
        system = src is not None and src.kind == "system"
        if source is None or line is None:
            raise FindingError("the job has no source line to re-read")
        legacy = legacy_model(
            root,
            source,
            line,
            dialect=(src.dialect if src is not None and src.dialect else plan.host.dialect),
            host_tz=plan.host.timezone,
            system=system,
            expected_sha256=getattr(job, "source_sha256", None),
            markers=markers,
        )
    except OwlClawError as exc:
        return JobVerdict(job_id, source, line, "error", str(exc))
    verdict = compare(legacy, trigger, begin, end, cache)
    verdict.job_id, verdict.source, verdict.line = job_id, source, line
    return verdict


def verify_app(
    app_dir: str | Path,
    *,
    years: int = 10,
    start: datetime | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Verify a generated app: each registered trigger against its legacy crontab line."""
    from owlclaw_runtime.loader import load_app

    from owlmigrate.plan import Plan

    directory = Path(app_dir)
    manifest_path = directory / "owlmigrate.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError("not a generated app (no owlmigrate.json)", path=directory) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise FindingError(f"cannot read the manifest: {exc}", path=manifest_path) from None
    plan_ref = manifest.get("plan")
    plan_path = Path(plan_ref) if plan_ref else None
    if plan_path is not None and not plan_path.is_absolute():
        plan_path = directory / plan_path
    if plan_path is None or not plan_path.is_file():
        raise FindingError(
            f"the plan {plan_ref!r} named in owlmigrate.json is missing", path=manifest_path
        )
    plan = Plan.load(plan_path)
    try:
        app = load_app(directory)
    except OwlClawError as exc:
        raise FindingError(f"cannot load the generated app: {exc}", path=directory) from None
    begin, end = _window(years, start)
    root_text = manifest.get("root") or plan.host.root
    root = _root(root_text, plan_path)
    cache = _Cache()
    jobs_meta: dict[str, Any] = manifest.get("jobs", {})
    configs = {c.event_name: c for c in app.cron_registry.list_triggers()}
    verdicts = []
    names = sorted(set(configs) | set(jobs_meta))
    for i, name in enumerate(names):
        if progress:
            progress(i, len(names), name)
        meta = jobs_meta.get(name)
        config = configs.get(name)
        if meta is None:
            verdicts.append(
                JobVerdict(
                    name,
                    None,
                    None,
                    "error",
                    "trigger not linked to a crontab line in owlmigrate.json",
                )
            )
            continue
        if config is None:
            verdicts.append(
                JobVerdict(
                    name,
                    meta.get("source"),
                    meta.get("line"),
                    "error",
                    "owlmigrate.json names a trigger the app does not register",
                )
            )
            continue
        trigger = TimeModel(
            config.expression,
            config.dialect,
            config.timezone,
            config.semantics,
            config.daemon_timezone or config.timezone,
        )
        try:
            job = plan.job(meta.get("job_id", name))
        except KeyError:
            job = None
        verdicts.append(
            _job(
                name,
                meta.get("source"),
                meta.get("line"),
                trigger,
                begin,
                end,
                cache,
                root,
                plan,
                _Sha(meta.get("source_sha256"))
                if job is None
                else _Sha(meta.get("source_sha256") or job.source_sha256),
                list(jobs_meta),
            )
        )
    sources = {src.path: src for src in plan.sources}
    for item in manifest.get("not_migrated", []):
        job_id = item.get("job_id", "?")
        status, reason = "inexpressible", item.get("reason")
        try:
            classified = _inexpressible(plan.job(job_id), sources)
        except KeyError:
            classified = None
        if classified is not None:
            status, reason = classified
        verdicts.append(JobVerdict(job_id, item.get("source"), item.get("line"), status, reason))
    return VerifyReport(begin, end, verdicts)


@dataclass
class _Sha:
    source_sha256: str | None
