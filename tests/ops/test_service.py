"""``owlmigrate service install|uninstall`` writes a systemd unit that ``systemd-analyze verify``
accepts (it runs without a running systemd), with the worker's stop, restart, watchdog and
ledger ordering; deploy/systemd/owlmigrate-worker@.service is verified the same way."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from owlmigrate.cli import cli
from owlmigrate.service import MARKER, ServiceError, install, render_unit, uninstall

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "systemd" / "owlmigrate-worker@.service"


def verify(unit: Path) -> list[str]:
    """What ``systemd-analyze verify`` says about ``unit`` itself (it exits 0 even for a key it
    ignores, so its messages naming the file are the verdict)."""
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        cwd=unit.parent,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
        timeout=120,
    )
    lines = (done.stdout + done.stderr).splitlines()
    problems = [line for line in lines if unit.name in line or str(unit) in line]
    if done.returncode != 0:
        problems.append(f"exit {done.returncode}: {done.stderr.strip()}")
    return problems


def _unit_keys(text: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            keys[key] = value
    return keys


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    path = tmp_path / "apps" / "web01"
    path.mkdir(parents=True)
    return path


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    bad = tmp_path / "broken.service"
    bad.write_text("[Service]\nType=bogus\nExecStart=/bin/true\n")
    assert verify(bad), "the helper must notice what systemd ignores"


def test_install_writes_a_unit_systemd_accepts(app_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    url = "postgresql+psycopg://owl:secret@127.0.0.1:5432/ledger"
    result = install(
        app_dir,
        root=root,
        ledger_url=url,
        env={"OWLCLAW_TENANT_ID": "web", "HOME": "/root"},
        owlmigrate="/bin/true",
        systemctl=False,
    )
    unit = root / "etc/systemd/system/owlmigrate-worker-web01.service"
    assert result.unit_path == unit and unit.read_text() == result.unit_text
    assert verify(unit) == []
    keys = _unit_keys(unit.read_text())
    assert keys["Type"] == "notify" and keys["NotifyAccess"] == "main"
    assert keys["ExecStart"] == f"/bin/true run --app {app_dir}"
    assert keys["User"] == "root"
    assert keys["Restart"] == "on-failure"
    assert keys["KillMode"] == "mixed" and keys["TimeoutStopSec"] == "3600"
    assert keys["WatchdogSec"] == "120"
    assert keys["After"] == "network-online.target postgresql.service"
    assert keys["EnvironmentFile"] == "-/etc/default/owlmigrate-worker-web01"
    assert keys["WantedBy"] == "multi-user.target"
    env_file = root / "etc/default/owlmigrate-worker-web01"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # the URL holds a password
    assert f'OWLCLAW_LEDGER_URL="{url}"' in env_file.read_text()
    assert 'OWLCLAW_TENANT_ID="web"' in env_file.read_text()
    assert "HOME=" not in env_file.read_text()
    assert result.ran is False and "systemctl daemon-reload" in result.notes[0]


def test_sqlite_ledger_needs_no_database_ordering_and_names_are_quoted(tmp_path: Path) -> None:
    text = render_unit(
        Path("/srv/my apps/a%b"),
        name="x",
        owlmigrate="/usr/bin/owlmigrate",
        env_path=Path("/etc/default/owlmigrate-worker-x"),
        ledger_url=None,
    )
    keys = _unit_keys(text)
    assert keys["After"] == "network-online.target"
    assert keys["ExecStart"] == '/usr/bin/owlmigrate run --app "/srv/my apps/a%%b"'
    remote = render_unit(
        Path("/srv/a"),
        name="x",
        owlmigrate="/usr/bin/owlmigrate",
        env_path=Path("/e"),
        ledger_url="postgresql://u@db.internal/ledger",
    )
    assert "postgresql.service" not in remote


def test_rerun_replaces_dry_run_writes_nothing_and_foreign_units_are_refused(
    app_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    preview = install(app_dir, root=root, owlmigrate="/bin/true", dry_run=True, env={})
    assert not root.exists() and MARKER in preview.unit_text
    install(app_dir, root=root, owlmigrate="/bin/true", systemctl=False, env={})
    again = install(
        app_dir, root=root, owlmigrate="/bin/true", systemctl=False, env={}, stop_timeout=60
    )
    assert "TimeoutStopSec=60" in again.unit_path.read_text()
    foreign = root / "etc/systemd/system/owlmigrate-worker-other.service"
    foreign.write_text("[Service]\nExecStart=/bin/true\n")
    with pytest.raises(ServiceError, match="not written by owlmigrate"):
        install(app_dir, name="other", root=root, owlmigrate="/bin/true", env={})
    with pytest.raises(ServiceError, match="not written by owlmigrate"):
        uninstall(app_dir, name="other", root=root)
    assert foreign.exists()


def test_uninstall_removes_both_files_and_is_safe_to_rerun(app_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    installed = install(app_dir, root=root, owlmigrate="/bin/true", systemctl=False, env={})
    dry = uninstall(app_dir, root=root, dry_run=True, systemctl=False)
    assert installed.unit_path.exists() and len(dry.removed) == 2
    done = uninstall(app_dir, root=root, systemctl=False)
    assert sorted(done.removed) == sorted([str(installed.unit_path), str(installed.env_path)])
    assert not installed.unit_path.exists() and not installed.env_path.exists()
    assert uninstall(app_dir, root=root, systemctl=False).notes == [
        "owlmigrate-worker-web01.service is not installed"
    ]


def test_the_cli_installs_and_uninstalls(app_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    runner = CliRunner()
    args = ["--app", str(app_dir), "--name", "web-01", "--root", str(root), "--no-systemctl"]
    shown = runner.invoke(cli, ["service", "install", *args, "--dry-run"], catch_exceptions=False)
    assert shown.exit_code == 0 and "Type=notify" in shown.output and not root.exists()
    made = runner.invoke(cli, ["service", "install", *args, "--executable", "/bin/true", "--json"])
    assert made.exit_code == 0, made.output
    data = json.loads(made.stdout)
    assert data["unit"] == "owlmigrate-worker-web-01.service"
    assert verify(Path(data["unit_path"])) == []
    gone = runner.invoke(cli, ["service", "uninstall", *args], catch_exceptions=False)
    assert gone.exit_code == 0 and "removed" in gone.output
    missing = runner.invoke(cli, ["service", "install", "--app", str(tmp_path / "nope")])
    assert missing.exit_code == 2


def test_the_deploy_template_verifies_as_an_instance(tmp_path: Path) -> None:
    # the template's ExecStart binary must exist for verify: point it at one that does
    text = TEMPLATE.read_text().replace("/usr/local/bin/owlmigrate", shutil.which("true") or "")
    (tmp_path / "owlmigrate-worker@.service").write_text(text)
    instance = tmp_path / "owlmigrate-worker@web01.service"
    instance.symlink_to("owlmigrate-worker@.service")
    assert verify(instance) == []
    keys = _unit_keys(text)
    generated = _unit_keys(
        render_unit(
            Path("/var/lib/owlmigrate/%i"),
            name="%i",
            owlmigrate="/bin/true",
            env_path=Path("/etc/default/owlmigrate-worker-%i"),
            ledger_url="postgresql://127.0.0.1/x",
        )
    )
    # the shipped template and what `service install` writes agree on every setting
    for key in ("Type", "NotifyAccess", "User", "Restart", "KillMode", "TimeoutStopSec"):
        assert keys[key] == generated[key], key
    assert keys["WatchdogSec"] == generated["WatchdogSec"]
    assert keys["After"] == generated["After"]
