"""A legacy run's output is mailed when, to whom and as the dialect's cron daemon mails it:
decisions from the daemons' source, messages byte for byte, and real delivery through the host's
MTA (exim4's sendmail into /var/mail, and exim's SMTP listener) compared header by header with
the daemon's mail (fixtures/cron_mail, derived from the source; tests/live compares with the
real daemon's)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from owlclaw_runtime.cronmail import (
    CronMail,
    DeliveryFailed,
    Envelope,
    MailDecision,
    SendmailTransport,
    SmtpTransport,
    build_message,
    compare_cron_mail,
    decide,
    describe,
    mbox_messages,
    safe_address,
    sendmail_argv,
    transport_from_env,
)
from owlclaw_runtime.legacy import LegacyCommand, LegacyJobFailed

FIXTURES = Path(__file__).parent / "fixtures" / "cron_mail"
IS_ROOT = os.geteuid() == 0
SENDMAIL = "/usr/sbin/sendmail"

# -- whom the daemon mails ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "mail", "recipient", "sender"),
    [
        # Debian: the owner unless MAILTO is set; "" means never; MAILFROM or root (Cron Daemon)
        ("debian", CronMail(), "alice", "root (Cron Daemon)"),
        ("debian", CronMail(to="ops@example.com"), "ops@example.com", "root (Cron Daemon)"),
        ("debian", CronMail(to="a@x.org,b@y.org"), "a@x.org,b@y.org", "root (Cron Daemon)"),
        ("debian", CronMail(to=""), None, "root (Cron Daemon)"),
        ("debian", CronMail(to="-oQ/tmp x"), None, "root (Cron Daemon)"),  # safe_p: no "-" first
        ("debian", CronMail(to="a b"), None, "root (Cron Daemon)"),  # no blanks
        ("debian", CronMail(to="team=ops/x@y"), "team=ops/x@y", "root (Cron Daemon)"),
        ("debian", CronMail(sender="cron@host.example"), "alice", "cron@host.example"),
        ("debian", CronMail(sender="bad sender"), "alice", "root (Cron Daemon)"),
        # cronie: the owner is also the default sender; "=" and "/" are not safe there
        ("cronie", CronMail(), "alice", "alice"),
        ("cronie", CronMail(to="team=ops@y"), None, "alice"),
        ("cronie-1.7", CronMail(to="", sender="noreply@x"), None, "noreply@x"),
        # busybox: only with MAILTO
        ("busybox", CronMail(), None, None),
        ("busybox", CronMail(to="root"), "root", None),
        ("busybox", CronMail(to=""), None, None),
    ],
)
def test_the_recipient_is_the_daemons(
    dialect: str, mail: CronMail, recipient: str | None, sender: str | None
) -> None:
    decision = decide(mail, dialect, "alice", daemon_env={})
    assert decision.recipient == recipient
    if recipient is not None or dialect != "busybox":
        assert decision.sender == sender
    assert decision.mails is (recipient is not None)
    assert (decision.reason is None) is (recipient is not None)


def test_cronie_expands_mailto_from_its_own_environment() -> None:
    mail = CronMail(to="$TEAM,${OWNER}@example.com", sender="$UNSET")
    decision = decide(mail, "cronie", "alice", daemon_env={"TEAM": "ops", "OWNER": "bob"})
    assert decision.recipient == "ops,bob@example.com"
    assert decision.sender == "alice"  # "$UNSET" expands to nothing: the owner
    assert decide(mail, "debian", "alice").recipient is None  # Debian never expands: "$" unsafe


@given(st.text(max_size=30))
def test_debian_mails_exactly_the_safe_nonempty_mailto(value: str) -> None:
    decision = decide(CronMail(to=value), "debian", "alice")
    safe = bool(value) and value[0].isascii() and value[0].isalnum()
    safe = safe and all(c.isascii() and (c.isalnum() or c in "@!:%-.,_+=/") for c in value)
    assert decision.mails is safe
    assert safe_address(value, "debian") is (safe or value == "")


def test_describe_says_where_mail_goes() -> None:
    assert describe(CronMail(), "debian", "www-data") == {
        "to": "www-data",
        "from": "root (Cron Daemon)",
        "when": "when the job prints output",
        "reason": None,
    }
    assert describe(CronMail(to=""), "debian", "root")["when"] == "never"
    assert describe(CronMail(on_failure_only=True), "cronie", "a")["when"] == (
        "on failure with output"
    )
    assert describe(None, "debian", "root")["to"] is None


# -- what the daemon writes --------------------------------------------------------------------

ENV = {"MAILTO": "ops", "SHELL": "/bin/sh", "HOME": "/home/alice", "LOGNAME": "alice"}


def test_debian_message_byte_for_byte() -> None:
    mail = CronMail(to="ops")
    message = build_message(
        dialect="debian",
        mail=mail,
        decision=decide(mail, "debian", "alice"),
        owner="alice",
        command="/usr/local/bin/report --daily",
        cron_env=ENV,
        output=b"done\n",
        hostname="web01.example.com",
    )
    assert message == (
        b"From: root (Cron Daemon)\n"
        b"To: ops\n"
        b"Subject: Cron <alice@web01> /usr/local/bin/report --daily\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=UTF-8\n"
        b"Content-Transfer-Encoding: 8bit\n"
        b"X-Cron-Env: <MAILTO=ops>\n"
        b"X-Cron-Env: <SHELL=/bin/sh>\n"
        b"X-Cron-Env: <HOME=/home/alice>\n"
        b"X-Cron-Env: <LOGNAME=alice>\n"
        b"\n"
        b"done\n"
    )


def test_debian_daemon_options_and_content_type() -> None:
    mail = CronMail(fqdn_subject=True, failed_subject=True, charset="ISO-8859-1")
    env = {**ENV, "CONTENT_TYPE": "text/html;\ncharset=x", "CONTENT_TRANSFER_ENCODING": "base64"}
    message = build_message(
        dialect="debian",
        mail=mail,
        decision=decide(mail, "debian", "alice"),
        owner="alice",
        command="x",
        cron_env=env,
        output=b"!",
        failed=True,
        hostname="web01.example.com",
    ).decode()
    assert "Subject: Cron <alice@web01.example.com> x (failed)\n" in message
    assert "Content-Type: text/html; charset=x\n" in message  # newline made a blank
    assert "Content-Transfer-Encoding: base64\n" in message


def test_cronie_message_and_busybox_message() -> None:
    mail = CronMail()
    cronie = build_message(
        dialect="cronie",
        mail=mail,
        decision=decide(mail, "cronie", "alice", daemon_env={}),
        owner="alice",
        command="run",
        cron_env={"USER": "alice"},
        output=b"a\r\nb\n",
        hostname="db1.lan",
    )
    assert cronie == (
        b'From: "(Cron Daemon)" <alice>\nTo: alice\nSubject: Cron <alice@db1> run\n'
        b"MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
        b"Content-Transfer-Encoding: 8bit\nAuto-Submitted: auto-generated\n"
        b"Precedence: bulk\nX-Cron-Env: <USER=alice>\n\na\nb\n"
    )
    box = CronMail(to="root")
    busybox = build_message(
        dialect="busybox",
        mail=box,
        decision=decide(box, "busybox", "alice"),
        owner="alice",
        command="date",
        cron_env={},
        output=b"x\r\n",
    )
    assert busybox == b"To: root\nSubject: cron: date\n\nx\r\n"


def test_the_mailer_argv_is_the_daemons() -> None:
    debian = MailDecision("a@x,b@y", "root (Cron Daemon)")
    assert sendmail_argv("debian", debian) == [
        "/usr/sbin/sendmail",
        "-FCronDaemon",
        "-i",
        "-B8BITMIME",
        "-oem",
        "a@x,b@y",
    ]
    cronie = MailDecision("ops", "alice")
    assert sendmail_argv("cronie-head", cronie) == [
        "/usr/sbin/sendmail",
        "-FCronDaemon",
        "-i",
        "-odi",
        "-oem",
        "-oi",
        "-t",
        "-f",
        "alice",
    ]
    assert sendmail_argv("busybox", MailDecision("ops", None)) == ["sendmail", "-ti"]


def test_transport_from_the_environment() -> None:
    assert transport_from_env({"OWLCLAW_CRON_MAIL": "off"}) is None
    default = transport_from_env({})
    assert isinstance(default, SendmailTransport) and default.path is None
    smtp = transport_from_env({"OWLCLAW_CRON_MAIL": "smtp://u:p%40ss@mx.lan:2525?starttls=1"})
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.host, smtp.port, smtp.username, smtp.password, smtp.starttls) == (
        "mx.lan",
        2525,
        "u",
        "p@ss",
        True,
    )
    with pytest.raises(ValueError, match="OWLCLAW_CRON_MAIL"):
        transport_from_env({"OWLCLAW_CRON_MAIL": "carrier-pigeon"})


def test_smtp_qualifies_bare_names_in_from_and_to() -> None:
    smtp = SmtpTransport("localhost", domain="vm")
    out = smtp.qualify_headers(
        b"From: root (Cron Daemon)\nTo: alice,bob@x\nSubject: To: me\n\nFrom: body\n"
    )
    assert (
        out == b"From: root@vm (Cron Daemon)\nTo: alice@vm,bob@x\nSubject: To: me\n\nFrom: body\n"
    )
    assert smtp.qualify_headers(b'From: "(Cron Daemon)" <al>\n\n') == (
        b'From: "(Cron Daemon)" <al@vm>\n\n'
    )


# -- comparing with the daemon's mail ------------------------------------------------------------


def _fixture(name: str, account: pwd.struct_passwd, host: str) -> bytes:
    text = (FIXTURES / name).read_text()
    return text.format(user=account.pw_name, host=host, home=account.pw_dir).encode()


def test_compare_ignores_transport_headers_and_reports_the_rest() -> None:
    a = b"From x Tue\nReceived: one\nDate: 1\nSubject: s\nX-Cron-Env: <A=1>\n\nbody\n"
    b = b"Message-Id: <z>\nSubject: s\nDate: 2\nX-Cron-Env: <A=1>\n\nbody\n"
    assert compare_cron_mail(a, b) == []
    c = b"Subject: s\nX-Cron-Env: <A=2>\n\nbody!\n"
    problems = compare_cron_mail(a, c)
    assert len(problems) == 2
    assert "x-cron-env" in problems[0] and problems[1].startswith("body differs")
    assert compare_cron_mail(b"Subject: s\n\n", b"Subject: s\nPrecedence: bulk\n\n") == [
        "header 2: missing ours, daemon has precedence: bulk"
    ]


# -- real delivery -------------------------------------------------------------------------------


def _admin(*command: str) -> None:
    for _ in range(50):  # useradd & co. refuse while another process holds the passwd lock
        if subprocess.run(command, capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(command, check=True)


@pytest.fixture
def mail_account() -> Iterator[pwd.struct_passwd]:
    """A throwaway user with a home and a mailbox; removed with both afterwards."""
    if not IS_ROOT or not Path(SENDMAIL).exists():
        pytest.skip("delivering to a local mailbox needs root and the host's MTA (exim4)")
    name = f"omtm{uuid.uuid4().hex[:8]}"
    _admin("useradd", "-m", "-s", "/bin/sh", name)
    try:
        yield pwd.getpwnam(name)
    finally:
        home = pwd.getpwnam(name).pw_dir
        _admin("userdel", name)
        shutil.rmtree(home, ignore_errors=True)
        Path("/var/mail", name).unlink(missing_ok=True)


def _mailbox(account: pwd.struct_passwd, count: int = 1, wait: float = 30.0) -> list[bytes]:
    """The messages in the account's mailbox, once ``count`` arrived (exim delivers in the
    background after sendmail returns)."""
    path = Path("/var/mail", account.pw_name)
    deadline = time.monotonic() + wait
    while True:
        messages = mbox_messages(path.read_bytes()) if path.exists() else []
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.1)


def _mail_name() -> str:
    path = Path("/etc/mailname")
    return path.read_text().strip() if path.exists() else socket.getfqdn()


def test_debian_mail_reaches_the_owners_mailbox_as_cron_sends_it(
    mail_account: pwd.struct_passwd,
) -> None:
    command = LegacyCommand(
        "echo hello; echo world >&2",
        user=mail_account.pw_name,
        env={"PATH": "/usr/bin:/bin"},
        dialect="debian",
        mail=CronMail(),
        mail_transport=SendmailTransport(),
    )
    command.run()
    assert command.last_mail_error is None
    [delivered] = _mailbox(mail_account)
    expected = _fixture("debian.mbox", mail_account, _mail_name())
    assert compare_cron_mail(delivered, expected) == []
    # sendmail ran as the job's user, as cron_popen does: the envelope sender is the owner
    assert f"Return-path: <{mail_account.pw_name}@".encode() in delivered


def test_cronie_mail_through_sendmail_t(
    mail_account: pwd.struct_passwd, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key == "LANG" or key.startswith("LC_"):
            monkeypatch.delenv(key)  # cronie copies its own locale into the job's environment
    command = LegacyCommand(
        "echo hello; echo world >&2",
        user=mail_account.pw_name,
        env={"PATH": "/usr/bin:/bin"},
        dialect="cronie-1.7",
        mail={"to": None, "sender": None},
        mail_transport=SendmailTransport(),
    )
    command.run()
    [delivered] = _mailbox(mail_account)
    assert compare_cron_mail(delivered, _fixture("cronie.mbox", mail_account, _mail_name())) == []


def test_a_failed_job_still_mails_and_quiet_jobs_or_mailto_empty_do_not(
    mail_account: pwd.struct_passwd,
) -> None:
    user = mail_account.pw_name
    quiet = LegacyCommand("true", user=user, mail=CronMail(), mail_transport=SendmailTransport())
    quiet.run()
    silenced = LegacyCommand(
        "echo secret", user=user, mail=CronMail(to=""), mail_transport=SendmailTransport()
    )
    silenced.run()
    failing = LegacyCommand(
        "echo broke; exit 3", user=user, mail=CronMail(), mail_transport=SendmailTransport()
    )
    with pytest.raises(LegacyJobFailed):
        failing.run()
    messages = _mailbox(mail_account)
    assert len(messages) == 1 and b"\nbroke\n" in messages[0]
    assert b"Subject: Cron <" in messages[0] and b"echo broke; exit 3" in messages[0]


async def test_cronie_dash_n_mails_only_failures(mail_account: pwd.struct_passwd) -> None:
    user = mail_account.pw_name
    mail = CronMail(on_failure_only=True)
    ok = LegacyCommand("echo fine", user=user, dialect="cronie", mail=mail)
    ok.mail_transport = SendmailTransport()
    await ok.arun()
    bad = LegacyCommand("echo bad; exit 1", user=user, dialect="cronie", mail=mail)
    bad.mail_transport = SendmailTransport()
    with pytest.raises(LegacyJobFailed):
        await bad.arun()
    messages = _mailbox(mail_account)
    assert len(messages) == 1 and b"\nbad\n" in messages[0]


def test_a_refused_mail_is_reported_and_never_fails_the_run(tmp_path: Path) -> None:
    mta = tmp_path / "sendmail"
    mta.write_text("#!/bin/sh\ncat >/dev/null\necho 'no such user' >&2\nexit 67\n")
    mta.chmod(0o755)
    command = LegacyCommand(
        "echo out", mail=CronMail(to="nobody"), mail_transport=SendmailTransport(str(mta))
    )
    result = command.run()
    assert result.succeeded
    assert command.last_mail_error is not None
    assert "got status 0x4300 from MTA" in command.last_mail_error
    missing = LegacyCommand(
        "echo out", mail=CronMail(), mail_transport=SendmailTransport(str(tmp_path / "none"))
    )
    missing.run()
    assert "No MTA installed" in str(missing.last_mail_error)


def test_the_whole_output_is_mailed_unredacted_while_the_ledger_keeps_a_redacted_tail(
    tmp_path: Path,
) -> None:
    captured = tmp_path / "mail"

    class Capture:
        def send(self, message: bytes, envelope: Envelope) -> None:
            captured.write_bytes(message)

    command = LegacyCommand(
        "seq 1 20000; echo PGPASSWORD=hunter2",
        mail=CronMail(to="ops"),
        mail_transport=Capture(),
        output_limit=64,
    )
    result = command.run()
    body = captured.read_bytes().split(b"\n\n", 1)[1]
    assert body.startswith(b"1\n2\n3\n") and body.endswith(b"20000\nPGPASSWORD=hunter2\n")
    assert "hunter2" not in result.output_tail and len(result.output_tail) <= 64


@pytest.fixture
def exim_smtp(tmp_path: Path) -> Iterator[int]:
    """The host's exim4 as an SMTP listener on a free port of 127.0.0.1 (its own pid file),
    stopped afterwards by that pid."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pid_file = tmp_path / "exim.pid"
    subprocess.run(
        ["/usr/sbin/exim4", "-bd", "-oX", f"127.0.0.1.{port}", "-oP", str(pid_file)], check=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text().split()[0]), 15)


