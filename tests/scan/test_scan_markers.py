"""Marker lines found in raw bytes, and the shell commands that give a line back, run for real."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from owlmigrate.markers import AppRecord, find_markers, restore_command, verdict
from owlmigrate.rewrite.crontab_edit import LineEdit, disable_lines, marker


def test_markers_are_found_and_continued_lines_grouped() -> None:
    data = (
        b"A=1\n"
        b"#owlmigrate:job: 0 1 * * * /a \\\n"
        b"#owlmigrate:job:  --x\n"
        b"#owlmigrate:other: 0 2 * * * /b\n"
        b"#owlmigrate:broken no colon\n"
        b" #owlmigrate:indented: 0 3 * * * /c\n"
    )
    found = find_markers(data)
    assert [(f.name, f.number, f.end_number, f.canonical) for f in found] == [
        ("job", 2, 3, True),
        ("other", 4, 4, True),
        ("broken", 5, 5, False),
    ]
    assert found[0].freed == b"0 1 * * * /a \\\n --x\n"
    assert data[found[0].start : found[0].end].count(b"#owlmigrate:job: ") == 2


def test_the_verdict_needs_the_app_the_file_and_the_journals_hash() -> None:
    line = b"0 1 * * * /a\n"
    [found] = find_markers(marker("job") + line)
    digest = hashlib.sha256(line).hexdigest()
    app = AppRecord(
        directory="/app",
        triggers={"job": "etc/crontab"},
        cutover_hashes={"job": frozenset({digest})},
        names=frozenset({"job"}),
        cut_over=frozenset({"job"}),
    )
    assert verdict(found, "etc/crontab", None) == "unverified"
    assert verdict(found, "etc/crontab", app) == "cut_over"
    assert verdict(found, "etc/cron.d/x", app) == "not_ours"
    assert verdict(found, "etc/crontab", app, groups=2) == "not_ours"
    other = AppRecord(
        "/app", {"job": "etc/crontab"}, {"job": frozenset({"0" * 64})}, app.names, app.cut_over
    )
    assert verdict(found, "etc/crontab", other) == "not_ours"
    nobody = AppRecord("/app", {}, {}, frozenset(), frozenset())
    assert verdict(found, "etc/crontab", nobody) == "no_trigger"


names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\0"),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(name=names, forged=st.booleans())
def test_the_shell_restore_gives_back_exactly_the_line(
    name: str, forged: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tab = Path(tmp_path_factory.mktemp("tab")) / "cron.d-x"
    original = b"0 1 * * * root /bin/echo '&\\1' /x/\n1 2 * * * root /keep\n"
    line = original.split(b"\n")[0] + b"\n"
    raw = "".join(c for c in name if c != ":" and not c.isspace()).encode()
    if forged:  # a comment someone wrote: any bytes but ':' and blanks in the name
        marked = b"#owlmigrate:" + raw + b": " + original
    else:
        marked = disable_lines(original, [LineEdit(name, 0, len(line), line)])
    tab.write_bytes(marked)
    [found] = find_markers(marked)
    assert forged or found.name == name
    command = restore_command(
        found.prefix, trigger=name, source=str(tab), kind="system", user=None, host_path=str(tab)
    )
    subprocess.run(["sh", "-c", command], check=True)
    assert tab.read_bytes() == original


def test_a_user_spool_is_restored_through_crontab() -> None:
    command = restore_command(
        marker("gc"),
        trigger="gc",
        source="var/spool/cron/crontabs/www-data",
        kind="user",
        user="www-data",
        host_path="/var/spool/cron/crontabs/www-data",
    )
    assert command == (
        "crontab -u www-data -l | sed 's/^#owlmigrate:gc: //' | crontab -u www-data -"
    )
    app = restore_command(
        marker("gc"),
        trigger="gc",
        source="x",
        kind="user",
        user="u",
        host_path="/x",
        app_dir="/srv/my app",
    )
    assert app == "owlmigrate rollback gc --to-legacy --app '/srv/my app'"
