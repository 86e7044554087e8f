"""Discovery and host facts: which files each daemon reads, and what the host is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from owlmigrate import sources
from owlmigrate.sources import (
    crond_skips,
    detect_host,
    dialect_for_os,
    discover,
    parse_os_release,
    parse_passwd,
    periodic_scripts,
    read_source,
    run_parts_skips,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "legacy_crontabs"


@pytest.mark.parametrize(
    ("os_release", "dialect"),
    [
        ("ID=debian\n", "debian"),
        ("ID=ubuntu\nID_LIKE=debian\n", "debian"),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "cronie"),
        ("ID=fedora\n", "cronie"),
        ("ID=alpine\n", "busybox"),
        ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', "debian"),
        ("ID=gentoo\n", None),
    ],
)
def test_dialect_from_os_release(os_release: str, dialect: str | None):
    assert dialect_for_os(parse_os_release(os_release)) == dialect


@pytest.mark.parametrize(
    ("host", "dialect", "tz", "systemd"),
    [
        ("debian-web", "debian", "Europe/London", True),
        ("rhel-batch", "cronie", "America/New_York", True),
        ("alpine-container", "busybox", "UTC", False),
    ],
)
def test_host_facts_of_the_examples(host, dialect, tz, systemd):
    facts = detect_host(EXAMPLES / host)
    assert (facts.dialect, facts.timezone, facts.systemd) == (dialect, tz, systemd)
    assert "root" in facts.users
    assert facts.detected["dialect"] == "etc/os-release"


def test_overrides_win_and_unknown_hosts_default(tmp_path: Path):
    facts = detect_host(tmp_path)
    assert (facts.dialect, facts.timezone, facts.systemd) == ("debian", "UTC", False)
    assert facts.detected["timezone"].startswith("default")
    forced = detect_host(
        EXAMPLES / "debian-web", dialect="cronie", timezone="Asia/Tokyo", systemd=False
    )
    assert (forced.dialect, forced.timezone, forced.systemd) == ("cronie", "Asia/Tokyo", False)
    assert forced.detected["dialect"] == "option"


def test_timezone_from_localtime_link(tmp_path: Path):
    (tmp_path / "etc").mkdir()
    os.symlink("/usr/share/zoneinfo/Australia/Sydney", tmp_path / "etc" / "localtime")
    assert detect_host(tmp_path).timezone == "Australia/Sydney"


def test_passwd_parsing_skips_malformed_lines():
    users = parse_passwd("root:x:0:0:root:/root:/bin/bash\nbroken\nbad:x:y:0::/:/bin/sh\n")
    assert list(users) == ["root"] and users["root"].home == "/root"


@pytest.mark.parametrize(
    ("name", "dialect", "skipped"),
    [
        ("php", "debian", False),
        ("webapp.dpkg-old", "debian", True),
        ("foo.conf", "debian", True),
        ("foo.conf", "cronie", False),
        ("etl.rpmnew", "cronie", True),
        ("x~", "cronie", True),
        (".hidden", "cronie", True),
        ("#tmp#", "cronie", True),
        ("app.bak", "busybox", True),
    ],
)
def test_crond_name_rules(name, dialect, skipped):
    assert (crond_skips(name, dialect) is not None) is skipped


@pytest.mark.parametrize(
    ("name", "dialect", "skipped"),
    [
        ("logrotate", "debian", False),
        ("cleanup.sh", "debian", True),
        ("cleanup.sh", "cronie", False),
        ("etl-archive~", "cronie", True),
        ("x.rpmsave", "cronie", True),
        (".placeholder", "debian", True),
    ],
)
def test_run_parts_name_rules(name, dialect, skipped):
    assert (run_parts_skips(name, dialect) is not None) is skipped


def test_discovery_per_dialect():
    deb = {c.rel: c for c in discover(detect_host(EXAMPLES / "debian-web"))}
    assert deb["etc/cron.d/webapp"].runs and deb["etc/cron.d/webapp"].system_format
    assert not deb["etc/cron.d/webapp.dpkg-old"].runs
    assert deb["var/spool/cron/crontabs/www-data"].user == "www-data"
    assert not deb["var/spool/cron/crontabs/olduser"].runs
    rhel = {c.rel: c for c in discover(detect_host(EXAMPLES / "rhel-batch"))}
    assert rhel["etc/cron.d/warehouse.cron"].runs
    assert not rhel["etc/cron.d/etl.rpmnew"].runs
    assert rhel["var/spool/cron/batch"].kind == "user"
    assert rhel["etc/anacrontab"].kind == "anacrontab"
    alp = {c.rel: c for c in discover(detect_host(EXAMPLES / "alpine-container"))}
    assert alp["etc/crontabs/root"].runs and not alp["etc/crontabs/app.bak"].runs


def test_modes_are_notes_in_a_copied_tree_and_binding_when_asked(tmp_path: Path):
    (tmp_path / "etc" / "cron.d").mkdir(parents=True)
    (tmp_path / "etc" / "os-release").write_text("ID=fedora\n")
    f = tmp_path / "etc" / "cron.d" / "job"
    f.write_text("0 1 * * * root /x\n")
    f.chmod(0o755)
    host = detect_host(tmp_path)
    loose = {c.rel: c for c in discover(host)}["etc/cron.d/job"]
    assert loose.runs and any("07533" in n for n in loose.notes)
    strict = {c.rel: c for c in discover(host, enforce_modes=True)}["etc/cron.d/job"]
    assert not strict.runs and "07533" in (strict.reason or "")


def test_periodic_scripts_follow_run_parts():
    host = detect_host(EXAMPLES / "debian-web")
    got = {rel: (runs, reason) for rel, runs, reason in periodic_scripts(host, "/etc/cron.daily")}
    assert got["etc/cron.daily/logrotate"] == (True, None)
    assert not got["etc/cron.daily/cleanup-uploads.sh"][0]
    assert got["etc/cron.daily/rotate-exports"] == (False, "not executable: run-parts skips it")


def test_read_source_reports_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert read_source(tmp_path / "gone") == (None, "the file vanished or is a dangling link")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    assert read_source(tmp_path / "dangling")[1] == "the file vanished or is a dangling link"
    assert read_source(tmp_path)[1] == "not a regular file"
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 10)
    assert "over the 10-byte limit" in (read_source(big)[1] or "")
    monkeypatch.undo()
    # Running as root here, so EACCES cannot be produced by chmod; the OS error is injected.
    denied = tmp_path / "denied"
    denied.write_text("0 1 * * * /x\n")

    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", refuse)
    assert read_source(denied) == (None, "permission denied")


def test_spool_mode_and_link_rules(tmp_path: Path):
    deb = tmp_path / "deb"
    (deb / "etc").mkdir(parents=True)
    (deb / "etc" / "os-release").write_text("ID=debian\n")
    (deb / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/h:/bin/sh\n"
    )
    spool = deb / "var" / "spool" / "cron" / "crontabs"
    spool.mkdir(parents=True)
    (spool / "alice").write_text("0 1 * * * /x\n")
    (spool / "alice").chmod(0o644)
    c = {x.rel: x for x in discover(detect_host(deb), enforce_modes=True)}
    assert "Debian requires 0600" in (c["var/spool/cron/crontabs/alice"].reason or "")
    rh = tmp_path / "rh"
    (rh / "etc").mkdir(parents=True)
    (rh / "etc" / "os-release").write_text("ID=fedora\n")
    (rh / "var" / "spool" / "cron").mkdir(parents=True)
    tab = rh / "var" / "spool" / "cron" / "root"
    tab.write_text("0 1 * * * /x\n")
    tab.chmod(0o600)
    os.link(tab, tmp_path / "second-link")
    c = {x.rel: x for x in discover(detect_host(rh), enforce_modes=True)}
    assert "BAD LINK COUNT" in (c["var/spool/cron/root"].reason or "")
    (tmp_path / "second-link").unlink()
    c = {x.rel: x for x in discover(detect_host(rh), enforce_modes=True)}
    assert c["var/spool/cron/root"].runs
