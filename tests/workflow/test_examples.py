"""The whole story on copies of the example hosts and on the shared corpus:
scan → generate → verify → cutover → trigger → step → rollback --to-legacy, after which every
crontab file is byte-identical to the original."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from owlmigrate import migration as m
from owlmigrate.errors import FindingError
from owlmigrate.scan import scan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "legacy_crontabs"
HOSTS = ["debian-web", "rhel-batch", "alpine-container"]


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = tmp_path / request.param
    shutil.copytree(EXAMPLES / request.param, root, symlinks=True)
    return root


def test_the_module_runs_the_real_line_while_plan_and_skills_stay_redacted(tmp_path: Path) -> None:
    root = tmp_path / "debian-web"
    shutil.copytree(EXAMPLES / "debian-web", root, symlinks=True)
    plan = scan(root=root)
    plan.dump(tmp_path / "plan.json")
    assert "--token=***" in plan.job("rotate_keys").command
    m.generate(tmp_path / "plan.json", tmp_path / "app", ledger_url=f"sqlite:///{tmp_path}/l.db")
    module = (tmp_path / "app" / "owlclaw_app.py").read_text()
    assert "--token=abc123def456ghi789 --dry-run" in module
    assert (tmp_path / "app" / "owlclaw_app.py").stat().st_mode & 0o777 == 0o600
    skill = (tmp_path / "app" / "skills" / "rotate_keys" / "SKILL.md").read_text()
    assert "--token=***" in skill and "abc123" not in skill
    assert "abc123" not in (tmp_path / "app" / "README.md").read_text()
    assert "abc123" not in (tmp_path / "app" / "owlmigrate.json").read_text()


async def _fire(app_dir: Path, app: object, name: str) -> object:
    """Fire ``name`` at its next instant the way the embedded scheduler does (``dispatch``)."""
    from datetime import UTC, datetime

    from owlclaw_runtime.schedule import Schedule

    config = app.cron_registry.get_trigger(name)  # type: ignore[attr-defined]
    schedule = Schedule(
        config.expression,
        dialect=config.dialect,
        timezone=config.timezone,
        semantics=config.semantics,
        daemon_timezone=config.daemon_timezone,
    )
    instant = schedule.next_fire(datetime(2026, 3, 1, tzinfo=UTC))
    app.pipeline.invalidate_state()  # type: ignore[attr-defined]
    [execution] = await app.dispatch(name, scheduled_at=instant, runs=1)  # type: ignore[attr-defined]
    return execution


async def test_the_whole_story_on_an_example_host(host: Path, tmp_path: Path) -> None:
    from owlclaw_runtime.loader import load_app

    from owlmigrate.verify import verify_app

    original = snapshot(host)
    plan = scan(root=host)
    plan.dump(tmp_path / "plan.json")
    ledger = f"sqlite:///{tmp_path / 'app' / 'owlclaw-ledger.db'}"
    generated = m.generate(tmp_path / "plan.json", tmp_path / "app", ledger_url=ledger)
    assert generated.triggers
    lint = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--config",
            str(EXAMPLES.parents[1] / "pyproject.toml"),
            str(tmp_path / "app" / "owlclaw_app.py"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout
    report = verify_app(tmp_path / "app", years=1)
    assert report.ok, [j for j in report.jobs if j.failed]
    assert {j.job_id for j in report.jobs if j.status == "equivalent"} == set(generated.triggers)

    # a running worker, loaded once: before cutover its triggers fire in shadow
    worker = load_app(tmp_path / "app")
    name = generated.triggers[0]
    try:
        shadow_run = await _fire(tmp_path / "app", worker, name)
        assert (shadow_run.status, shadow_run.skip_reason) == ("skipped", "shadow")

        m.cutover(tmp_path / "app", all_jobs=True, ledger_url=ledger)
        assert snapshot(host) != original
        # still provable after the cutover: verify reads the lines under their markers
        assert verify_app(tmp_path / "app", years=1).ok
        live_run = await _fire(tmp_path / "app", worker, name)  # same worker, no restart
        assert live_run.status != "skipped"
        assert live_run.decision_mode == "fallback"
        assert live_run.exit_code is not None or live_run.error_message
    finally:
        worker.close()

    with pytest.raises(FindingError, match="no agent is configured"):
        m.step(tmp_path / "app", [name], to=0.1, ledger_url=ledger)
    stepped = m.step(tmp_path / "app", all_jobs=True, to=0.5, force=True, ledger_url=ledger)
    assert {r["to"] for r in stepped.jobs.values()} == {0.5}
    assert m.rollback(tmp_path / "app", [name], ledger_url=ledger).jobs[name]["to"] == 0.0
    m.rollback(tmp_path / "app", all_jobs=True, to_legacy=True, ledger_url=ledger)
    assert snapshot(host) == original
    actions = [r["action"] for r in m.history(tmp_path / "app", ledger_url=ledger)]
    assert actions.count("cutover") == len(generated.triggers)
    assert actions[-1] == "rollback"


def test_a_job_that_succeeds_runs_through_trigger_after_cutover(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from owlmigrate.cli import cli

    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    original = (
        b"SHELL=/bin/sh\n* * * * * root printf '%s' hi > "
        + str(tmp_path / "out").encode()
        + b"; echo ran\n"
    )
    (root / "etc" / "crontab").write_bytes(original.replace(b"%s", b"\\%s"))
    scan(root=root).dump(tmp_path / "plan.json")
    runner = CliRunner()
    env = {"OWLMIGRATE_SWITCH_WINDOW": "off", "OWLCLAW_LEDGER_URL": f"sqlite:///{tmp_path}/l.db"}
    app = str(tmp_path / "app")
    assert (
        runner.invoke(cli, ["generate", str(tmp_path / "plan.json"), "-o", app], env=env).exit_code
        == 0
    )
    result = runner.invoke(cli, ["cutover", "--all", "--app", app], env=env)
    assert result.exit_code == 0, result.output
    [name] = m.AppDir.load(app).jobs
    assert result.output == f"{name}: cut over\n"
    result = runner.invoke(cli, ["trigger", name, "--app", app], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out").read_text() == "hi"
    # the fallback returns the job's result, so a successful run keeps its exit code and output
    from owlclaw_runtime.ledger import open_store

    from owlmigrate.migration.ledger_identity import app_name_for

    store = open_store(env["OWLCLAW_LEDGER_URL"], app_name=app_name_for(app))
    try:
        [row] = store.history(name)
    finally:
        store.close()
    assert (row.status.value, row.exit_code, row.output_tail) == ("fallback", 0, "ran\n")
    result = runner.invoke(cli, ["rollback", "--all", "--to-legacy", "--app", app], env=env)
    assert result.output == f"{name}: restored to legacy\n"
    assert (root / "etc" / "crontab").read_bytes() == original.replace(b"%s", b"\\%s")


def test_every_corpus_file_generate_handles_goes_back_byte_for_byte(
    corpus_files: list[Path], tmp_path: Path
) -> None:
    """All corpus files at once (one plan, one app): generate, verify, cut over, step and step
    back (module byte-identical), roll back to legacy (every file byte-identical)."""
    from owlmigrate.verify import verify_app

    copies = []
    for source in corpus_files:
        target = tmp_path / "corpus" / source.name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, target)
        copies.append(target)
    original = {p: p.read_bytes() for p in copies}
    scan([str(p) for p in copies]).dump(tmp_path / "plan.json")
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    generated = m.generate(tmp_path / "plan.json", tmp_path / "app", ledger_url=ledger)
    assert len(generated.triggers) > 100
    report = verify_app(tmp_path / "app", years=1)
    assert [j.job_id for j in report.jobs if j.failed] == []
    assert {j.job_id for j in report.jobs if j.status == "equivalent"} == set(generated.triggers)
    result = m.cutover(tmp_path / "app", all_jobs=True, ledger_url=ledger)
    assert set(result.jobs.values()) == {"cut over"}
    touched = {Path(p) for p in result.files}
    assert touched and all(p.read_bytes() != original[p] for p in touched)
    assert all(p.read_bytes() == original[p] for p in copies if p not in touched)
    module = (tmp_path / "app" / "owlclaw_app.py").read_bytes()
    m.step(tmp_path / "app", all_jobs=True, to=0.5, force=True, ledger_url=ledger)
    m.rollback(tmp_path / "app", all_jobs=True, ledger_url=ledger)
    assert (tmp_path / "app" / "owlclaw_app.py").read_bytes() == module
    m.rollback(tmp_path / "app", all_jobs=True, to_legacy=True, ledger_url=ledger)
    assert [p.name for p in copies if p.read_bytes() != original[p]] == []


async def test_the_embedded_scheduler_fires_in_shadow_then_runs_the_job_after_cutover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real LocalScheduler on a virtual clock, one worker across the cutover."""
    from datetime import UTC, datetime

    from owlclaw_runtime.ledger import open_store
    from owlclaw_runtime.loader import load_app
    from owlclaw_runtime.schedulers import FakeClock, LocalScheduler

    monkeypatch.delenv("OWLCLAW_LEDGER_URL", raising=False)
    out = tmp_path / "out.txt"
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    original = f"SHELL=/bin/sh\n*/5 * * * * root echo run >> {out}\n".encode()
    (root / "etc" / "crontab").write_bytes(original)
    scan(root=root).dump(tmp_path / "plan.json")
    app_dir = tmp_path / "app"
    ledger = f"sqlite:///{app_dir / 'owlclaw-ledger.db'}"
    [name] = m.generate(tmp_path / "plan.json", app_dir, ledger_url=ledger).triggers

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    worker = load_app(app_dir)
    clock = FakeClock(at("2026-01-01T00:00:30"))
    scheduler = LocalScheduler(worker, clock=clock, max_sleep_seconds=3600)
    try:
        await scheduler.run_until(at("2026-01-01T00:12:00"))
        assert not out.exists()  # shadow: fired and recorded, nothing ran
        m.cutover(app_dir, all_jobs=True, ledger_url=ledger)
        worker.pipeline.invalidate_state()  # what the state TTL does within two seconds
        await scheduler.run_until(at("2026-01-01T00:22:00"))
    finally:
        worker.close()
    assert out.read_text() == "run\nrun\n"
    store = open_store(ledger, app_name=worker.name)
    try:
        rows = sorted(store.history(name, limit=100), key=lambda e: e.scheduled_at)
    finally:
        store.close()
    assert [(e.scheduled_at.strftime("%H:%M"), e.status.value, e.skip_reason) for e in rows] == [
        ("00:05", "skipped", "shadow"),
        ("00:10", "skipped", "shadow"),
        ("00:15", "fallback", None),
        ("00:20", "fallback", None),
    ]
    m.rollback(app_dir, all_jobs=True, to_legacy=True, ledger_url=ledger)
    assert (root / "etc" / "crontab").read_bytes() == original


