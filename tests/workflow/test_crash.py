"""Kill the real CLI process at named points inside every mutating command; the next command
must find a consistent state: no crontab half written, no pending journal row left, and for every
job the crontab, the module, the ledger override and the journal agree (so nothing runs twice
and nothing is left unrun)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from owlclaw_runtime.ledger import open_store

from owlmigrate import migration as m
from owlmigrate.journal import replay, state_of
from owlmigrate.migration import AppDir
from owlmigrate.migration.ledger_identity import app_name_for
from owlmigrate.rewrite import is_disabled, read_cron_keyword, weight_code

ORIGINAL = (
    b'MAILTO=""\n30 2 * * * root /usr/local/bin/backup.sh\n*/5 * * * * www-data php /srv/cron.php\n'
)
OTHER = b"15 * * * * root /usr/bin/other\n"
JOBS = ["etc_crontab_2", "etc_crontab_3", "etc_cron_d_other_1"]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def run(args: list[str], env: dict[str, str], crash: str | None = None) -> Done:
    """Run the CLI in a real child process (forked, so it does not pay the import time again)
    that ``os._exit``s at the crash point; its output is captured through files."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        pid = os.fork()
        if pid == 0:  # child
            _child(args, env, crash, out.fileno(), err.fileno())
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return Done(os.waitstatus_to_exitcode(status), out.read(), err.read())


def _child(args: list[str], env: dict[str, str], crash: str | None, out: int, err: int) -> None:
    try:
        os.environ.clear()
        os.environ.update(env)
        if crash:
            os.environ["OWLMIGRATE_CRASH_AT"] = crash
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdout = os.fdopen(1, "w", closefd=False)
        sys.stderr = os.fdopen(2, "w", closefd=False)
        from owlmigrate.cli import main

        try:
            main(args)
        except SystemExit as exc:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        os._exit(0)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(70)


def run_subprocess(args: list[str], env: dict[str, str], crash: str | None = None) -> Done:
    """The same in a fresh interpreter (once per suite: proves nothing leaks from the parent)."""
    full = dict(env, OWLMIGRATE_CRASH_AT=crash) if crash else dict(env)
    code = "import sys; from owlmigrate.cli import main; main(sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=full,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return Done(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def world(
    make_plan: Callable[..., Path], tmp_path: Path, ledger_url: str
) -> tuple[Path, dict[str, str]]:
    """A generated app whose journal is a SQLite file or a PostgreSQL schema."""
    plan = make_plan({"etc/crontab": ORIGINAL, "etc/cron.d/other": OTHER})
    env = dict(os.environ)
    env["OWLCLAW_LEDGER_URL"] = ledger_url
    env["OWLMIGRATE_SWITCH_WINDOW"] = "off"
    done = run(["generate", str(plan), "-o", str(tmp_path / "app")], env)
    assert done.returncode == 0, done.stderr
    return tmp_path / "app", env


def assert_consistent(app_dir: Path, env: dict[str, str]) -> dict[str, bool]:
    """Every job's four views agree; returns job -> cut over."""
    app = AppDir.load(app_dir)
    store = open_store(env["OWLCLAW_LEDGER_URL"], app_name=app_name_for(app_dir))
    try:
        journal = store.journal()
        assert [e for e in journal if e.status == "pending"] == []
        states = replay(journal)
        module = app.read_module()
        out = {}
        for name in JOBS:
            data = app.crontab_path(name).read_bytes()
            disabled = is_disabled(data, name)
            state = state_of(states, name)
            trigger = store.get_trigger_state(name)
            live_in_module = read_cron_keyword(module, name, "shadow") == "False"
            live_in_ledger = trigger.shadow is False and not trigger.paused
            assert disabled == live_in_module == live_in_ledger == state.cut_over, (
                name,
                disabled,
                live_in_module,
                live_in_ledger,
                state.cut_over,
            )
            assert read_cron_keyword(module, name, "migration_weight") == weight_code(state.weight)
            if trigger.migration_weight is not None:
                assert trigger.migration_weight == state.weight
            out[name] = disabled
        return out
    finally:
        store.close()


