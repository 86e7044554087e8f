"""What a job calls: shell commands (bashlex), Python scripts (libcst), shell scripts."""

from __future__ import annotations

import pytest

from owlmigrate.analyze import analyze_command, analyze_python, shell_script_details
from owlmigrate.analyze.risks import percent_is_cut
from owlmigrate.analyze.scripts import language_of


def main_words(command: str) -> list[list[str]]:
    return [c.words for c in analyze_command(command).main]


def test_cd_then_relative_script_and_pipe_to_logger():
    r = analyze_command("cd /srv/app && ./backup.sh --full 2>&1 | logger -t backup")
    assert main_words("cd /srv/app && ./backup.sh --full 2>&1 | logger -t backup") == [
        ["./backup.sh", "--full"],
        ["logger", "-t", "backup"],
    ]
    assert r.main[0].cwd == "/srv/app" and r.cwd == ["/srv/app"]
    assert r.stdout == "captured" and r.stderr == "captured"


@pytest.mark.parametrize(
    ("command", "stdout", "stderr"),
    [
        ("/x >/dev/null 2>&1", "discarded", "discarded"),
        ("/x 2>&1 >/dev/null", "discarded", "cron"),
        ("/x &>/dev/null", "discarded", "discarded"),
        ("/x >> /var/log/x.log 2>&1", "captured", "captured"),
        ("/x 2>/dev/null", "cron", "discarded"),
        ("/x", "cron", "cron"),
    ],
)
def test_where_output_goes(command, stdout, stderr):
    r = analyze_command(command)
    assert (r.stdout, r.stderr) == (stdout, stderr)


def test_wrappers_are_unwrapped():
    r = analyze_command("flock -n /run/lock/q.lock nice -n 10 timeout 5m /srv/q.py --once")
    assert main_words("flock -n /run/lock/q.lock nice -n 10 timeout 5m /srv/q.py --once") == [
        ["/srv/q.py", "--once"]
    ]
    assert r.locks == [("flock", "/run/lock/q.lock")]
    assert [w[0] for w in r.main[0].wrappers] == ["flock", "nice", "timeout"]


def test_flock_dash_c_and_run_one():
    r = analyze_command("flock -x /tmp/l -c '/a.sh && /b.sh'")
    assert [c.words for c in r.main] == [["/a.sh"], ["/b.sh"]]
    assert analyze_command("run-one /x.sh").locks == [("run-one", None)]


@pytest.mark.parametrize(
    ("command", "switch", "words"),
    [
        ("sudo -u www-data /x.sh a", ("sudo", "www-data"), [["/x.sh", "a"]]),
        ('su - etl -c "/opt/run.sh job"', ("su", "etl"), [["/opt/run.sh", "job"]]),
        ("runuser -u app -- /y", ("runuser", "app"), [["/y"]]),
        ("sudo /z", ("sudo", "root"), [["/z"]]),
    ],
)
def test_user_switches(command, switch, words):
    r = analyze_command(command)
    assert r.user_switches == [switch]
    assert [c.words for c in r.main] == words


def test_guards():
    r = analyze_command(
        "test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }"
    )
    assert r.anacron_guard and r.run_parts == ["/etc/cron.daily"]
    assert r.main[0].guarded_by == [["||", "test", "-x", "/usr/sbin/anacron"]]
    s = analyze_command("[ -d /run/systemd/system ] || /srv/gc.sh")
    assert s.systemd_guard
    php = analyze_command(
        "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then "
        "/usr/lib/php/sessionclean; fi"
    )
    assert php.systemd_guard and php.main[0].guarded_by[-1][0] == "if"


def test_variables_and_substitutions():
    r = analyze_command('tar czf /b/$(date +%F).tgz "$HOME" ${BACKUP_DIR:-/srv}')
    assert r.variables == ["HOME", "BACKUP_DIR"]
    assert [c.words for c in r.main] == [
        ["tar", "czf", "/b/$(date +%F).tgz", "$HOME", "${BACKUP_DIR:-/srv}"]
    ]
    assert any(c.in_substitution and c.base == "date" for c in r.commands)


def test_unparseable_commands_never_raise():
    r = analyze_command("cp a /b/$(date +")
    assert r.parse_error and r.commands[0].words[0] == "cp"
    assert analyze_command("").commands == []


def test_percent_cut_heuristic():
    assert percent_is_cut("cp x /a/error-$(date +", "Y-\nm-\nd).log\n")
    assert percent_is_cut("date +", "s > /tmp/t\n")
    assert not percent_is_cut("psql -q webapp", "VACUUM;\n")
    assert not percent_is_cut("mail -s hi root ", "body\n")


def test_python_script_analysis():
    src = '''"""Doc line."""
import argparse, os
import requests
from sqlalchemy import create_engine
import subprocess as sp

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--once", action="store_true")
    p.add_argument("target")

if __name__ == "__main__":
    main()
'''
    a = analyze_python(src)
    assert a.entry_point and a.main and a.cli == "argparse"
    assert a.options == ["--once", "target"] and a.docstring == "Doc line."
    assert a.imports == {
        "other": ["argparse"],
        "filesystem": ["os"],
        "network": ["requests"],
        "database": ["sqlalchemy"],
        "subprocess": ["subprocess"],
    }


def test_click_script_and_syntax_error():
    a = analyze_python(
        "import click\n@click.command()\n@click.option('--email')\n@click.argument('n')\n"
        "def cli(email, n):\n    pass\n"
    )
    assert a.cli == "click" and a.options == ["--email", "n"] and not a.entry_point
    assert analyze_python("def (:\n").error


def test_shell_script_exits_on_systemd():
    logrotate = (
        "#!/bin/sh\nif [ -d /run/systemd/system ]; then\n    exit 0\nfi\n"
        "/usr/sbin/logrotate /etc/logrotate.conf\n"
    )
    d = shell_script_details(logrotate)
    assert d["exits_on_systemd"] and d["commands"] == ["logrotate"]
    assert not shell_script_details("#!/bin/sh\n[ -d /run/systemd/system ] || exit 0\n/x\n")[
        "exits_on_systemd"
    ]
    assert shell_script_details("[ ! -d /run/systemd/system ] || exit 0\n")["exits_on_systemd"]


@pytest.mark.parametrize(
    ("data", "name", "lang"),
    [
        (b"#!/usr/bin/env python3\nprint(1)\n", "x", "python"),
        (b"#!/bin/bash\necho\n", "x", "shell"),
        (b"#!/usr/bin/perl\n", "x", "opaque"),
        (b"print(1)\n", "job.py", "python"),
        (b"\x7fELF\x00\x00", "bin", "opaque"),
        (b"echo hi\n", "x", "shell"),
    ],
)
def test_script_language(data, name, lang):
    assert language_of(data, name)[0] == lang
