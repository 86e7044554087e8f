"""Risk rules that need the cron model: DST exposure, the DOM/DOW rules, cronie '~'."""

from __future__ import annotations

from datetime import datetime

import pytest
from owlclaw_runtime.schedule import parse

from owlmigrate.analyze import analyze_command
from owlmigrate.analyze.risks import JobContext, dst_exposure, job_risks


def ctx(
    schedule: str,
    *,
    dialect: str = "debian",
    tz: str = "UTC",
    semantics: str = "daemon",
    command: str = "/x",
    env: dict[str, str] | None = None,
) -> JobContext:
    return JobContext(
        dialect=dialect,
        kind="cron",
        schedule=schedule,
        spec=parse(schedule, dialect=dialect),
        command=command,
        command_raw=command,
        stdin=None,
        env=env if env is not None else {"MAILTO": ""},
        user="root",
        users={"root"},
        timezone=tz,
        semantics=semantics,
        host_systemd=False,
        shell=analyze_command(command),
    )


def codes(c: JobContext) -> list[str]:
    return [r.code for r in job_risks(c)]


def test_dst_exposure_in_london_2025():
    # Europe/London 2025: 03-30 01:00 GMT -> 02:00 BST (01:xx skipped),
    # 10-26 02:00 BST -> 01:00 GMT (01:xx repeated).
    spec = parse("30 1 * * *", dialect="debian")
    assert dst_exposure(spec, "Europe/London", (2025,)) == [
        (datetime(2025, 3, 30, 1, 30), True),
        (datetime(2025, 10, 26, 1, 30), False),
    ]
    assert dst_exposure(parse("30 2 * * *", dialect="debian"), "Europe/London", (2025,)) == []
    # Weekday-only jobs never meet a Sunday transition.
    assert dst_exposure(parse("30 1 * * 1-5", dialect="debian"), "Europe/London", (2025,)) == []
    assert dst_exposure(spec, "UTC", (2025,)) == []
    assert dst_exposure(spec, "No/Such_Zone", (2025,)) == []


@pytest.mark.parametrize(
    ("schedule", "semantics", "fragment"),
    [
        ("30 1 * * *", "daemon", "runs once right after the jump"),
        ("30 1 * * *", "wallclock", "never runs then"),
        ("*/15 * * * *", "daemon", "loses those minutes"),
    ],
)
def test_dst_messages_follow_the_semantics(schedule, semantics, fragment):
    risks = job_risks(ctx(schedule, tz="Europe/London", semantics=semantics))
    dst = [r for r in risks if r.code == "dst_sensitive"]
    assert dst and fragment in dst[0].message


@pytest.mark.parametrize(
    ("schedule", "expected", "absent"),
    [
        ("0 0 1,15 * 1", "dom_dow_or", "dom_dow_star_and"),
        ("0 0 1-31 * 1", "dom_dow_or", "dom_dow_star_and"),
        ("0 0 */2 * 1", "dom_dow_star_and", "dom_dow_or"),
        ("0 0 * * */2", None, "dom_dow_star_and"),  # DOM is *: same as POSIX
        ("@daily", None, "dom_dow_or"),
        ("0 0 * * 1", None, "dom_dow_star_and"),
    ],
)
def test_day_rules(schedule, expected, absent):
    got = codes(ctx(schedule))
    if expected:
        assert expected in got
    assert absent not in got


def test_cronie_random_ranges_and_random_delay():
    c = ctx("0~30 2 * * *", dialect="cronie")
    assert "random_delay" in codes(c)
    c2 = ctx("0 2 * * *", dialect="cronie")
    c2.random_delay = 15
    assert "random_delay" in codes(c2)


def test_mail_rules_per_dialect():
    assert "mail_on_output" in codes(ctx("0 1 * * *", env={}))
    assert "mail_on_output" not in codes(ctx("0 1 * * *", env={"MAILTO": ""}))
    # busybox mails only when MAILTO is set.
    assert "mail_on_output" not in codes(ctx("0 1 * * *", dialect="busybox", env={}))
    assert "mail_on_output" in codes(ctx("0 1 * * *", dialect="busybox", env={"MAILTO": "a"}))


def test_tz_and_cron_tz_quirks():
    assert any(
        "ignores CRON_TZ" in r.message
        for r in job_risks(ctx("0 1 * * *", env={"CRON_TZ": "UTC", "MAILTO": ""}))
    )
    assert any(
        "TZ changes the job's environment only" in r.message
        for r in job_risks(ctx("0 1 * * *", env={"TZ": "UTC", "MAILTO": ""}))
    )