def owners_right_after_a_crash(app_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """Per job, who runs the next instant as the files and the ledger stand right after the
    kill: ``cron``, ``trigger``, or, with a journal row left pending, ``pending`` (the running
    worker or the next command settles it before anything fires). Never both, never neither
    without a pending row."""
    app = AppDir.load(app_dir)
    store = open_store(env["OWLCLAW_LEDGER_URL"], app_name=app_name_for(app_dir))
    try:
        pending = {e.job for e in store.journal() if e.status == "pending"}
        out = {}
        for name in JOBS:
            cron = not is_disabled(app.crontab_path(name).read_bytes(), name)
            trigger_state = store.get_trigger_state(name)
            trigger = trigger_state.shadow is False and not trigger_state.paused
            if name in pending:
                out[name] = "pending"
                continue
            assert cron != trigger, (name, "both run" if cron else "nobody runs")
            out[name] = "cron" if cron else "trigger"
        return out
    finally:
        store.close()


def crontab_is_whole(app_dir: Path) -> None:
    data = (app_dir.parent / "host/etc/crontab").read_bytes()
    # either no job line disabled yet, or exactly the marked lines: never a truncated file
    stripped = data.replace(b"#owlmigrate:etc_crontab_2: ", b"").replace(
        b"#owlmigrate:etc_crontab_3: ", b""
    )
    assert stripped == ORIGINAL


CUTOVER_POINTS = [
    "cutover.journaled",
    "crontab.before_rename",
    "cutover.crontab_written",
    "module.before_rename",
    "manifest.before_rename",
    "cutover.module_written",
    "cutover.state_saved",
]


@pytest.mark.parametrize("point", CUTOVER_POINTS)
def test_a_killed_cutover_is_completed_or_undone_by_the_next_command(
    world: tuple[Path, dict[str, str]], point: str
) -> None:
    app, env = world
    crashed = run(["cutover", "--all", "--app", str(app)], env, crash=point)
    assert crashed.returncode == 137, crashed.stderr
    crontab_is_whole(app)
    assert set(owners_right_after_a_crash(app, env).values()) == {"pending"}
    # the next command (here a no-op soft rollback, in-process) resolves the pending rows first
    url = env["OWLCLAW_LEDGER_URL"]
    after = m.rollback(app, all_jobs=True, ledger_url=url)
    assert any("interrupted cutover" in note for note in after.recovered)
    assert_consistent(app, env)
    # and the cutover can then be finished
    m.cutover(app, all_jobs=True, ledger_url=url)
    assert assert_consistent(app, env) == dict.fromkeys(JOBS, True)


STEP_POINTS = [
    "step.journaled",
    "module.before_rename",
    "manifest.before_rename",
    "step.module_written",
    "step.state_saved",
]


@pytest.mark.parametrize("point", STEP_POINTS)
def test_a_killed_step_leaves_module_ledger_and_journal_agreeing(
    world: tuple[Path, dict[str, str]], point: str
) -> None:
    app, env = world
    assert run(["cutover", "--all", "--app", str(app)], env).returncode == 0
    crashed = run(["step", "--all", "--to", "0.5", "--force", "--app", str(app)], env, crash=point)
    assert crashed.returncode == 137, crashed.stderr
    after = run(["history", "--app", str(app)], env)
    assert "[pending]" in after.stdout
    resolved = m.rollback(app, ["etc_crontab_2"], ledger_url=env["OWLCLAW_LEDGER_URL"])
    assert any("interrupted step" in note for note in resolved.recovered)
    assert_consistent(app, env)


LEGACY_POINTS = [
    "rollback.journaled",
    "rollback.state_saved",
    "crontab.before_rename",
    "rollback.crontab_written",
    "module.before_rename",
    "rollback.module_written",
]


@pytest.mark.parametrize("point", LEGACY_POINTS)
def test_a_killed_rollback_to_legacy_never_leaves_a_half_state(
    world: tuple[Path, dict[str, str]], point: str
) -> None:
    app, env = world
    assert run(["cutover", "--all", "--app", str(app)], env).returncode == 0
    assert run(["step", "--all", "--to", "0.5", "--force", "--app", str(app)], env).returncode == 0
    crashed = run(["rollback", "--all", "--to-legacy", "--app", str(app)], env, crash=point)
    assert crashed.returncode == 137, crashed.stderr
    crontab_is_whole(app)
    assert set(owners_right_after_a_crash(app, env).values()) == {"pending"}
    again = m.rollback(app, all_jobs=True, to_legacy=True, ledger_url=env["OWLCLAW_LEDGER_URL"])
    assert any("interrupted rollback" in note for note in again.recovered)
    assert assert_consistent(app, env) == dict.fromkeys(JOBS, False)
    assert (app.parent / "host/etc/crontab").read_bytes() == ORIGINAL
    assert (app.parent / "host/etc/cron.d/other").read_bytes() == OTHER


@pytest.mark.parametrize(
    "point",
    ["generate.journaled", "generate.before_rename", "manifest.before_rename", "generate.written"],
)
def test_a_killed_generate_is_finished_by_rerunning_it(
    make_plan: Callable[..., Path], tmp_path: Path, point: str
) -> None:
    plan = make_plan({"etc/crontab": ORIGINAL, "etc/cron.d/other": OTHER})
    env = dict(os.environ, OWLCLAW_LEDGER_URL=f"sqlite:///{tmp_path / 'ledger.db'}")
    out = str(tmp_path / "app")
    crashed = run(["generate", str(plan), "-o", out], env, crash=point)
    assert crashed.returncode == 137
    again = run(["generate", str(plan), "-o", out], env)
    assert again.returncode == 0, again.stderr
    rerun = run(["generate", str(plan), "-o", out], env)
    assert "nothing to do" in rerun.stdout
    assert_consistent(tmp_path / "app", env)


def test_a_cutover_killed_in_a_fresh_interpreter_is_completed(
    world: tuple[Path, dict[str, str]],
) -> None:
    app, env = world
    crashed = run_subprocess(
        ["cutover", "--all", "--app", str(app)], env, crash="cutover.crontab_written"
    )
    assert crashed.returncode == 137, crashed.stderr
    done = run_subprocess(["cutover", "--all", "--app", str(app)], env)
    assert done.returncode == 0, done.stderr
    assert "completed interrupted cutover of etc_crontab_2" in done.stderr
    assert assert_consistent(app, env) == dict.fromkeys(JOBS, True)
