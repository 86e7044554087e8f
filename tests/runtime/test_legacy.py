"""LegacyCommand with real processes: cron's environment, ``%`` stdin, working directory, user
switching, process-group timeouts, the output tail and exit codes; through ``run`` and ``arun``."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from owlclaw_runtime import LegacyCommand, LegacyJobFailed, LegacyResult
from owlclaw_runtime.errors import ConfigurationError, OwlClawError
from owlclaw_runtime.legacy import cron_environment

Runner = Callable[..., LegacyResult]
IS_ROOT = os.geteuid() == 0
ME = pwd.getpwuid(os.geteuid())
# unique per test session, so concurrent sessions on one host never share (or delete) it
TEST_USER = f"owlmt{uuid.uuid4().hex[:10]}"
TEST_GROUP = f"{TEST_USER}g"
# what a POSIX shell itself adds to the environment it passes on
SHELL_ADDED = {"PWD", "OLDPWD", "SHLVL", "_"}


@pytest.fixture(params=["run", "arun"])
def runner(request: pytest.FixtureRequest) -> Runner:
    """Runs a LegacyCommand through the blocking or the asyncio entry point."""
    if request.param == "run":
        return lambda cmd, **kw: cmd.run(**kw)
    return lambda cmd, **kw: asyncio.run(cmd.arun(**kw))


def job_env(result: LegacyResult) -> dict[str, str]:
    """Parse the output of ``env -0``."""
    pairs = [p for p in result.output_tail.split("\0") if p]
    return dict(p.split("=", 1) for p in pairs)


def assert_env(actual: dict[str, str], expected: dict[str, str], cwd: str) -> None:
    extra = set(actual) - set(expected)
    assert extra <= SHELL_ADDED, f"unexpected variables {extra}"
    assert {k: actual[k] for k in expected if k in actual} == expected
    assert set(expected) <= set(actual)
    if "PWD" in actual:
        assert actual["PWD"] == cwd


def is_dead(pid: int) -> bool:
    """Gone, or a zombie waiting for a reaper (it runs nothing any more)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_dead(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if is_dead(pid):
            return True
        time.sleep(0.05)
    return is_dead(pid)


@pytest.fixture(autouse=True)
def _runtime_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # the runtime's own environment must never leak into a job
    monkeypatch.setenv("RUNTIME_ONLY_SECRET", "leak")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("LC_TIME", "C")


# -- the environment, as each daemon builds it --


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (
            "debian",
            {"SHELL": "/bin/sh", "HOME": ME.pw_dir, "PATH": "/usr/bin:/bin", "LOGNAME": ME.pw_name},
        ),
        (
            "cronie",
            {
                "SHELL": "/bin/sh",
                "HOME": ME.pw_dir,
                "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
                "LOGNAME": ME.pw_name,
                "USER": ME.pw_name,
                "LANG": "C.UTF-8",
                "LC_TIME": "C",
            },
        ),
        (
            "busybox",
            {
                "SHELL": "/bin/sh",
                "HOME": ME.pw_dir,
                "PATH": os.environ["PATH"],
                "LOGNAME": ME.pw_name,
                "USER": ME.pw_name,
            },
        ),
    ],
)
def test_default_environment_is_the_daemons(
    runner: Runner, dialect: str, expected: dict[str, str]
) -> None:
    result = runner(LegacyCommand("env -0", dialect=dialect))
    assert_env(job_env(result), expected, ME.pw_dir)
    assert result.exit_code == 0 and result.succeeded


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        # Debian forces LOGNAME only; USER from the crontab stays
        (
            "debian",
            {
                "SHELL": "/bin/bash",
                "HOME": "{home}",
                "PATH": "/opt/bin:/usr/bin:/bin",
                "LOGNAME": ME.pw_name,
                "USER": "evil",
                "MAILTO": "ops@example.com",
                "GREETING": "a  b",
                "LANG": "en_GB.UTF-8",
            },
        ),
        (
            "cronie",
            {
                "SHELL": "/bin/bash",
                "HOME": "{home}",
                "PATH": "/opt/bin:/usr/bin:/bin",
                "LOGNAME": ME.pw_name,
                "USER": ME.pw_name,
                "MAILTO": "ops@example.com",
                "GREETING": "a  b",
                "LANG": "en_GB.UTF-8",  # the crontab's, not crond's
                "LC_TIME": "C",
            },
        ),
        # busybox reads only SHELL= and PATH= lines; HOME always comes from passwd
        (
            "busybox",
            {
                "SHELL": "/bin/bash",
                "HOME": ME.pw_dir,
                "PATH": "/opt/bin:/usr/bin:/bin",
                "LOGNAME": ME.pw_name,
                "USER": ME.pw_name,
            },
        ),
    ],
)
def test_crontab_assignments_override_defaults_but_not_logname(
    runner: Runner, tmp_path: Path, dialect: str, expected: dict[str, str]
) -> None:
    crontab_env = {
        "SHELL": "/bin/bash",
        "HOME": str(tmp_path),
        "PATH": "/opt/bin:/usr/bin:/bin",
        "LOGNAME": "evil",
        "USER": "evil",
        "MAILTO": "ops@example.com",
        "GREETING": "a  b",
        "LANG": "en_GB.UTF-8",
    }
    result = runner(LegacyCommand("/usr/bin/env -0", env=crontab_env, dialect=dialect))
    want = {k: v.format(home=tmp_path) for k, v in expected.items()}
    cwd = str(tmp_path) if dialect != "busybox" else ME.pw_dir
    assert_env(job_env(result), want, cwd)


