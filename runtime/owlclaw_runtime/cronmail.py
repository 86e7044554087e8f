"""Mail a legacy job's output exactly when, to whom and how the legacy cron daemon did.

Sources (read for this module; reference/cron-semantics.md 1.7):

- **Debian** cron 3.0pl1-162 (``do_command.c`` with the patch
  ``features/Add-MAILFROM-environment-variable``; format strings checked in ``/usr/sbin/cron``):
  output goes to a temporary file and is mailed after the job exits, when it is non-empty.
  Recipient: ``MAILTO``, or the crontab owner (``LOGNAME``) when it is unset; ``MAILTO=""`` or a
  value ``safe_p`` rejects (``UNSAFE MAIL``: the first character must be alphanumeric, the rest
  alphanumeric or one of ``@!:%-.,_+=/``, so no blanks and no leading ``-``) sends nothing.
  ``MAILFROM`` when set and safe, else ``root (Cron Daemon)``. The mailer is
  ``/usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem MAILTO`` run as the job's user; a comma
  list stays one argument (the MTA splits it). Headers, in order: ``From``, ``To``,
  ``Subject: Cron <user@host> command`` (host cut at the first dot unless ``cron -n``; `` (failed)``
  appended when ``cron -L`` includes 4 and the job failed), ``MIME-Version: 1.0``, ``Content-Type``
  (``CONTENT_TYPE`` or ``text/plain; charset=...``), ``Content-Transfer-Encoding``
  (``CONTENT_TRANSFER_ENCODING`` or ``8bit``), one ``X-Cron-Env: <NAME=value>`` per variable of
  the crontab environment (assignments, then the ``SHELL``/``HOME``/``PATH``/``LOGNAME``
  defaults). No ``/usr/sbin/sendmail``: nothing is mailed ("No MTA installed").
- **cronie** (``src/do_command.c``, 1.5.6 and later): the same rule for the recipient, but the
  sender is ``MAILFROM`` (safe) or the owner, ``$VAR`` in ``MAILTO``/``MAILFROM`` is expanded from
  the *daemon's* environment, the mailer is ``/usr/sbin/sendmail -FCronDaemon -i -odi -oem -oi -t
  -f SENDER`` (recipients from ``To:``), ``\\r`` is dropped from the output, ``-n`` jobs mail only
  when they fail, and the headers are ``From: "(Cron Daemon)" <SENDER>``, ``To``, ``Subject``,
  ``MIME-Version``, ``Content-Type``, ``Content-Transfer-Encoding``, ``Auto-Submitted:
  auto-generated``, ``Precedence: bulk`` and ``X-Cron-Env`` for the whole job environment.
  ``safe_p`` allows ``@!:%-.,_+`` after the first character.
- **busybox** crond (``miscutils/crond.c``): mails only when ``MAILTO`` is set and non-empty; the
  message is ``To: MAILTO``, ``Subject: cron: command``, a blank line, the output; ``sendmail -ti``
  (from ``PATH``) as the job's user, only when the job wrote something.

Transport: the host's ``sendmail`` as the daemon calls it (default), or SMTP when
``OWLCLAW_CRON_MAIL=smtp://[user:password@]host[:port][?starttls=1|ssl=1]``; ``off`` mails nothing.
``OWLCLAW_SENDMAIL`` names another sendmail binary. A failed delivery is logged (as cron logs
"mailed N bytes of output but got status ...") and never fails the run.
"""

from __future__ import annotations

import email.parser
import email.policy
import os
import re
import smtplib
import socket
import subprocess
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from owlclaw_runtime.daemons import daemon_family

DEFAULT_SENDMAIL = "/usr/sbin/sendmail"
# safe_p() delimiters: Debian widened cronie's set with "=" and "/" (Debian bug #990026).
_SAFE_DELIMS = {"debian": "@!:%-.,_+=/", "cronie": "@!:%-.,_+"}
# Headers the MTA (or the mailbox) adds: never compared.
TRANSPORT_HEADERS = frozenset(
    {
        "date",
        "message-id",
        "received",
        "return-path",
        "envelope-to",
        "delivery-date",
        "x-original-to",
        "delivered-to",
        "status",
        "content-length",
        "lines",
    }
)


