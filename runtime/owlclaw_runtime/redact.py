"""Secret redaction for everything that leaves the process: plans, ledger output tails, logs.

Redaction is conservative: it hides the value and keeps the name, so a reader still sees *that*
a secret was there (``PGPASSWORD=***``) without seeing it.
"""

from __future__ import annotations

import re

MASK = "***"

# NAME=value or NAME: value where NAME looks secret (env lines, command arguments, headers).
_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*(?:pass(?:word|wd)?|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|auth[_-]?token|credential|session[_-]?id|signature)[A-Za-z0-9_.-]*"
)
_ASSIGNMENT = re.compile(
    rf"(?P<name>\b{_SECRET_NAME})(?P<sep>\s*[=:]\s*)(?P<q>['\"]?)(?P<value>[^\s'\"&;|]+)(?P=q)",
    re.IGNORECASE,
)
# --password value / --token=value style options.
_OPTION = re.compile(
    rf"(?P<name>(?<!\S)--{_SECRET_NAME})(?P<sep>[ =])(?P<q>['\"]?)(?P<value>[^\s'\"]+)(?P=q)",
    re.IGNORECASE,
)
# scheme://user:password@host
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@"
)
# Authorization: Bearer xxx / Basic xxx
_AUTH_HEADER = re.compile(
    r"(?P<kind>\b(?:Bearer|Basic|Token))\s+(?P<value>[A-Za-z0-9._~+/=-]{8,})"
)
# Well-known token shapes that need no name to be recognised.
_TOKEN_SHAPES = re.compile(
    r"\b(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,}"
    r"|sk-[A-Za-z0-9_-]{20,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*)"
)
# mysql -pSECRET (the password glued to the flag)
_MYSQL_PASSWORD = re.compile(r"(?P<flag>(?<!\S)-p)(?P<value>[^\s-][^\s]*)")


def is_secret_name(name: str) -> bool:
    """Whether an environment variable name looks like it holds a secret."""
    return re.fullmatch(_SECRET_NAME, name, re.IGNORECASE) is not None


def redact(text: str) -> str:
    """Return ``text`` with every recognisable secret value replaced by ``***``."""
    if not text:
        return text
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _MYSQL_PASSWORD.sub(lambda m: f"{m['flag']}{MASK}", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['kind']} {MASK}", text)
    text = _OPTION.sub(lambda m: f"{m['name']}{m['sep']}{m['q']}{MASK}{m['q']}", text)
    text = _ASSIGNMENT.sub(lambda m: f"{m['name']}{m['sep']}{m['q']}{MASK}{m['q']}", text)
    return _TOKEN_SHAPES.sub(MASK, text)


def redact_env(env: dict[str, str]) -> dict[str, str]:
    """Environment with secret-looking names masked and credentials in values hidden."""
    return {k: (MASK if is_secret_name(k) and v else redact(v)) for k, v in env.items()}
