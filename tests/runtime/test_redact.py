"""Secret redaction: what is hidden, what is left alone, and that it stays linear-time."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from owlclaw_runtime.redact import MASK, is_secret_name, redact, redact_env


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("export PGPASSWORD=hunter2", "export PGPASSWORD=***"),
        ("DB_PASS=x ./run", "DB_PASS=*** ./run"),
        ("AWS_SECRET_ACCESS_KEY = abc/def+ghi", "AWS_SECRET_ACCESS_KEY = ***"),
        ('PGPASSWORD="a b c" pg_dump', 'PGPASSWORD="***" pg_dump'),
        ("TOKEN='x y' curl", "TOKEN='***' curl"),
        ('PASSWORD="unterminated', "PASSWORD=***"),
        ('{"password": "hunter2", "user": "bob"}', '{"password": "***", "user": "bob"}'),
        ("api_key: abc123", "api_key: ***"),
        ("x.password=abc", "x.password=***"),
        ("a=PASSWORD=x", "a=PASSWORD=***"),
        ("curl 'https://h/x?token=abc&page=2'", "curl 'https://h/x?token=***&page=2'"),
        ("--token abc123 --db-password=zzz", "--token *** --db-password=***"),
        ("mysqldump -uroot -psecret db", "mysqldump -uroot -p*** db"),
        ("MYSQL -u root -pS3cr3t", "MYSQL -u root -p***"),
        ("pg_dump postgresql://app:s3cret@db/prod", "pg_dump postgresql://app:***@db/prod"),
        ("ftp://u:p@ss@host/x", "ftp://u:***@host/x"),
        ("Authorization: Bearer abcdefghijk", "Authorization: Bearer ***"),
        ("key AKIAABCDEFGHIJKLMNOP here", "key *** here"),
        ("ghp_" + "a" * 36, MASK),
        ("xoxb-1234567890-abcdef", MASK),
        ("sk-" + "A1" * 12, MASK),
        ("sk_live_" + "a" * 24, MASK),
        ("AIza" + "b" * 35, MASK),
        ("glpat-" + "c" * 20, MASK),
        ("eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.sig_nature-x", MASK),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----\nok",
            "-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----\nok",
        ),
        # a key block cut off by the output tail is hidden to the end
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r",
            "-----BEGIN OPENSSH PRIVATE KEY-----***",
        ),
    ],
    ids=lambda v: v[:30] if isinstance(v, str) else None,
)
def test_it_hides_secret_values(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "find /tmp -mtime +7 -print -delete",  # -p… is not a password outside a mysql line
        "ssh -p2222 backup@host",
        "rsync -av /srv/ host:/backup/",
        "http://host:8080/path",
        "tokens_in=100 max_tokens=5",  # token counts are not secrets
        "passthrough=1",
        "0 2 * * * /usr/local/bin/backup.sh > /dev/null 2>&1",
        "PATH=/usr/bin:/bin",
        "",
    ],
)
def test_it_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_is_secret_name() -> None:
    assert is_secret_name("PGPASSWORD")
    assert is_secret_name("github_token")
    assert is_secret_name("AWS_ACCESS_KEY_ID")
    assert is_secret_name("client-secret")
    assert not is_secret_name("tokens_out")
    assert not is_secret_name("HOME")
    assert not is_secret_name("")


def test_redact_env_masks_secret_names_and_credentials_in_values() -> None:
    env = {
        "MAILTO": "ops@example.com",
        "DB_PASSWORD": "hunter2",
        "EMPTY_TOKEN": "",
        "DATABASE_URL": "postgres://app:pw@db/x",
    }
    assert redact_env(env) == {
        "MAILTO": "ops@example.com",
        "DB_PASSWORD": MASK,
        "EMPTY_TOKEN": "",
        "DATABASE_URL": "postgres://app:***@db/x",
    }


_SECRET_NAMES = st.sampled_from(
    ["PGPASSWORD", "DB_PASS", "api_key", "GITHUB_TOKEN", "client_secret", "X-Api-Key"]
)
_VALUES = st.text(
    alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), max_codepoint=127),
    min_size=6,
    max_size=30,
)


@given(
    before=st.text(max_size=40),
    name=_SECRET_NAMES,
    sep=st.sampled_from(["=", ": ", " = ", ":"]),
    value=_VALUES,
    quote=st.sampled_from(["", "'", '"']),
)
def test_a_named_secret_never_survives(
    before: str, name: str, sep: str, value: str, quote: str
) -> None:
    text = f"{before} {name}{sep}{quote}{value}{quote} tail"
    out = redact(text)
    assert f"{name}{sep}{quote}{MASK}{quote} tail" in out
    assert out.count(value) < text.count(value)


@given(st.text(max_size=200))
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


# No letter of any keyword trigger (no s, t, y, k, capitals) and no '-', '/' or '@'.
_HARMLESS = st.text(alphabet="abcdefghijlmnopqruvwxz0123456789 .,=:_\n", max_size=200)


@given(_HARMLESS)
def test_text_without_secrets_is_unchanged(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "unit",
    ["a.", "a-", "x", "pass", "password", "sk-", "eyJ", "a:b", " -p", "token='", "--", "ab://"],
)
def test_redaction_is_linear_on_adversarial_input(unit: str) -> None:
    text = unit * (200_000 // len(unit))
    started = time.perf_counter()
    redact(text)
    redact("mysql " + text)
    assert time.perf_counter() - started < 2.0  # quadratic patterns took minutes here
