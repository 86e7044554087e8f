"""generate wires each job's mail and syslog as its crontab and dialect say: ``mail=`` from the
crontab's MAILTO/MAILFROM (and cronie's ``-n``), ``syslog=True``; the manifest's ``mail`` field and
``owlmigrate status`` say where the mail goes."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from owlclaw_runtime.loader import load_app

from owlmigrate.codegen import MODULE_NAME, render
from owlmigrate.status import build_status


def job(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "etc_crontab_3",
        "source": "etc/crontab",
        "line": 3,
        "schedule": "30 2 * * *",
        "user": "root",
        "command": "/usr/local/bin/report.sh",
        "env": {},
        "timezone": "UTC",
        "dialect": "debian",
        "enabled": True,
        "kind": "cron",
    }
    return {**base, **overrides}


def plan(*jobs: dict[str, Any]) -> dict[str, Any]:
    return {"host": {"root": "/tmp/x/web01"}, "sources": [], "jobs": list(jobs)}


def _legacy(module: str) -> dict[str, Any]:
    """The literal keyword arguments of the module's only LegacyCommand."""
    [call] = [
        node.value
        for node in ast.parse(module).body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "id", "") == "LegacyCommand"
    ]
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def test_mailto_and_mailfrom_become_the_mail_argument() -> None:
    env = {"MAILTO": "ops@example.com,dba", "MAILFROM": "cron@web01.example.com"}
    rendering = render(plan(job(env=env)))
    kwargs = _legacy(rendering.files[MODULE_NAME].decode())
    assert kwargs["mail"] == {"to": "ops@example.com,dba", "sender": "cron@web01.example.com"}
    assert kwargs["syslog"] is True
    assert rendering.manifest["jobs"]["etc_crontab_3"]["mail"] == {
        "to": "ops@example.com,dba",
        "from": "cron@web01.example.com",
        "when": "when the job prints output",
        "reason": None,
    }


def test_no_mailto_mails_the_owner_and_busybox_mails_nobody() -> None:
    rendering = render(plan(job(user="www-data"), job(id="bb", dialect="busybox", line=4)))
    assert len(rendering.triggers) == 2
    jobs = rendering.manifest["jobs"]
    assert jobs["etc_crontab_3"]["mail"]["to"] == "www-data"
    assert jobs["etc_crontab_3"]["mail"]["from"] == "root (Cron Daemon)"
    assert jobs["bb"]["mail"]["to"] is None
    assert jobs["bb"]["mail"]["reason"] == "busybox crond mails only when MAILTO is set"


def test_cronie_dash_n_mails_only_on_failure() -> None:
    rendering = render(plan(job(dialect="cronie", flags=["mail_on_failure_only"])))
    kwargs = _legacy(rendering.files[MODULE_NAME].decode())
    assert kwargs["mail"] == {"to": None, "sender": None, "on_failure_only": True}
    assert rendering.manifest["jobs"]["etc_crontab_3"]["mail"]["when"] == ("on failure with output")


def test_the_generated_module_compiles_and_status_shows_the_mail(tmp_path: Path) -> None:
    rendering = render(plan(job(env={"MAILTO": ""})))
    for name, data in rendering.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    ast.parse(rendering.files[MODULE_NAME])
    app = load_app(str(tmp_path))
    try:
        [trigger] = build_status(app)["triggers"]
    finally:
        app.close()
    assert trigger["mail"] == {
        "to": None,
        "from": "root (Cron Daemon)",
        "when": "never",
        "reason": 'MAILTO="" (no mail)',
    }