def _family(dialect: str) -> str:
    return daemon_family(dialect)


def safe_address(value: str, dialect: str) -> bool:
    """cronie's (and Debian's) ``safe_p``: what the daemon accepts as MAILTO/MAILFROM."""
    delims = _SAFE_DELIMS["debian" if _family(dialect) == "debian" else "cronie"]
    for index, ch in enumerate(value):
        if ch.isascii() and ch.isprintable() and (ch.isalnum() or (index and ch in delims)):
            continue
        return False
    return True


_ENVVAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand_daemon_vars(value: str, daemon_env: Mapping[str, str]) -> str:
    """cronie's ``expand_envvar``: ``$NAME`` and ``${NAME}`` from the daemon's own environment
    (``getenv`` in crond, not the crontab's assignments); unset names expand to nothing."""
    return _ENVVAR.sub(lambda m: daemon_env.get(m.group(1) or m.group(2), ""), value)


@dataclass(frozen=True)
class CronMail:
    """Where a job's output is mailed, as its crontab says (what ``generate`` passes as
    ``LegacyCommand(mail=...)``).

    ``to``: the ``MAILTO`` value as written, or None when the crontab leaves it unset (Debian and
    cronie then mail the owner). ``sender``: ``MAILFROM`` as written, or None.
    ``on_failure_only``: cronie's ``-n`` command option. ``fqdn_subject`` and ``failed_subject``:
    Debian's ``cron -n`` and ``cron -L`` (with 4) daemon options, off by default as in Debian.
    ``charset``: the ``Content-Type`` charset the daemon writes (its locale's codeset).
    """

    to: str | None = None
    sender: str | None = None
    on_failure_only: bool = False
    fqdn_subject: bool = False
    failed_subject: bool = False
    charset: str = "UTF-8"


@dataclass(frozen=True)
class MailDecision:
    """What the daemon does with a run's output: ``recipient`` None means no mail, and
    ``reason`` says why (``MAILTO=""``, unsafe address, busybox without MAILTO, ...)."""

    recipient: str | None
    sender: str | None
    reason: str | None = None

    @property
    def mails(self) -> bool:
        return self.recipient is not None


def decide(
    mail: CronMail,
    dialect: str,
    owner: str,
    *,
    daemon_env: Mapping[str, str] | None = None,
) -> MailDecision:
    """Whom the dialect's daemon mails for a job of ``owner`` (output permitting)."""
    family = _family(dialect)
    to, sender = mail.to, mail.sender
    if family == "busybox":
        if not to:
            return MailDecision(None, None, "busybox crond mails only when MAILTO is set")
        return MailDecision(to, None)
    if family == "cronie":
        env = os.environ if daemon_env is None else daemon_env
        to = None if to is None else expand_daemon_vars(to, env)
        sender = None if sender is None else expand_daemon_vars(sender, env)
        if not sender or not safe_address(sender, dialect):
            sender = owner
    elif not sender or not safe_address(sender, dialect):
        sender = "root (Cron Daemon)"
    if to is None:
        return MailDecision(owner, sender)
    if not to:
        return MailDecision(None, sender, 'MAILTO="" (no mail)')
    if not safe_address(to, dialect):
        return MailDecision(None, sender, f"MAILTO {to!r} is unsafe: the daemon mails nothing")
    return MailDecision(to, sender)


def describe(mail: CronMail | None, dialect: str, owner: str | None) -> dict[str, Any]:
    """The ``mail`` field of a job in the manifest and in ``owlmigrate status``:
    ``{"to": address or None, "from": sender or None, "when": ..., "reason": ...}``."""
    if mail is None:
        return {"to": None, "from": None, "when": "never", "reason": "mail disabled"}
    decision = decide(mail, dialect, owner or "root", daemon_env={})
    when = "on failure with output" if mail.on_failure_only else "when the job prints output"
    return {
        "to": decision.recipient,
        "from": decision.sender,
        "when": when if decision.mails else "never",
        "reason": decision.reason,
    }