def test_a_rescan_after_cutover_regenerates_without_losing_the_cut_over_triggers(
    tmp_path: Path,
) -> None:
    root = tmp_path / "debian-web"
    shutil.copytree(EXAMPLES / "debian-web", root, symlinks=True)
    original = snapshot(root)
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    scan(root=root).dump(tmp_path / "plan.json")
    first = m.generate(tmp_path / "plan.json", tmp_path / "app", ledger_url=ledger)
    m.cutover(tmp_path / "app", ["session_gc", "run_parts_etc_cron_daily"], ledger_url=ledger)
    module = (tmp_path / "app" / "owlclaw_app.py").read_bytes()
    blind = scan(root=root)  # no app: nothing vouches for the markers
    assert "session_gc" not in {j.id for j in blind.jobs}
    assert {(r.code, r.trigger) for r in blind.risks} == {
        ("marker_unverified", "session_gc"),
        ("marker_unverified", "run_parts_etc_cron_daily"),
    }
    blind.dump(tmp_path / "blind.json")
    with pytest.raises(FindingError, match=r"drops jobs that are cut over.*--app DIR"):
        m.generate(tmp_path / "blind.json", tmp_path / "app", ledger_url=ledger)
    rescanned = scan(root=root, app=tmp_path / "app", ledger_url=ledger)
    assert rescanned.job("session_gc").cut_over and not rescanned.risks
    assert {j.runner.marker for j in rescanned.jobs if j.kind == "periodic"} == {
        "run_parts_etc_cron_daily"
    }
    rescanned.dump(tmp_path / "plan2.json")
    again = m.generate(tmp_path / "plan2.json", tmp_path / "app", ledger_url=ledger)
    assert again.triggers == first.triggers
    assert again.updated == ["owlmigrate.json"]  # only the plan path it names
    assert (tmp_path / "app" / "owlclaw_app.py").read_bytes() == module
    manifest = json.loads((tmp_path / "app" / "owlmigrate.json").read_text())
    assert manifest["jobs"]["run_parts_etc_cron_daily"]["covers"] == ["logrotate", "webapp_reports"]
    # jobs in the marked file can still be cut over, and everything goes back byte for byte
    assert m.cutover(tmp_path / "app", all_jobs=True, ledger_url=ledger).jobs["tar"] == "cut over"
    m.rollback(tmp_path / "app", all_jobs=True, to_legacy=True, ledger_url=ledger)
    assert snapshot(root) == original
