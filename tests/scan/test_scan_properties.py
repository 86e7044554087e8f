"""Properties of the crontab reader on generated files with a known structure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from owlmigrate.crontab import LineKind, parse_crontab, split_percent

NAME = st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True)
VALUE = st.from_regex(r"[a-z0-9/:.@-]([a-z0-9/:.@ -]{0,20}[a-z0-9/:.@-])?", fullmatch=True)
SCHEDULE = st.sampled_from(["0 1 * * *", "*/5 * * * *", "@daily", "15 3 1,15 * mon-fri", "@reboot"])
COMMAND = st.from_regex(r"/[a-z]{1,8}( [a-z0-9-]{1,6}){0,3}", fullmatch=True)


@st.composite
def crontab(draw):
    items = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("env"), NAME, VALUE, st.sampled_from(["=", " = ", "= ", " ="])),
                st.tuples(st.just("job"), SCHEDULE, COMMAND),
                st.tuples(st.just("comment"), st.from_regex(r"[ a-z]{0,20}", fullmatch=True)),
                st.just(("blank",)),
            ),
            max_size=25,
        )
    )
    return items


def render(items) -> bytes:
    out = []
    for item in items:
        if item[0] == "env":
            out.append(f"{item[1]}{item[3]}{item[2]}")
        elif item[0] == "job":
            out.append(f"{item[1]} {item[2]}")
        elif item[0] == "comment":
            out.append(f"#{item[1]}")
        else:
            out.append("")
    return ("\n".join(out) + "\n").encode() if out else b""


@given(items=crontab(), dialect=st.sampled_from(["debian", "cronie"]))
def test_classification_and_accumulated_env(items, dialect):
    f = parse_crontab(render(items), path="t", dialect=dialect, system=False)
    assert f.runs
    assert len(f.lines) == len(items)
    env: dict[str, str] = {}
    for item, line in zip(items, f.lines, strict=True):
        if item[0] == "env":
            env = {**env, item[1]: item[2]}
            assert line.kind is LineKind.ENV and (line.name, line.value) == (item[1], item[2])
        elif item[0] == "job":
            assert line.kind is LineKind.JOB
            assert (line.schedule, line.command, line.stdin) == (item[1], item[2], None)
        elif item[0] == "comment":
            assert line.kind is LineKind.COMMENT
        else:
            assert line.kind is LineKind.BLANK
        assert line.env == env


@given(
    command=st.from_regex(r"[a-z /.-]{1,30}", fullmatch=True),
    data=st.lists(st.from_regex(r"[a-z ;]{0,10}", fullmatch=True), min_size=1, max_size=5),
    dialect=st.sampled_from(["debian", "cronie"]),
)
def test_percent_splits_into_stdin_lines(command, data, dialect):
    got, stdin, cut = split_percent(command + "%" + "%".join(data), dialect)
    assert got == command and cut == len(command)
    expected = "\n".join(data)
    if not expected.endswith("\n"):
        expected += "\n"
    if expected == "\n" and len(data) == 1:
        expected = ""  # "cmd%" feeds nothing: cron only adds a newline after data
    assert stdin == expected
    assert split_percent(command, dialect) == (command, None, None)
