"""Health against a real PostgreSQL ledger: healthy while the server answers, unhealthy once the
ledger's database is gone (the outage a liveness probe must see)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from owlclaw_runtime import OwlClawApp
from owlclaw_runtime.observability.health import check_health
from owlclaw_runtime.observability.http import serve

from .test_health_http import fetch

pytestmark = pytest.mark.postgres


def test_dropping_the_ledger_database_makes_the_worker_unhealthy(
    pg_url: str, tmp_path: Path
) -> None:
    admin_url = sa.engine.make_url(pg_url)
    name = f"owl_health_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        app = OwlClawApp("pg-health", ledger=url, app_dir=tmp_path)

        @app.cron("0 4 * * *", event_name="nightly", migration_weight=0.0)
        def nightly(context: dict) -> None:
            """Nightly."""

        report = check_health(app)
        assert report["status"] == "healthy", report
        assert report["checks"]["ledger"]["ok"] is True
        with serve(app, 0) as handle:
            assert fetch(handle.url + "/healthz")[0] == 200
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            status, body = fetch(handle.url + "/healthz")
            assert status == 503, body
        report = check_health(app)
        assert report["status"] == "unhealthy"
        error = report["checks"]["ledger"]["error"]
        assert name in error or "terminat" in error or "does not exist" in error
        assert "owlmigrate:owlmigrate@" not in error  # the password never leaks into health JSON
        app.close()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