def short_host(hostname: str | None = None, *, fqdn: bool = False) -> str:
    """``gethostname()``, cut at the first dot unless ``fqdn`` (Debian ``cron -n``)."""
    name = hostname if hostname is not None else socket.gethostname()
    return name if fqdn else name.split(".", 1)[0]


def _one_line(value: str) -> str:
    # the daemons turn newlines in CONTENT_TYPE/CONTENT_TRANSFER_ENCODING into blanks
    return value.replace("\n", " ")


def build_message(
    *,
    dialect: str,
    mail: CronMail,
    decision: MailDecision,
    owner: str,
    command: str,
    cron_env: Mapping[str, str],
    output: bytes,
    failed: bool = False,
    hostname: str | None = None,
) -> bytes:
    """The bytes the daemon writes to sendmail's stdin for one run: headers and the output.

    ``cron_env`` is what the daemon lists in ``X-Cron-Env`` (Debian: the crontab environment
    with its defaults; cronie: the whole job environment), in order."""
    if decision.recipient is None:
        raise ValueError("no recipient: the daemon sends no mail for this run")
    family = _family(dialect)
    if family == "busybox":
        head = f"To: {decision.recipient}\nSubject: cron: {command}\n\n"
        return head.encode("utf-8", "surrogateescape") + output
    host = short_host(hostname, fqdn=mail.fqdn_subject and family == "debian")
    lines: list[str] = []
    if family == "debian":
        lines.append(f"From: {decision.sender}")
    else:
        lines.append(f'From: "(Cron Daemon)" <{decision.sender}>')
    lines.append(f"To: {decision.recipient}")
    suffix = " (failed)" if family == "debian" and mail.failed_subject and failed else ""
    lines.append(f"Subject: Cron <{owner}@{host}> {command}{suffix}")
    lines.append("MIME-Version: 1.0")
    content_type = cron_env.get("CONTENT_TYPE")
    if content_type is None:
        lines.append(f"Content-Type: text/plain; charset={mail.charset}")
    else:
        lines.append(f"Content-Type: {_one_line(content_type)}")
    encoding = cron_env.get("CONTENT_TRANSFER_ENCODING")
    lines.append(f"Content-Transfer-Encoding: {_one_line(encoding) if encoding else '8bit'}")
    if family == "cronie":
        lines += ["Auto-Submitted: auto-generated", "Precedence: bulk"]
        output = output.replace(b"\r", b"")
    lines += [f"X-Cron-Env: <{name}={value}>" for name, value in cron_env.items()]
    head = "\n".join(lines) + "\n\n"
    return head.encode("utf-8", "surrogateescape") + output