def test_cron_environment_for_another_account() -> None:
    alice = pwd.struct_passwd(("alice", "x", 1000, 1000, "", "/home/alice", "/bin/zsh"))
    # the login shell is never used: cron runs /bin/sh unless the crontab sets SHELL
    assert cron_environment(alice, {"X": "1"}, "debian", daemon_env={"LANG": "C"}) == {
        "X": "1",
        "SHELL": "/bin/sh",
        "HOME": "/home/alice",
        "PATH": "/usr/bin:/bin",
        "LOGNAME": "alice",
    }
    assert cron_environment(alice, None, "cronie-1.5", daemon_env={"LC_ALL": "C", "TERM": "x"}) == {
        "SHELL": "/bin/sh",
        "HOME": "/home/alice",
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "LOGNAME": "alice",
        "USER": "alice",
        "LC_ALL": "C",
    }
    assert cron_environment(alice, {"X": "1", "SHELL": ""}, "busybox", daemon_env={}) == {
        "LOGNAME": "alice",
        "USER": "alice",
        "HOME": "/home/alice",
        "SHELL": "/bin/sh",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }


def test_the_crontab_shell_is_the_one_that_runs(runner: Runner) -> None:
    result = runner(LegacyCommand('echo "[$BASH_VERSION]"', env={"SHELL": "/bin/bash"}))
    assert result.output_tail.startswith("[") and result.output_tail != "[]\n"
    plain = runner(LegacyCommand('echo "[$BASH_VERSION]"'))
    assert plain.output_tail == "[]\n"  # /bin/sh is dash here, not bash


def test_a_shell_that_cannot_be_executed_fails_like_crons_child(runner: Runner) -> None:
    with pytest.raises(LegacyJobFailed) as info:
        runner(LegacyCommand("echo hi", env={"SHELL": "/bin/no-such-shell"}))
    assert info.value.result.exit_code == 1
    assert info.value.result.output_tail == (
        "execl: couldn't exec `/bin/no-such-shell'\nexecl: No such file or directory\n"
    )


# -- stdin and working directory --


def test_percent_text_is_the_jobs_stdin(runner: Runner) -> None:
    result = runner(LegacyCommand("cat; echo '|'", stdin="line 1\nline 2 %"))
    assert result.output_tail == "line 1\nline 2 %|\n"


def test_without_percent_stdin_is_empty_and_closed(runner: Runner) -> None:
    result = runner(LegacyCommand("wc -c", timeout=10))
    assert result.output_tail.strip() == "0"


def test_large_stdin_is_delivered_whole_or_ignored_without_hanging(runner: Runner) -> None:
    big = "x" * 1_000_000
    assert runner(LegacyCommand("wc -c", stdin=big, timeout=30)).output_tail.strip() == "1000000"
    assert runner(LegacyCommand("true", stdin=big, timeout=30)).exit_code == 0


def test_working_directory_is_home(runner: Runner, tmp_path: Path) -> None:
    assert runner(LegacyCommand("pwd")).output_tail == f"{ME.pw_dir}\n"
    moved = runner(LegacyCommand("pwd", env={"HOME": str(tmp_path)}))
    assert moved.output_tail == f"{tmp_path}\n"


