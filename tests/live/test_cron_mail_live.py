"""Mail and syslog, compared with the real Debian daemon's: for a throwaway user's crontab, the
mail ``cron -f`` sends through exim4 into ``/var/mail`` and the mail the generated app's own
``LegacyCommand`` (``SendmailTransport``) sends for the same job are equal but for the
transport's headers (``compare_cron_mail``); ``MAILTO=""`` mails nothing from either and
``MAILTO=other`` mails the other user from both. The daemon's ``CRON[pid]: (user) CMD (...)``
syslog line, caught by a datagram server at ``/dev/log``, equals ``CronSyslog("debian")``'s.
The source-derived fixture ``tests/runtime/fixtures/cron_mail/debian.mbox`` is checked against
the capture too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from owlclaw_runtime.cronlog import CronSyslog, syslog_datagram
from owlclaw_runtime.cronmail import compare_cron_mail

from .side_by_side import MAIL_JOBS, MAIL_USER, OTHER_USER, PROBE_USER, SideBySide, side_by_side

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]

FIXTURE = Path(__file__).resolve().parents[1] / "runtime" / "fixtures" / "cron_mail" / "debian.mbox"
_RECORD = re.compile(rb"^<(\d+)>(\w{3} [ \d]\d \d\d:\d\d:\d\d) (\w+)\[(\d+)\]: (.*)$", re.S)


@pytest.fixture(scope="module")
def run() -> SideBySide:
    result = side_by_side()
    if result.skipped:
        pytest.skip(result.skipped)
    return result


def _about(messages: list[bytes], command: str) -> list[bytes]:
    return [
        m
        for m in messages
        if f"Subject: Cron <{MAIL_USER}@".encode() in m and command.encode() in m
    ]


@pytest.mark.parametrize(("key", "mailbox"), [("owner", MAIL_USER), ("other", OTHER_USER)])
def test_our_mail_equals_the_daemons(run: SideBySide, key: str, mailbox: str) -> None:
    theirs = _about(run.daemon_mail.get(mailbox, []), MAIL_JOBS[key])
    ours = _about(run.our_mail.get(mailbox, []), MAIL_JOBS[key])
    assert theirs, f"the daemon mailed nothing for {key}\n{run.report()}"
    assert len(ours) == 1, f"we mailed {len(ours)} for {key}: {run.mail_errors}\n{run.report()}"
    assert run.mail_errors[key] is None
    for message in theirs:  # one per minute the daemon ran the job
        assert compare_cron_mail(ours[0], message) == []


def test_mailto_empty_mails_nothing_from_either(run: SideBySide) -> None:
    assert run.daemon_mail and run.our_mail, run.report()
    everything = [m for box in (*run.daemon_mail.values(), *run.our_mail.values()) for m in box]
    assert everything  # the other two jobs did mail
    assert not [m for m in everything if b"quiet" in m]
    assert run.mail_errors["none"] is None


def test_mailto_other_user_leaves_the_owner_alone(run: SideBySide) -> None:
    for source in (run.daemon_mail, run.our_mail):
        assert not _about(source.get(MAIL_USER, []), MAIL_JOBS["other"])
        assert not _about(source.get(OTHER_USER, []), MAIL_JOBS["owner"])


def test_the_fixture_is_the_daemons_mail(run: SideBySide) -> None:
    """debian.mbox (placeholders for user, host and home) is what the daemon delivered."""
    [theirs, *_] = _about(run.daemon_mail[MAIL_USER], MAIL_JOBS["owner"])
    fixture = FIXTURE.read_text().format(
        user=MAIL_USER, host=run.mail_name, home=run.homes[MAIL_USER]
    )
    assert compare_cron_mail(fixture.encode(), theirs) == []


def _records(run: SideBySide, ours: bool) -> list[tuple[int, str, bytes]]:
    """(priority, ident, message) of each CMD record, with its pid and time taken out."""
    chosen = run.syslog[run.syslog_ours_from :] if ours else run.syslog[: run.syslog_ours_from]
    out = []
    for record in chosen:
        m = _RECORD.match(record)
        assert m, f"not a syslog(3) record: {record!r}"
        out.append((int(m.group(1)), m.group(3).decode(), m.group(5)))
    return out


def _expected(user: str, command: str) -> tuple[int, str, bytes]:
    [line] = CronSyslog("debian").start_lines(user, 4242, command)
    m = _RECORD.match(syslog_datagram(line.ident, line.pid, line.message, priority=78, when=0))
    assert m
    return 78, m.group(3).decode(), m.group(5)


def test_the_daemons_syslog_line_is_cronsyslogs(run: SideBySide) -> None:
    if run.syslog_unavailable:
        pytest.skip(run.syslog_unavailable)
    daemon = _records(run, ours=False)
    ours = _records(run, ours=True)
    for command in MAIL_JOBS.values():
        want = _expected(MAIL_USER, command)
        assert want in daemon, f"daemon lines: {daemon}"
        assert want in ours, f"our lines: {ours}"
    # the daemon also logs its PAM session (pam_unix, facility authpriv) around each job; we
    # open no PAM session (docs/runtime.md): nothing but the cron lines from us
    assert any(b"pam_unix(cron:session)" in r[2] for r in daemon)
    assert all(r[1] == "CRON" and b") CMD (" in r[2] for r in ours), ours
    # the probe: the daemon's line for its line, the worker's for the cut-over twin
    probe = [r for r in daemon if f"({PROBE_USER}) CMD".encode() in r[2]]
    assert len({r for r in probe}) == 1 and len(probe) >= 2, probe
