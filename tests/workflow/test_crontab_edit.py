"""Disabling and restoring crontab lines on raw bytes: markers, byte identity, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from owlmigrate.rewrite import (
    CrontabEditError,
    LineEdit,
    disable_lines,
    disabled_spans,
    is_disabled,
    marker,
    restore_lines,
    strip_markers,
)

CRONTAB = (
    b"SHELL=/bin/sh\n"
    b'MAILTO=""\n'
    b"30 2 * * * root /usr/local/bin/backup.sh % in%put\n"
    b"  */5 * * * *\twww-data  flock -n /tmp/l php /srv/cron.php  \n"
    b"# a comment\n"
    b"0 0 1 * * root echo last"
)


def _span(data: bytes, needle: bytes) -> tuple[int, int]:
    start = data.index(needle)
    end = data.find(b"\n", start)
    return start, len(data) if end == -1 else end + 1


def test_marker_names_the_trigger_and_quotes_awkward_names() -> None:
    assert marker("backup_db") == b"#owlmigrate:backup_db: "
    assert marker("a b:c\n") == b"#owlmigrate:a%20b%3Ac%0A: "


def test_it_comments_exactly_the_migrated_line() -> None:
    start, end = _span(CRONTAB, b"30 2")
    after = disable_lines(CRONTAB, [LineEdit("backup", start, end, CRONTAB[start:end])])
    assert after == CRONTAB.replace(b"30 2 * * *", b"#owlmigrate:backup: 30 2 * * *")
    assert is_disabled(after, "backup")
    assert not is_disabled(after, "other")


def test_it_keeps_leading_blanks_and_tabs_of_the_line() -> None:
    start, end = _span(CRONTAB, b"  */5")
    after = disable_lines(CRONTAB, [LineEdit("php", start, end, CRONTAB[start:end])])
    assert (
        b"#owlmigrate:php:   */5 * * * *\twww-data  flock -n /tmp/l php /srv/cron.php  \n" in after
    )
    assert restore_lines(after, "php") == CRONTAB


def test_a_last_line_without_newline_is_disabled_and_restored() -> None:
    start, end = _span(CRONTAB, b"0 0 1")
    after = disable_lines(CRONTAB, [LineEdit("last", start, end, CRONTAB[start:end])])
    assert after.endswith(b"\n#owlmigrate:last: 0 0 1 * * root echo last")
    assert restore_lines(after, "last", CRONTAB[start:end]) == CRONTAB


def test_a_multi_line_span_gets_a_marker_on_every_physical_line() -> None:
    data = b"0 1 * * * a \\\ncontinued\n5 * * * * b\n"
    after = disable_lines(data, [LineEdit("j", 0, 24, data[:24])])
    assert after == b"#owlmigrate:j: 0 1 * * * a \\\n#owlmigrate:j: continued\n5 * * * * b\n"
    assert disabled_spans(after, "j") == [(0, 29), (29, 54)]
    assert restore_lines(after, "j", data[:24]) == data


def test_it_refuses_when_the_line_changed_since_the_scan() -> None:
    start, end = _span(CRONTAB, b"30 2")
    with pytest.raises(CrontabEditError, match="not what scan found"):
        disable_lines(CRONTAB, [LineEdit("backup", start, end, b"31 2 * * * other\n")], path="c")


def test_it_refuses_spans_that_do_not_start_a_line_or_overlap() -> None:
    with pytest.raises(CrontabEditError, match="does not start a line"):
        disable_lines(CRONTAB, [LineEdit("x", 3, 10, CRONTAB[3:10])])
    start, end = _span(CRONTAB, b"30 2")
    with pytest.raises(CrontabEditError, match="overlap"):
        disable_lines(
            CRONTAB,
            [
                LineEdit("a", start, end, CRONTAB[start:end]),
                LineEdit("b", start, end, CRONTAB[start:end]),
            ],
        )


def test_restore_refuses_a_disabled_line_edited_since_cutover() -> None:
    start, end = _span(CRONTAB, b"30 2")
    after = disable_lines(CRONTAB, [LineEdit("backup", start, end, CRONTAB[start:end])])
    edited = after.replace(b"backup.sh", b"backup2.sh")
    with pytest.raises(CrontabEditError, match="edited since cutover"):
        restore_lines(edited, "backup", CRONTAB[start:end], path="etc/crontab")


def test_restore_is_idempotent() -> None:
    assert restore_lines(CRONTAB, "backup") == CRONTAB


def test_a_marker_of_another_trigger_is_left_alone() -> None:
    start, end = _span(CRONTAB, b"30 2")
    after = disable_lines(CRONTAB, [LineEdit("backup", start, end, CRONTAB[start:end])])
    assert restore_lines(after, "backup_db") == after
    assert strip_markers(after, ["backup_db", "backup"]) == CRONTAB


lines = st.lists(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")), min_size=1, max_size=12
)


@given(lines=lines, data=st.data(), final_newline=st.booleans())
def test_disable_then_restore_is_the_identity_and_touches_only_chosen_lines(
    lines: list[bytes], data: st.DataObject, final_newline: bool
) -> None:
    text = b"\n".join(lines) + (b"\n" if final_newline else b"")
    offsets = []
    pos = 0
    for index, line in enumerate(lines):
        end = pos + len(line) + (1 if index < len(lines) - 1 or final_newline else 0)
        offsets.append((pos, end))
        pos = end
    chosen = data.draw(st.sets(st.integers(0, len(lines) - 1), min_size=1))
    edits = [LineEdit(f"job{i}", *offsets[i], text[offsets[i][0] : offsets[i][1]]) for i in chosen]
    after = disable_lines(text, edits)
    # the only change: each chosen line (and no other) starts with its trigger's marker
    expected = b"\n".join(
        (marker(f"job{i}") if i in chosen else b"") + line for i, line in enumerate(lines)
    ) + (b"\n" if final_newline else b"")
    assert after == expected
    for i in chosen:
        assert is_disabled(after, f"job{i}")
    for i in chosen:
        after = restore_lines(after, f"job{i}", text[offsets[i][0] : offsets[i][1]])
    assert after == text


def test_restore_checks_the_freed_line_against_a_hash() -> None:
    import hashlib

    start, end = _span(CRONTAB, b"30 2")
    line = CRONTAB[start:end]
    after = disable_lines(CRONTAB, [LineEdit("backup", start, end, line)])
    digest = hashlib.sha256(line).hexdigest()
    assert restore_lines(after, "backup", original_sha256=digest) == CRONTAB
    with pytest.raises(CrontabEditError, match="edited since cutover"):
        restore_lines(after.replace(b"backup.sh", b"other.sh"), "backup", original_sha256=digest)