@pytest.mark.parametrize("dialect", ["debian", "cronie"])
def test_a_missing_home_means_the_job_does_not_run(
    runner: Runner, tmp_path: Path, dialect: str
) -> None:
    marker = tmp_path / "ran"
    command = LegacyCommand(
        f"touch {marker}", env={"HOME": str(tmp_path / "gone")}, dialect=dialect
    )
    with pytest.raises(LegacyJobFailed) as info:
        runner(command)
    assert info.value.result.exit_code == 1
    assert info.value.result.output_tail.startswith(f"chdir(HOME) failed: {tmp_path / 'gone'}")
    assert not marker.exists()


# -- timeouts and cancellation --


def test_timeout_kills_the_whole_process_tree(runner: Runner, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    command = LegacyCommand(f"sleep 300 & echo $! > {pidfile}; echo started; sleep 300")
    started = time.monotonic()
    with pytest.raises(LegacyJobFailed) as info:
        runner(command, timeout=1.0)
    result = info.value.result
    assert time.monotonic() - started < 10
    assert result.timed_out and not result.succeeded
    assert (result.exit_code, result.signal) == (143, 15)
    assert result.output_tail == "started\n"
    assert str(info.value) == "legacy job timed out after 1s and was killed: started"
    assert result.timeout_seconds == 1.0
    assert wait_dead(int(pidfile.read_text()))
    assert wait_dead(result.pid)


def test_a_tree_that_ignores_sigterm_gets_sigkill(runner: Runner, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    command = LegacyCommand(
        f"trap '' TERM; sleep 300 & echo $! > {pidfile}; sleep 300", timeout=0.5, kill_grace=0.5
    )
    with pytest.raises(LegacyJobFailed) as info:
        runner(command)
    assert (info.value.result.exit_code, info.value.result.signal) == (137, 9)
    assert wait_dead(int(pidfile.read_text()))


def test_cancelling_arun_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    command = LegacyCommand(f"sleep 300 & echo $! > {pidfile}; sleep 300")

    async def scenario() -> None:
        task = asyncio.ensure_future(command.arun())
        for _ in range(200):
            if pidfile.exists() and pidfile.read_text().strip():
                break
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert wait_dead(int(pidfile.read_text()))


@pytest.mark.parametrize("delay", [0.0, 0.001, 0.003, 0.01, 0.03])
def test_cancelling_at_any_moment_never_hangs_or_leaks(tmp_path: Path, delay: float) -> None:
    pidfile = tmp_path / "grandchild.pid"
    command = LegacyCommand(f"sleep 300 & echo $! > {pidfile}; sleep 300")

    async def scenario() -> None:
        task = asyncio.ensure_future(command.arun())
        await asyncio.sleep(delay)  # possibly while the process is still being created
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=20)

    asyncio.run(scenario())
    time.sleep(0.2)
    if pidfile.exists() and pidfile.read_text().strip():
        assert wait_dead(int(pidfile.read_text()))


def test_a_background_grandchild_does_not_hold_up_completion(runner: Runner) -> None:
    started = time.monotonic()
    result = runner(LegacyCommand("sleep 30 & echo done"))
    assert result.output_tail == "done\n"
    assert time.monotonic() - started < 5


def test_a_background_grandchild_keeps_writing_after_the_shell_exits(
    runner: Runner, tmp_path: Path
) -> None:
    # cron reads the job's output to EOF, so a background writer is not killed by SIGPIPE
    marker = tmp_path / "finished"
    command = LegacyCommand(
        f"(sleep 0.5; echo late; sleep 0.3; echo late again; touch {marker}) & echo done"
    )
    assert runner(command).output_tail == "done\n"
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()


# -- output and exit codes --


def test_output_is_merged_bounded_and_redacted(runner: Runner) -> None:
    command = LegacyCommand(
        "echo out; echo err >&2; head -c 200000 /dev/zero | tr '\\0' x; echo;"
        " echo PGPASSWORD=hunter2; echo 'mysql -uroot -ps3cret'",
        output_limit=1000,
    )
    tail = runner(command).output_tail
    assert len(tail.encode()) <= 1000
    assert tail.endswith("x\nPGPASSWORD=***\nmysql -uroot -p***\n")
    assert "hunter2" not in tail and "s3cret" not in tail
    merged = runner(LegacyCommand("echo out; echo err >&2; echo out2")).output_tail
    assert merged == "out\nerr\nout2\n"


def test_non_utf8_output_is_kept_with_replacement_characters(runner: Runner) -> None:
    assert runner(LegacyCommand(r"printf 'a\377b\n'")).output_tail == "a\ufffdb\n"


@pytest.mark.parametrize(
    ("command", "code", "sig", "message"),
    [
        ("echo partial; exit 3", 3, None, "legacy job exited with status 3: partial"),
        ("exit 255", 255, None, "legacy job exited with status 255"),
        ("kill -9 $$", 137, 9, "legacy job was killed by signal 9"),
        ("echo 'token=abc123'; exit 1", 1, None, "legacy job exited with status 1: token=***"),
    ],
)
def test_exit_status_maps_to_failure(
    runner: Runner, command: str, code: int, sig: int | None, message: str
) -> None:
    with pytest.raises(LegacyJobFailed) as info:
        runner(LegacyCommand(command))
    assert isinstance(info.value, OwlClawError)
    assert (info.value.result.exit_code, info.value.result.signal) == (code, sig)
    assert info.value.exit_code == code
    assert info.value.result.timed_out is False
    assert str(info.value) == message
    assert info.value.command == command


def test_the_failure_survives_pickling() -> None:
    import pickle

    with pytest.raises(LegacyJobFailed) as info:
        LegacyCommand("echo bye; exit 4").run()
    copy = pickle.loads(pickle.dumps(info.value))
    assert (str(copy), copy.result, copy.exit_code) == (
        "legacy job exited with status 4: bye",
        info.value.result,
        4,
    )


def test_success_returns_the_result(runner: Runner) -> None:
    result = runner(LegacyCommand("echo ok", timeout=30))
    assert (result.exit_code, result.timed_out, result.signal) == (0, False, None)
    assert result.output_tail == "ok\n"
    assert result.pid > 0 and 0 <= result.duration_seconds < 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"command": "  "}, "must not be empty"),
        ({"command": "true", "dialect": "solaris"}, "unknown cron dialect 'solaris'"),
        ({"command": "true", "timeout": 0}, "timeout must be positive"),
    ],
)
def test_bad_arguments_are_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LegacyCommand(**kwargs)  # type: ignore[arg-type]


