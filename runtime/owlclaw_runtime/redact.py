"""Secret redaction for everything that leaves the process: plans, ledger output tails, logs.

Redaction is conservative: it hides the value and keeps the name, so a reader still sees *that*
a secret was there (``PGPASSWORD=***``) without seeing it.

Every pattern runs in linear time. Job output is untrusted and can be large (the ledger keeps a
64 KiB tail), so no pattern may backtrack quadratically: names are matched only where a token
starts (a lookbehind) and with possessive quantifiers, and the "does this name look secret" test
is a lookahead confined to that one token. (The first version of this module took 30 s on 20 KB
of ``a.a.a.``.)
"""

from __future__ import annotations

import re

MASK = "***"

# Words that make a name secret. ``token`` but not ``tokens`` (LLM token counts are not secret);
# ``pass`` not followed by a letter (PASS, PASSWD, PASSWORD, DB_PASS; not "passthrough").
_KEYWORD = (
    r"(?:pass(?:word|wd|phrase)?(?![a-z])|secret|token(?!s)|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|credential|session[_-]?id|signature)"
)
_NAME_CHARS = r"[\w.-]"
# A whole name token (it starts where the previous character is not a name character) that
# contains a keyword somewhere.
_SECRET_TOKEN = rf"(?<!{_NAME_CHARS})(?={_NAME_CHARS}*?{_KEYWORD}){_NAME_CHARS}++"
_KEYWORD_RE = re.compile(_KEYWORD, re.IGNORECASE)

# A value: quoted (spaces allowed inside) or bare (up to a blank, quote or shell operator).
_VALUE = r"""(?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<bare>['"]?[^\s'"&;|]++))"""

# NAME=value, NAME: value, "name": "value" (env lines, arguments, headers, YAML, JSON).
_ASSIGNMENT = re.compile(
    rf"(?P<name>{_SECRET_TOKEN})(?P<nq>['\"]?)(?P<sep>\s*+[=:]\s*+){_VALUE}",
    re.IGNORECASE,
)
# --password value (the = form is an assignment above).
_OPTION = re.compile(
    rf"(?P<name>(?<!\S)--(?={_NAME_CHARS}*?{_KEYWORD}){_NAME_CHARS}++)(?P<sep> ++){_VALUE}",
    re.IGNORECASE,
)
# scheme://user:password@host (the password may itself hold '@'; the last one ends it)
_URL_CREDENTIALS = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*+://)(?P<user>[^:/@\s]++):"
    r"(?P<pw>[^/\s]+)@"
)
# Authorization: Bearer xxx / Basic xxx
_AUTH_HEADER = re.compile(r"(?P<kind>\b(?:Bearer|Basic|Token))\s++(?P<value>[\w.~+/=-]{8,}+)")
# Well-known token shapes that need no name to be recognised.
_TOKEN_SHAPES = re.compile(
    r"(?<![\w-])(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}+|github_pat_\w{30,}+"
    r"|glpat-[\w-]{20,}+|xox[abpr]-[A-Za-z0-9-]{10,}+|sk-[\w-]{20,}+|(?:sk|rk)_live_\w{10,}+"
    r"|AIza[\w-]{35}|eyJ[\w-]{10,}+\.[\w-]{10,}+\.[\w-]*+)"
)
# PEM private keys: the body is hidden; a block cut off by the output tail is hidden to the end.
_PRIVATE_KEY = re.compile(
    r"(?P<begin>-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)[\s\S]*?(?P<end>-----END [A-Z0-9 ]*"
    r"PRIVATE KEY-----|\Z)"
)
# mysql -pSECRET (the password glued to the flag). Only on lines that run a MySQL client:
# elsewhere "-p..." is a port or an option (`find . -print`, `ssh -p2222`).
_MYSQL_LINE = re.compile(r"(?im)^.*\b(?:mysql|mariadb).*$")
_MYSQL_PASSWORD = re.compile(r"(?P<flag>(?<!\S)-p)(?P<value>[^\s-]\S*+)")


def is_secret_name(name: str) -> bool:
    """Whether an environment variable (or option, or key) name looks like it holds a secret."""
    return bool(name) and _KEYWORD_RE.search(name) is not None


def _mask_value(m: re.Match[str]) -> str:
    if m["dq"] is not None:
        value = f'"{MASK}"'
    elif m["sq"] is not None:
        value = f"'{MASK}'"
    else:
        value = MASK
    return f"{m['name']}{m.groupdict().get('nq') or ''}{m['sep']}{value}"


def _mask_mysql_line(m: re.Match[str]) -> str:
    return _MYSQL_PASSWORD.sub(lambda p: f"{p['flag']}{MASK}", m[0])


def redact(text: str) -> str:
    """Return ``text`` with every recognisable secret value replaced by ``***``."""
    if not text:
        return text
    text = _PRIVATE_KEY.sub(lambda m: f"{m['begin']}{MASK}{m['end']}", text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    if "-p" in text:
        text = _MYSQL_LINE.sub(_mask_mysql_line, text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['kind']} {MASK}", text)
    text = _OPTION.sub(_mask_value, text)
    text = _ASSIGNMENT.sub(_mask_value, text)
    return _TOKEN_SHAPES.sub(MASK, text)


def redact_env(env: dict[str, str]) -> dict[str, str]:
    """Environment with secret-looking names masked and credentials in values hidden."""
    return {k: (MASK if is_secret_name(k) and v else redact(v)) for k, v in env.items()}
