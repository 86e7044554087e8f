"""The whole story on copies of the example hosts and on the shared corpus:
scan → generate → verify → cutover → trigger → step → rollback --to-legacy, after which every
crontab file is byte-identical to the original."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from owlmigrate import migration as m
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