def test_an_unknown_user_is_refused(runner: Runner) -> None:
    with pytest.raises(ConfigurationError, match="no such user on this host"):
        runner(LegacyCommand("true", user="no-such-user-xyz"))


def test_repr_hides_secrets() -> None:
    text = repr(LegacyCommand("PGPASSWORD=x pg_dump db", user="postgres", timeout=5))
    assert "PGPASSWORD=***" in text and "postgres" in text


# -- users --


def _admin(*command: str) -> None:
    """useradd & co. refuse while another process holds the passwd lock: retry briefly."""
    for _ in range(50):
        if subprocess.run(command, capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(command, check=True)


@pytest.fixture(scope="session")
def test_account() -> Iterator[pwd.struct_passwd]:
    """A throwaway user (with a supplementary group and its own home) created for the tests."""
    if not IS_ROOT:
        pytest.skip("switching users needs root")
    home = tempfile.mkdtemp(prefix="owlmigtest-home-", dir="/tmp")
    _admin("groupadd", TEST_GROUP)
    try:
        _admin("useradd", "-M", "-d", home, "-s", "/bin/sh", "-G", TEST_GROUP, TEST_USER)
        try:
            account = pwd.getpwnam(TEST_USER)
            os.chown(home, account.pw_uid, account.pw_gid)
            yield account
        finally:
            _admin("userdel", TEST_USER)
    finally:
        _admin("groupdel", TEST_GROUP)
        shutil.rmtree(home, ignore_errors=True)


def test_root_runs_the_job_as_the_crontab_user(
    runner: Runner, test_account: pwd.struct_passwd
) -> None:
    command = LegacyCommand(
        "id -u; id -g; id -G; pwd; echo $LOGNAME $USER $HOME; touch made",
        user=TEST_USER,
        dialect="cronie",
    )
    lines = runner(command).output_tail.splitlines()
    groups = sorted(os.getgrouplist(TEST_USER, test_account.pw_gid))
    assert lines[0] == str(test_account.pw_uid)
    assert lines[1] == str(test_account.pw_gid)
    assert sorted(int(g) for g in lines[2].split()) == groups
    assert grp.getgrnam(TEST_GROUP).gr_gid in groups  # initgroups happened
    assert lines[3] == test_account.pw_dir
    assert lines[4] == f"{TEST_USER} {TEST_USER} {test_account.pw_dir}"
    made = Path(test_account.pw_dir) / "made"
    assert made.stat().st_uid == test_account.pw_uid


def test_a_home_the_user_cannot_enter_stops_the_job(
    runner: Runner, test_account: pwd.struct_passwd
) -> None:
    private = Path(tempfile.mkdtemp(dir="/tmp"))  # 0700 and owned by root
    try:
        with pytest.raises(LegacyJobFailed, match="chdir\\(HOME\\) failed"):
            runner(LegacyCommand("true", user=TEST_USER, env={"HOME": str(private)}))
    finally:
        private.rmdir()


def _as_user(uid: int, gid: int, fn: Callable[[], object]) -> dict[str, object]:
    """Run ``fn`` in a forked child that has dropped to uid/gid; returns what it reported."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            outcome: dict[str, object] = {"ok": True, "value": repr(fn())}
        except BaseException as exc:
            outcome = {"ok": False, "type": type(exc).__name__, "message": str(exc)}
        os.write(write_end, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    report: dict[str, object] = json.loads(data)
    return report


def test_a_non_root_runtime_refuses_another_users_job(test_account: pwd.struct_passwd) -> None:
    report = _as_user(
        test_account.pw_uid,
        test_account.pw_gid,
        lambda: LegacyCommand("true", user="root").run(),
    )
    assert report["ok"] is False and report["type"] == "ConfigurationError"
    assert report["message"] == (
        f"cannot run the legacy job as 'root': the runtime runs as '{TEST_USER}' and is not "
        f"root; run the worker as root or as 'root'"
    )


def test_a_non_root_runtime_runs_its_own_users_job(test_account: pwd.struct_passwd) -> None:
    report = _as_user(
        test_account.pw_uid,
        test_account.pw_gid,
        lambda: LegacyCommand("id -u", user=TEST_USER).run().output_tail,
    )
    assert report == {"ok": True, "value": repr(f"{test_account.pw_uid}\n")}


def test_a_runtime_user_without_passwd_entry_is_refused(test_account: pwd.struct_passwd) -> None:
    uid = 54_321
    with pytest.raises(KeyError):
        pwd.getpwuid(uid)
    report = _as_user(uid, uid, lambda: LegacyCommand("true").run())
    assert report["ok"] is False and report["type"] == "ConfigurationError"
    assert f"user id {uid} has no passwd entry" in str(report["message"])


def test_a_job_of_another_user_starts_through_setpriv_when_it_can() -> None:
    """Popen's user= rules out vfork (a full fork of the worker per job): the switch of gid,
    groups and uid goes to setpriv(1), in cron's order; a shell that cannot be executed keeps
    Popen's switch so the job reports cron's own exec error."""
    from owlclaw_runtime.legacy import _exec_options

    options = {
        "args": ["/bin/sh", "-c", "echo hi"],
        "executable": "/bin/sh",
        "env": {},
        "user": 1234,
        "group": 1235,
        "extra_groups": [1235, 27],
    }
    started = _exec_options(options)
    if not os.access("/usr/bin/setpriv", os.X_OK):
        assert started == options
        return
    assert started["executable"] == "/usr/bin/setpriv"
    assert started["args"] == [
        "setpriv",
        "--regid=1235",
        "--groups=1235,27",
        "--reuid=1234",
        "--",
        "/bin/sh",
        "-c",
        "echo hi",
    ]
    assert not {"user", "group", "extra_groups"} & set(started)
    assert options["user"] == 1234  # the caller's options (the mailer's identity) untouched
    assert _exec_options({**options, "executable": "/nonexistent/sh"})["user"] == 1234
    no_groups = _exec_options({**options, "extra_groups": []})
    assert "--clear-groups" in no_groups["args"]
    mine = {k: v for k, v in options.items() if k not in ("user", "group", "extra_groups")}
    assert _exec_options(mine) == mine
