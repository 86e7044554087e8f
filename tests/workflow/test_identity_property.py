"""The identity property over random histories of a host: jobs added and removed, jobs cut
over, rescans with and without the app. No id is ever given to a different job, and a job keeps
its id for as long as it lives (and gets it back when it returns)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_identity import make_host

from owlmigrate import migration as m
from owlmigrate.plan import Plan
from owlmigrate.rewrite.codemods import read_cron_keywords
from owlmigrate.scan import scan

FILES = ("var/spool/cron/crontabs/www-data", "var/spool/cron/crontabs/alice")
SCHEDULES = ("*/10 * * * *", "0 3 * * *", "15 4 * * 1")
# every command is named "backup", so natural ids collide all the time
COMMANDS = ("/srv/bin/backup.sh", "/srv/bin/backup.sh --full", "/opt/backup")

add = st.tuples(
    st.just("add"),
    st.integers(0, len(FILES) - 1),
    st.integers(0, len(SCHEDULES) - 1),
    st.integers(0, len(COMMANDS) - 1),
)
remove = st.tuples(st.just("remove"), st.integers(0, 20))
cut = st.tuples(st.just("cutover"), st.integers(0, 20))
rescan = st.tuples(st.just("rescan"), st.booleans())
histories = st.lists(st.one_of(add, remove, cut, rescan), min_size=1, max_size=10)

Identity = tuple[str, str, str]


class Host:
    def __init__(self, base: Path) -> None:
        self.root = make_host(base, {f: b"" for f in FILES})
        self.plan = base / "plan.json"
        self.app = base / "app"
        self.ledger = f"sqlite:///{base / 'ledger.db'}"
        self.by_id: dict[str, Identity] = {}
        self.id_of: dict[Identity, str] = {}

    def lines(self, rel: str) -> list[bytes]:
        return (self.root / rel).read_bytes().splitlines(keepends=True)

    def scan(self, *, with_app: bool) -> Plan:
        previous = Plan.load(self.plan) if self.plan.exists() else None
        app = self.app if with_app and self.app.exists() else None
        plan = scan(root=self.root, previous=previous, app=app, ledger_url=self.ledger)
        plan.dump(self.plan)
        for job in plan.jobs:
            ident = (job.source, job.schedule, job.command)
            # never reused for another job, and a job's id never changes
            assert self.by_id.setdefault(job.id, ident) == ident, (job.id, ident)
            assert self.id_of.setdefault(ident, job.id) == job.id, (ident, job.id)
        return plan

    def generate(self) -> None:
        self.scan(with_app=True)
        m.generate(self.plan, self.app, ledger_url=self.ledger)

    def apply(self, step: tuple) -> None:
        if step[0] == "add":
            rel = FILES[step[1]]
            line = f"{SCHEDULES[step[2]]} {COMMANDS[step[3]]}\n".encode()
            if not any(ln.endswith(line) for ln in self.lines(rel)):
                (self.root / rel).write_bytes(b"".join(self.lines(rel)) + line)
        elif step[0] == "remove":
            # only lines cron runs: deleting a cut-over line is another story (its own test)
            live = [(rel, i) for rel in FILES for i, ln in enumerate(self.lines(rel))]
            live = [(rel, i) for rel, i in live if not self.lines(rel)[i].startswith(b"#")]
            if live:
                rel, i = live[step[1] % len(live)]
                kept = self.lines(rel)
                del kept[i]
                (self.root / rel).write_bytes(b"".join(kept))
        elif step[0] == "cutover":
            self.generate()
            plan = Plan.load(self.plan)
            todo = [j.id for j in plan.jobs if j.enabled and not j.cut_over]
            if todo:
                m.cutover(self.app, [todo[step[1] % len(todo)]], ledger_url=self.ledger)
        else:
            self.scan(with_app=step[1])
            if step[1] and self.app.exists():
                m.generate(self.plan, self.app, ledger_url=self.ledger)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(histories)
# the collision of the live host: a job named like a cut-over one is added, then a rescan
@example([("add", 0, 0, 0), ("cutover", 0), ("add", 1, 1, 0), ("rescan", True)])
# a job removed, another one with its name added later
@example(
    [
        *[("add", 0, 0, 0), ("rescan", False), ("remove", 0)],
        *[("rescan", False), ("add", 0, 1, 0), ("rescan", False)],
    ]
)
# rescans without the app in between (nothing vouches for the markers then)
@example(
    [
        *[("add", 0, 0, 0), ("cutover", 0), ("rescan", False)],
        *[("add", 1, 0, 0), ("rescan", False), ("rescan", True)],
    ]
)
def test_no_id_is_ever_reused_and_every_job_keeps_its_id(history: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as base:
        host = Host(Path(base))
        for step in history:
            host.apply(step)
        host.generate()  # the end of any history regenerates cleanly
        plan = Plan.load(host.plan)
        assert not plan.risks
        # every cut-over job is live under its own trigger; every other one is in shadow
        shadows = read_cron_keywords((host.app / "owlclaw_app.py").read_text(), "shadow")
        assert shadows == {j.id: str(not j.cut_over) for j in plan.jobs}
