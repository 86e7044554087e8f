"""parse_crontab: every line classified as each daemon reads it, with exact byte spans."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from owlmigrate.crontab import (
    LineKind,
    parse_anacrontab,
    parse_crontab,
    parse_env_line,
    split_percent,
)


def kinds(data: bytes, dialect: str = "debian", system: bool = False) -> list[str]:
    return [
        ln.kind.value for ln in parse_crontab(data, path="t", dialect=dialect, system=system).lines
    ]


@pytest.mark.parametrize(
    ("line", "dialect", "expected"),
    [
        ("FOO=bar", "debian", ("FOO", "bar")),
        ("FOO = bar baz  ", "debian", ("FOO", "bar baz")),
        ("  FOO=  bar", "debian", ("FOO", "bar")),
        ('FOO="  padded  "', "debian", ("FOO", "  padded  ")),
        ("FOO='single'   ", "cronie", ("FOO", "single")),
        ('"QUOTED NAME"=x', "cronie", ("QUOTED NAME", "x")),
        ('MAILTO=""', "debian", ("MAILTO", "")),
        ("MAILTO=", "cronie", ("MAILTO", "")),
        ("MAILTO=", "debian", None),
        ("PATH=$PATH:/opt/bin", "debian", ("PATH", "$PATH:/opt/bin")),
        ('FOO="bar" trailing', "debian", None),
        ("0 * * * * cmd", "debian", None),
        ("* * * * * FOO=bar cmd", "cronie", None),
        ("FOO=bar # not a comment", "debian", ("FOO", "bar # not a comment")),
    ],
)
def test_env_lines_follow_load_env(line: str, dialect: str, expected: tuple[str, str] | None):
    assert parse_env_line(line, dialect) == expected


@pytest.mark.parametrize(
    ("command", "dialect", "expected"),
    [
        ("echo hi", "debian", ("echo hi", None)),
        ("date +\\%Y", "cronie", ("date +%Y", None)),
        ("mail -s x root%line1%line2", "cronie", ("mail -s x root", "line1\nline2\n")),
        ("cat%a\\%b%", "cronie", ("cat", "a%b\n")),
        ("cat%a\\\\b", "cronie", ("cat", "a\\\\b\n")),
        ("cat%a\\\\b", "debian", ("cat", "a\\b\n")),
        ("cat%x%", "cronie", ("cat", "x\n")),
        ("keep \\n%x", "debian", ("keep \\n", "x\n")),
        ("date +%Y", "busybox", ("date +%Y", None)),
    ],
)
def test_percent_splits_command_and_stdin(command, dialect, expected):
    got, stdin, _cut = split_percent(command, dialect)
    assert (got, stdin) == expected


def test_debian_ignores_the_whole_file_on_one_bad_line():
    f = parse_crontab(
        b"0 1 * * * ok\nMAILTO=\n0 2 * * * also\n", path="t", dialect="debian", system=False
    )
    assert not f.runs
    assert "line 2" in (f.reason or "") and 'NAME=""' in (f.reason or "")
    assert [ln.kind for ln in f.lines] == [LineKind.JOB, LineKind.INVALID, LineKind.JOB]
    assert f.errors[0][0] == 2


def test_cronie_drops_only_the_bad_line():
    f = parse_crontab(
        b"5/15 * * * * poll\n0 2 * * * ok\n", path="t", dialect="cronie", system=False
    )
    assert f.runs
    assert [ln.kind.value for ln in f.lines] == ["invalid", "job"]
    assert "5/15" in (f.lines[0].error or "")


@pytest.mark.parametrize(("dialect", "runs"), [("debian", False), ("cronie", True)])
def test_missing_final_newline(dialect: str, runs: bool):
    f = parse_crontab(b"0 1 * * * a\n0 2 * * * b", path="t", dialect=dialect, system=False)
    assert f.runs is runs
    assert f.lines[-1].kind is LineKind.INVALID
    assert "missing newline" in (f.lines[-1].error or "")


def test_trailing_comment_without_newline_is_fine():
    f = parse_crontab(b"0 1 * * * a\n# end", path="t", dialect="debian", system=False)
    assert f.runs and f.lines[-1].kind is LineKind.COMMENT


def test_env_accumulates_line_by_line_and_cron_tz_changes_midway():
    data = b"CRON_TZ=UTC\n0 1 * * * a\nCRON_TZ=Europe/Berlin\nX = 1\n0 2 * * * b\n"
    f = parse_crontab(data, path="t", dialect="cronie", system=False)
    jobs = f.jobs
    assert jobs[0].env == {"CRON_TZ": "UTC"}
    assert jobs[1].env == {"CRON_TZ": "Europe/Berlin", "X": "1"}


def test_system_crontab_has_a_user_column():
    f = parse_crontab(
        b"17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n",
        path="etc/crontab",
        dialect="debian",
        system=True,
    )
    job = f.jobs[0]
    assert (job.schedule, job.user, job.command) == (
        "17 * * * *",
        "root",
        "cd / && run-parts --report /etc/cron.hourly",
    )


def test_debian_rejects_system_file_with_unknown_user():
    f = parse_crontab(
        b"0 1 * * * nobody2 /x\n", path="t", dialect="debian", system=True, users={"root"}
    )
    assert not f.runs and "unknown user" in (f.reason or "")
    g = parse_crontab(
        b"0 1 * * * nobody2 /x\n", path="t", dialect="cronie", system=True, users={"root"}
    )
    assert g.runs


def test_macros_and_reboot():
    f = parse_crontab(
        b"@reboot /a\n@daily  /b c\n@MONTHLY /c\n", path="t", dialect="cronie", system=False
    )
    assert [ln.kind.value for ln in f.lines] == ["job", "job", "invalid"]
    assert f.lines[0].spec.reboot and f.lines[1].command == "/b c"


def test_cronie_dash_prefix_and_mail_on_failure_option():
    f = parse_crontab(
        b"-*/5 * * * * root /x\n0 1 * * * root -n /y\n", path="t", dialect="cronie", system=True
    )
    assert f.lines[0].flags == ("no_log",) and f.lines[0].schedule == "*/5 * * * *"
    assert f.lines[1].command == "/y" and "mail_on_failure_only" in f.lines[1].flags
    d = parse_crontab(b"-*/5 * * * * root /x\n", path="t", dialect="debian", system=True)
    assert not d.runs
    u = parse_crontab(b"-*/5 * * * * /x\n", path="t", dialect="cronie", system=False, user="alice")
    assert u.lines[0].kind is LineKind.INVALID


def test_disabled_jobs_but_not_the_stock_examples():
    data = (
        b"# m h  dom mon dow   command\n"
        b"# 0 5 * * 1 tar -zcf /var/backups/home.tgz /home/\n"
        b"#30 2 * * * /srv/old.sh --full\n"
        b"# 5 minutes past the hour we rotate\n"
        b"##  @daily /srv/daily.sh\n"
    )
    f = parse_crontab(data, path="t", dialect="debian", system=False)
    assert [ln.kind.value for ln in f.lines] == [
        "comment",
        "comment",
        "disabled_job",
        "comment",
        "disabled_job",
    ]
    assert f.lines[2].schedule == "30 2 * * *" and f.lines[2].command == "/srv/old.sh --full"
    sysf = parse_crontab(
        b"# *  *  *  *  * user-name command to be executed\n",
        path="t",
        dialect="debian",
        system=True,
    )
    assert sysf.lines[0].kind is LineKind.COMMENT


def test_debian_command_length_limit():
    long = b"0 1 * * * " + b"x" * 999 + b"\n"
    assert not parse_crontab(long, path="t", dialect="debian", system=False).runs
    assert parse_crontab(long, path="t", dialect="cronie", system=False).runs


def test_crlf_line_keeps_the_carriage_return_and_warns():
    f = parse_crontab(b"0 1 * * * /x\r\n", path="t", dialect="cronie", system=False)
    assert f.lines[0].command == "/x\r"
    assert any("carriage return" in w for w in f.lines[0].warnings)
    # Debian: a CRLF blank line is not blank; the whole file is refused.
    assert not parse_crontab(b"\r\n0 1 * * * /x\n", path="t", dialect="debian", system=False).runs


class TestBusybox:
    def test_hash_anywhere_ends_the_line(self):
        f = parse_crontab(
            b"30 * * * * /check.sh # --verbose\n", path="t", dialect="busybox", system=False
        )
        assert f.lines[0].command == "/check.sh"
        assert any("'#'" in w for w in f.lines[0].warnings)

    def test_macro_lines_keep_the_comment_in_the_command(self):
        f = parse_crontab(b"@daily /x # y\n", path="t", dialect="busybox", system=False)
        assert f.lines[0].command == "/x # y"

    def test_backslash_joins_lines_into_one_logical_line(self):
        data = b"15 0 * * * /export.sh \\\n/out.json\n0 1 * * * /b\n"
        f = parse_crontab(data, path="t", dialect="busybox", system=False)
        first = f.lines[0]
        assert (first.number, first.end_number) == (1, 2)
        assert first.command == "/export.sh /out.json"
        assert f.lines[1].number == 3

    def test_seven_is_kept_with_a_warning(self):
        f = parse_crontab(b"0 6 * * 7 /x\n", path="t", dialect="busybox", system=False)
        assert f.lines[0].kind is LineKind.JOB and f.lines[0].warnings
        assert f.lines[0].spec.dow == frozenset(range(7))

    def test_only_mailto_shell_path_are_settings(self):
        f = parse_crontab(
            b"MAILTO=ops\nFOO=bar\nSHELL=/bin/ash\n0 1 * * * /x\n",
            path="t",
            dialect="busybox",
            system=False,
        )
        assert [ln.kind.value for ln in f.lines] == ["env", "invalid", "env", "job"]
        assert f.lines[3].env == {"MAILTO": "ops", "SHELL": "/bin/ash"}
        assert f.runs

    def test_no_percent_processing(self):
        f = parse_crontab(b"0 1 * * * date +%F\n", path="t", dialect="busybox", system=False)
        assert f.lines[0].command == "date +%F" and f.lines[0].stdin is None

    def test_non_root_files_stop_after_255_entries(self):
        data = b"".join(b"0 1 * * * /j%d\n" % i for i in range(300))
        f = parse_crontab(data, path="t", dialect="busybox", system=False, user="app")
        assert len(f.jobs) == 255
        assert f.lines[255].kind is LineKind.INVALID


def test_anacrontab_lines():
    data = (
        b"SHELL=/bin/sh\nRANDOM_DELAY=45\nSTART_HOURS_RANGE=3-22\n"
        b"1\t5\tcron.daily\t\tnice run-parts /etc/cron.daily\n"
        b"@monthly 45 cron.monthly run-parts /etc/cron.monthly\n"
        b"@fortnightly 1 x /y\nbogus line\n"
    )
    f = parse_anacrontab(data, path="etc/anacrontab")
    assert [ln.kind.value for ln in f.lines] == [
        "env",
        "env",
        "env",
        "job",
        "job",
        "invalid",
        "invalid",
    ]
    a = f.lines[3].anacron
    assert (a.period, a.delay, a.job_id) == ("1", 5, "cron.daily")
    assert f.lines[3].env["START_HOURS_RANGE"] == "3-22"
    assert b"".join(ln.raw for ln in f.lines) == data


def test_non_utf8_bytes_are_kept():
    data = b"0 1 * * * echo caf\xe9\n"
    f = parse_crontab(data, path="t", dialect="cronie", system=False)
    assert b"".join(ln.raw for ln in f.lines) == data
    assert f.lines[0].command.encode("utf-8", "surrogateescape") == b"echo caf\xe9"


def test_spans_point_into_the_file():
    data = b"# c\n\nA=1\n0 1 * * * /x\n"
    f = parse_crontab(data, path="t", dialect="debian", system=False)
    for ln in f.lines:
        assert data[ln.start : ln.end] == ln.raw
    assert f.line(4).command == "/x"


_line = st.one_of(
    st.sampled_from(
        [
            "0 1 * * * /x",
            "# comment",
            "",
            "  ",
            "A=1",
            'B = "q"',
            "C=",
            "@reboot /r",
            "*/5 * * * * a%b\\%c",
            "5/15 * * * * bad",
            "30 * * * * x # y",
            "a \\",
            "\t0 2 1 1 1 z",
            "0 0 31 2 * never",
            "-0 1 * * * root q",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n"), max_size=40),
)


@given(
    lines=st.lists(_line, max_size=20),
    end=st.sampled_from(["", "\n", "\r\n"]),
    dialect=st.sampled_from(["debian", "cronie", "busybox"]),
    system=st.booleans(),
    junk=st.binary(max_size=8),
)
def test_spans_reproduce_any_crontab_byte_for_byte(lines, end, dialect, system, junk):
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + junk + end.encode()
    f = parse_crontab(data, path="t", dialect=dialect, system=system)
    assert b"".join(ln.raw for ln in f.lines) == data
    pos = 0
    for ln in f.lines:
        assert ln.start == pos and ln.end > ln.start and data[ln.start : ln.end] == ln.raw
        pos = ln.end
        assert ln.kind is not LineKind.INVALID or ln.error
    assert pos == len(data)
