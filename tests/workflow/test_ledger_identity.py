"""The ledger an app belongs to: its id recorded by generate, refused when another ledger (or
an empty one, with jobs cut over) is in its place; one app per host, rows carried over from
before schema version 3 and across a rename."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.ledger import schema as s

from owlmigrate import migration as m
from owlmigrate.cli import cli
from owlmigrate.codegen.app_name import default_app_name
from owlmigrate.errors import FindingError

CRONTAB = b"SHELL=/bin/sh\n30 2 * * * root /usr/local/bin/backup.sh\n15 * * * * root /bin/sync\n"
BACKUP, SYNC = "etc_crontab_2", "etc_crontab_3"


@pytest.fixture
def plan(make_plan: Callable[..., Path]) -> Path:
    return make_plan({"etc/crontab": CRONTAB})


def manifest(app: Path) -> dict:
    return json.loads((app / "owlmigrate.json").read_text())


def write_manifest(app: Path, data: dict) -> None:
    (app / "owlmigrate.json").write_text(json.dumps(data, indent=2) + "\n")


def module(app: Path) -> str:
    return (app / "owlclaw_app.py").read_text()


def test_generate_records_the_ledger_id_and_the_app_name(
    plan: Path, tmp_path: Path, ledger_url: str
) -> None:
    app = tmp_path / "app"
    m.generate(plan, app, ledger_url=ledger_url)
    store = open_store(ledger_url)
    try:
        assert manifest(app)["ledger_id"] == store.ledger_id
    finally:
        store.close()
    assert manifest(app)["app_name"] == manifest(app)["host"] == "host"
    assert 'OwlClawApp("host")' in module(app)
    assert m.generate(plan, app, ledger_url=ledger_url).updated == []  # rerun: a no-op


def test_another_ledger_is_refused_naming_both_ids(
    plan: Path, tmp_path: Path, ledger_url: str
) -> None:
    app = tmp_path / "app"
    m.generate(plan, app, ledger_url=ledger_url)
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    recorded = manifest(app)["ledger_id"]
    before = module(app)
    for attempt in (
        lambda: m.generate(plan, app, ledger_url=other),
        lambda: m.cutover(app, [SYNC], ledger_url=other),
        lambda: m.rollback(app, [BACKUP], ledger_url=other),
        lambda: m.history(app, ledger_url=other),
        lambda: m.stages(app, ledger_url=other),
    ):
        with pytest.raises(FindingError) as refused:
            attempt()
        text = str(refused.value)
        assert recorded in text and "other.db" in text and "is not this app's" in text
    assert module(app) == before  # still shadow=False for the cut-over job
    assert "    shadow=False,\n" in before


def test_the_cli_exits_1_for_another_ledger(
    plan: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tmp_path / "app"
    monkeypatch.delenv("OWLCLAW_LEDGER_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli, ["generate", str(plan), "-o", str(app)]).exit_code == 0
    assert runner.invoke(cli, ["status", "--app", str(app)]).exit_code == 0
    monkeypatch.setenv("OWLCLAW_LEDGER_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    for args in (["status", "--app", str(app)], ["cutover", "--all", "--app", str(app)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert "elsewhere.db" in result.output and manifest(app)["ledger_id"] in result.output


def test_an_empty_ledger_is_refused_while_jobs_are_cut_over(
    plan: Path, tmp_path: Path, ledger_url: str
) -> None:
    """An app from before ledger ids (no ``ledger_id``) meeting a new ledger."""
    app = tmp_path / "app"
    m.generate(plan, app, ledger_url=ledger_url)
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    data = manifest(app)
    del data["ledger_id"]
    write_manifest(app, data)
    before = module(app)
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    with pytest.raises(FindingError) as refused:
        m.generate(plan, app, ledger_url=fresh)
    text = str(refused.value)
    assert "fresh.db" in text and BACKUP in text and "holds no journal" in text
    with pytest.raises(FindingError, match="holds no journal"):
        m.step(app, [BACKUP], to=0.1, force=True, ledger_url=fresh)
    assert module(app) == before  # nothing put back into shadow


def test_an_older_app_adopts_its_rows_and_the_ledger_id_on_the_next_generate(
    plan: Path, tmp_path: Path, ledger_url: str
) -> None:
    """As after upgrading to schema version 3: the app's rows are the "default" app's and the
    manifest has neither ``app_name`` nor ``ledger_id``."""
    app = tmp_path / "app"
    m.generate(plan, app, ledger_url=ledger_url)
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    engine = sa.create_engine(ledger_url)
    try:
        with engine.begin() as conn:
            for table in (s.journal, s.trigger_states, s.management_events):
                conn.execute(sa.update(table).values(app_name=s.DEFAULT_APP))
    finally:
        engine.dispose()
    data = manifest(app)
    del data["ledger_id"], data["app_name"]
    write_manifest(app, data)
    m.generate(plan, app, ledger_url=ledger_url)
    assert "    shadow=False,\n" in module(app)  # the journal still knows the cutover
    store = open_store(ledger_url, app_name="host")
    try:
        assert manifest(app)["ledger_id"] == store.ledger_id
        assert {e.job for e in store.journal()} == {BACKUP, SYNC}
        assert store.get_trigger_state(BACKUP).shadow is False
    finally:
        store.close()
    assert m.rollback(app, [BACKUP], ledger_url=ledger_url).jobs  # and acts on them


def test_a_renamed_app_keeps_its_journal(plan: Path, tmp_path: Path, ledger_url: str) -> None:
    app = tmp_path / "app"
    m.generate(plan, app, ledger_url=ledger_url)
    m.cutover(app, [BACKUP], ledger_url=ledger_url)
    m.generate(plan, app, ledger_url=ledger_url, app_name="web-3")
    assert 'OwlClawApp("web-3")' in module(app) and "    shadow=False,\n" in module(app)
    assert manifest(app)["app_name"] == "web-3"
    m.generate(plan, app, ledger_url=ledger_url)  # the name sticks
    assert manifest(app)["app_name"] == "web-3"
    store = open_store(ledger_url, app_name="web-3")
    old = open_store(ledger_url, app_name="host")
    try:
        assert BACKUP in {e.job for e in store.journal()} and old.journal() == []
        assert store.get_trigger_state(BACKUP).shadow is False
    finally:
        store.close()
        old.close()
    assert m.rollback(app, [BACKUP], to_legacy=True, ledger_url=ledger_url).jobs


def test_generate_app_name_option(plan: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OWLCLAW_LEDGER_URL", raising=False)
    app = tmp_path / "app"
    result = CliRunner().invoke(cli, ["generate", str(plan), "-o", str(app), "--app-name", "db-7"])
    assert result.exit_code == 0, result.output
    assert manifest(app)["app_name"] == "db-7" and 'OwlClawApp("db-7")' in module(app)
    empty = CliRunner().invoke(cli, ["generate", str(plan), "-o", str(app), "--app-name", " "])
    assert empty.exit_code == 2


def test_the_live_host_is_named_after_its_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "web-1.example.org")
    assert default_app_name({"root": "/"}) == "web-1.example.org"
    assert default_app_name({"root": "/srv/copies/debian-web"}) == "debian-web"
    assert default_app_name({"root": None}) == "localhost"  # explicit crontab paths
