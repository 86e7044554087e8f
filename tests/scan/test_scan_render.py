"""The shared renderer: tables that fit, JSON of models."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from owlmigrate.commands.scan import _StderrProgress
from owlmigrate.plan import Host, Plan
from owlmigrate.render import shorten, table, to_json, to_jsonable


def test_shorten():
    assert shorten("abcdef", 4) == "abc…"
    assert shorten("abc", 4) == "abc"
    assert shorten("a\tb\nc", 10) == "a b c"
    assert shorten("abc", 0) == ""


def test_table_pads_and_fits_the_flexible_columns():
    rows = [["job_a", "x" * 50], ["b", "short"]]
    text = table(["ID", "COMMAND"], rows, max_width=30, flexible=["COMMAND"])
    lines = text.splitlines()
    assert lines[0] == "ID     COMMAND"
    assert lines[1] == "job_a  " + "x" * 22 + "…"
    assert lines[2] == "b      short"
    assert max(len(line) for line in lines) <= 30
    wide = table(["ID", "COMMAND"], rows, max_width=200, flexible=["COMMAND"])
    assert "x" * 50 in wide


def test_json_of_models_and_containers():
    plan = Plan(host=Host(root=None, dialect="cronie", timezone="UTC", systemd=False))
    data = to_jsonable({"plan": plan, "list": [plan], 1: None})
    assert data["plan"]["host"]["dialect"] == "cronie" and data["1"] is None
    assert json.loads(to_json(plan))["format_version"] == 1


def test_progress_line_is_cleared():
    runner = CliRunner()

    def go() -> None:
        p = _StderrProgress()
        p(1, 2, "etc/crontab")
        p.close()

    @click.command()
    def cmd() -> None:
        go()

    result = runner.invoke(cmd)
    assert "scanning 1/2 etc/crontab" in result.stderr
    assert result.stderr.endswith("\r")