def test_smtp_delivery_matches_the_daemons_mail(
    mail_account: pwd.struct_passwd, exim_smtp: int
) -> None:
    host = _mail_name()
    command = LegacyCommand(
        "echo hello; echo world >&2",
        user=mail_account.pw_name,
        env={"PATH": "/usr/bin:/bin"},
        dialect="debian",
        mail=CronMail(),
        mail_transport=SmtpTransport("127.0.0.1", exim_smtp, domain=host),
    )
    command.run()
    assert command.last_mail_error is None
    [delivered] = _mailbox(mail_account)
    assert compare_cron_mail(delivered, _fixture("debian.mbox", mail_account, host)) == []


def test_an_unreachable_smtp_server_is_a_delivery_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    envelope = Envelope("debian", MailDecision("ops", "root (Cron Daemon)"), "root")
    with pytest.raises(DeliveryFailed, match=f"SMTP 127.0.0.1:{port}"):
        SmtpTransport("127.0.0.1", port, timeout=2).send(b"Subject: x\n\nbody\n", envelope)


_env_names = st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True)
_env_values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20)


@given(
    env=st.dictionaries(_env_names, _env_values, max_size=6),
    output=st.binary(min_size=1, max_size=200).filter(lambda b: b"\r" not in b),
    dialect=st.sampled_from(["debian", "cronie"]),
)
def test_a_message_parses_back_to_its_environment_and_output(
    env: dict[str, str], output: bytes, dialect: str
) -> None:
    env.pop("CONTENT_TYPE", None)
    env.pop("CONTENT_TRANSFER_ENCODING", None)
    mail = CronMail()
    message = build_message(
        dialect=dialect,
        mail=mail,
        decision=decide(mail, dialect, "alice", daemon_env={}),
        owner="alice",
        command="job",
        cron_env=env,
        output=output,
        hostname="h",
    )
    head, body = message.split(b"\n\n", 1)
    assert body == output
    cron_env = [line for line in head.decode().split("\n") if line.startswith("X-Cron-Env: ")]
    assert cron_env == [f"X-Cron-Env: <{k}={v}>" for k, v in env.items()]
    assert compare_cron_mail(message, message) == []


def test_bad_mail_settings_are_a_configuration_error() -> None:
    from owlclaw_runtime.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="bad mail settings"):
        LegacyCommand("true", mail={"recipient": "ops"})