def sendmail_argv(dialect: str, decision: MailDecision, sendmail: str | None = None) -> list[str]:
    """The mailer's argv as the daemon builds it (``cron_popen`` splits on blanks)."""
    family = _family(dialect)
    if decision.recipient is None:
        raise ValueError("no recipient")
    if family == "busybox":
        return [sendmail or "sendmail", "-ti"]
    path = sendmail or DEFAULT_SENDMAIL
    if family == "debian":
        return [path, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", *decision.recipient.split()]
    return [path, "-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", str(decision.sender)]


class DeliveryFailed(Exception):
    """The MTA did not take the mail (its exit status, or an SMTP error)."""


@dataclass(frozen=True)
class Envelope:
    """Who sends and receives one message, and as which account the mailer runs."""

    dialect: str
    decision: MailDecision
    owner: str
    spawn: Mapping[str, Any] = field(default_factory=dict)  # user/group/env/cwd for sendmail


class MailTransport(Protocol):
    def send(self, message: bytes, envelope: Envelope) -> None: ...


class SendmailTransport:
    """The host's sendmail, invoked with the daemon's arguments, as the job's user."""

    def __init__(self, path: str | None = None, *, timeout: float = 300.0) -> None:
        self.path = path
        self.timeout = timeout

    def argv(self, envelope: Envelope) -> list[str]:
        return sendmail_argv(envelope.dialect, envelope.decision, self.path)

    def send(self, message: bytes, envelope: Envelope) -> None:
        argv = self.argv(envelope)
        if _family(envelope.dialect) != "busybox" and not os.path.exists(argv[0]):
            # Debian: stat(MAILCMD) fails -> "No MTA installed, discarding output"
            raise DeliveryFailed(f"No MTA installed, discarding output ({argv[0]} missing)")
        try:
            done = subprocess.run(
                argv,
                input=message,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=self.timeout,
                check=False,
                close_fds=True,
                **dict(envelope.spawn),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise DeliveryFailed(f"cannot run {argv[0]}: {exc}") from exc
        if done.returncode != 0:
            detail = done.stdout.decode("utf-8", "replace").strip()[-300:]
            raise DeliveryFailed(
                f"mailed {len(message)} bytes of output but got status "
                f"0x{(done.returncode & 0xFF) << 8:04x} from MTA"
                + (f": {detail}" if detail else "")
            )


class SmtpTransport:
    """The same message over SMTP (for hosts without a local MTA). Bare local names in the
    recipient list are qualified with ``domain`` (default: the host's FQDN), as a local MTA
    would qualify them."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        domain: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.starttls, self.ssl = starttls, ssl
        self.domain = domain
        self.timeout = timeout

    def _domain(self) -> str:
        if self.domain:
            return self.domain
        try:  # what a Debian MTA qualifies local names with
            with open("/etc/mailname", encoding="utf-8") as fh:
                name = fh.read().strip()
        except OSError:
            name = ""
        return name or socket.getfqdn()

    def _qualify(self, address: str) -> str:
        address = address.strip()
        if "@" in address or not address:
            return address
        return f"{address}@{self._domain()}"

    def qualify_headers(self, message: bytes) -> bytes:
        """Qualify bare names in ``From:`` and ``To:`` as a local MTA does for mail handed to
        its sendmail (an SMTP server refuses them: "header syntax")."""
        head, sep, body = message.partition(b"\n\n")
        lines = head.decode("utf-8", "surrogateescape").split("\n")
        for index, line in enumerate(lines):
            name, colon, value = line.partition(":")
            if not colon or name.lower() not in ("from", "to"):
                continue
            if "<" in value:
                value = re.sub(r"<([^<>@\s]+)>", lambda m: f"<{self._qualify(m.group(1))}>", value)
            elif name.lower() == "from":
                value = re.sub(
                    r"^(\s*)([^\s@(]+)", lambda m: m.group(1) + self._qualify(m.group(2)), value
                )
            else:
                value = re.sub(r"[^,\s]+", lambda m: self._qualify(m.group(0)), value)
            lines[index] = f"{name}:{value}"
        return "\n".join(lines).encode("utf-8", "surrogateescape") + sep + body

    def recipients(self, envelope: Envelope) -> list[str]:
        to = envelope.decision.recipient or ""
        return [self._qualify(a) for a in re.split(r"[,\s]+", to) if a.strip()]

    def send(self, message: bytes, envelope: Envelope) -> None:
        decision = envelope.decision
        # cronie passes -f SENDER; Debian's and busybox's sendmail runs as the owner, whose
        # address is then the envelope sender
        cronie = _family(envelope.dialect) == "cronie"
        sender = str(decision.sender) if cronie else envelope.owner
        smtp_class = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
        try:
            with smtp_class(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls and not self.ssl:
                    smtp.starttls()
                if self.username and self.password is not None:
                    smtp.login(self.username, self.password)
                # SMTP wants CRLF line ends; the daemons write LF to sendmail, which converts.
                wire = re.sub(rb"\r?\n", b"\r\n", self.qualify_headers(message))
                smtp.sendmail(self._qualify(sender), self.recipients(envelope), wire)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP {self.host}:{self.port}: {exc}") from exc


def transport_from_env(env: Mapping[str, str] | None = None) -> MailTransport | None:
    """``OWLCLAW_CRON_MAIL`` (unset or ``sendmail``: the host's sendmail; ``off``: none;
    ``smtp://...``: SMTP) and ``OWLCLAW_SENDMAIL`` (another sendmail path)."""
    env = os.environ if env is None else env
    spec = (env.get("OWLCLAW_CRON_MAIL") or "sendmail").strip()
    if spec in ("off", "none", "0", "false"):
        return None
    if spec == "sendmail":
        return SendmailTransport(env.get("OWLCLAW_SENDMAIL") or None)
    url = urllib.parse.urlsplit(spec)
    if url.scheme not in ("smtp", "smtps"):
        raise ValueError(
            f"OWLCLAW_CRON_MAIL={spec!r}: expected sendmail, off or smtp://host[:port]"
        )
    query = dict(urllib.parse.parse_qsl(url.query))
    ssl = url.scheme == "smtps" or query.get("ssl") in ("1", "true")
    return SmtpTransport(
        url.hostname or "localhost",
        url.port or (465 if ssl else 25),
        username=urllib.parse.unquote(url.username) if url.username else None,
        password=urllib.parse.unquote(url.password) if url.password else None,
        starttls=query.get("starttls") in ("1", "true"),
        ssl=ssl,
        domain=query.get("domain"),
    )


# -- comparing mails ------------------------------------------------------------------------


def _headers(raw: bytes) -> tuple[list[tuple[str, str]], bytes]:
    if raw.startswith(b"From "):  # an mbox separator line
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    headers = [
        (name.lower(), " ".join(str(value).split()))
        for name, value in message.items()
        if name.lower() not in TRANSPORT_HEADERS
    ]
    payload = message.get_payload(decode=False)
    body = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    return headers, body.replace(b"\r\n", b"\n")


def compare_cron_mail(ours: bytes, theirs: bytes) -> list[str]:
    """Differences between our mail and the real daemon's, header by header (``Date``,
    ``Message-Id``, ``Received`` and the other headers the MTA or mailbox adds are ignored),
    then the body. Each argument is one message as delivered (an mbox entry's leading
    ``From `` line is skipped). An empty list means they match."""
    our_headers, our_body = _headers(ours)
    their_headers, their_body = _headers(theirs)
    problems: list[str] = []
    for index in range(max(len(our_headers), len(their_headers))):
        mine = our_headers[index] if index < len(our_headers) else None
        real = their_headers[index] if index < len(their_headers) else None
        if mine == real:
            continue
        if mine is None:
            problems.append(f"header {index + 1}: missing ours, daemon has {real[0]}: {real[1]}")  # type: ignore[index]
        elif real is None:
            problems.append(f"header {index + 1}: extra ours {mine[0]}: {mine[1]}")
        else:
            problems.append(
                f"header {index + 1}: ours {mine[0]}: {mine[1]!r}, daemon {real[0]}: {real[1]!r}"
            )
    if our_body != their_body:
        problems.append(
            f"body differs: ours {len(our_body)} bytes {our_body[:80]!r}, "
            f"daemon {len(their_body)} bytes {their_body[:80]!r}"
        )
    return problems


def mbox_messages(data: bytes) -> list[bytes]:
    """Split a mailbox file (``/var/mail/USER``) into messages, each with its ``From `` line."""
    parts = re.split(rb"(?m)^(?=From )", data)
    return [p for p in parts if p.startswith(b"From ")]


__all__ = [
    "CronMail",
    "DeliveryFailed",
    "Envelope",
    "MailDecision",
    "MailTransport",
    "SendmailTransport",
    "SmtpTransport",
    "build_message",
    "compare_cron_mail",
    "decide",
    "describe",
    "expand_daemon_vars",
    "mbox_messages",
    "safe_address",
    "sendmail_argv",
    "short_host",
    "transport_from_env",
]
