"""Real crontabs written by others: every line accounted for, nothing crashes; the plan schema
in docs/ is current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from owlmigrate.crontab import LineKind, parse_crontab
from owlmigrate.plan import schema
from owlmigrate.scan import scan

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dialect", ["debian", "cronie", "busybox"])
def test_every_line_of_every_corpus_file_is_accounted_for(corpus_files: list[Path], dialect: str):
    jobs = 0
    for path in corpus_files:
        data = path.read_bytes()
        for system in (False, True):
            f = parse_crontab(data, path=path.name, dialect=dialect, system=system)
            assert b"".join(ln.raw for ln in f.lines) == data, path.name
            physical = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
            assert sum(ln.end_number - ln.number + 1 for ln in f.lines) == physical
            for ln in f.lines:
                assert isinstance(ln.kind, LineKind)
                if ln.kind is LineKind.INVALID:
                    assert ln.error, (path.name, ln.number)
                if ln.kind is LineKind.JOB:
                    assert ln.schedule and ln.command is not None
            if f.runs is False:
                assert f.reason
            jobs += len(f.jobs)
    assert jobs > len(corpus_files)  # most real files hold jobs


def test_scanning_the_whole_corpus_never_crashes(corpus_files: list[Path]):
    plan = scan([str(p) for p in corpus_files], dialect="cronie", timezone="Europe/Berlin")
    assert len(plan.sources) == len(corpus_files)
    ids = [j.id for j in plan.jobs]
    assert len(ids) == len(set(ids)) and all(i.isidentifier() for i in ids)
    assert len(plan.jobs) > 100
    json.loads(plan.to_json())


def test_plan_schema_document_is_current():
    committed = json.loads((REPO / "docs" / "plan.schema.json").read_text())
    assert committed == schema(), "regenerate: python -m owlmigrate.plan > docs/plan.schema.json"
    out = subprocess.run(
        [sys.executable, "-m", "owlmigrate.plan"], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == committed
