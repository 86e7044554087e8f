"""LibCST codemods on generated modules: before/after pairs and the step/rollback round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from owlmigrate.rewrite import (
    CodemodError,
    read_app_keyword,
    read_cron_keyword,
    set_cron_keyword,
    set_shadow,
    set_weight,
    weight_code,
)

BEFORE = '''"""App."""

from owlclaw_runtime import OwlClawApp

app = OwlClawApp("h")


# etc/crontab:3
@app.cron(
    "30 2 * * *",
    event_name="backup_db",  # the plan job id
    migration_weight=0.0,
    shadow=True,
)
async def job_backup(context: dict) -> None:
    """Fallback."""


@app.cron("*/5 * * * *", event_name='php', migration_weight = 0.25 ,shadow=True)
async def job_php(context: dict) -> None:
    pass


@app.cron("0 * * * *")
def hourly() -> None:
    pass
'''


@pytest.mark.parametrize(
    ("event", "keyword", "value", "old", "after_fragment"),
    [
        pytest.param(
            "backup_db",
            "migration_weight",
            "0.1",
            "0.0",
            '    event_name="backup_db",  # the plan job id\n    migration_weight=0.1,\n',
            id="weight-multi-line-comment-kept",
        ),
        pytest.param(
            "php",
            "migration_weight",
            "0.5",
            "0.25",
            "event_name='php', migration_weight = 0.5 ,shadow=True)",
            id="weight-odd-spacing-kept",
        ),
        pytest.param(
            "php",
            "shadow",
            "False",
            "True",
            "migration_weight = 0.25 ,shadow=False)",
            id="shadow",
        ),
        pytest.param(
            "hourly",
            "shadow",
            "False",
            None,
            '@app.cron("0 * * * *", shadow=False)',
            id="keyword-added-event-name-defaults-to-function",
        ),
    ],
)
def test_set_cron_keyword_before_after(
    event: str, keyword: str, value: str, old: str | None, after_fragment: str
) -> None:
    result = set_cron_keyword(BEFORE, event, keyword, value)
    assert after_fragment in result.source
    assert result.old_code == old
    assert result.changed
    # nothing else moved: the diff is confined to the one value
    assert len(result.source.splitlines()) == len(BEFORE.splitlines())


def test_no_op_returns_the_source_unchanged() -> None:
    result = set_weight(BEFORE, "backup_db", 0.0)
    assert result.source == BEFORE
    assert not result.changed
    assert result.old_code == "0.0"


def test_it_refuses_an_unknown_trigger_and_broken_python() -> None:
    with pytest.raises(CodemodError, match=r"no @app\.cron decorator with event_name=.nope."):
        set_weight(BEFORE, "nope", 0.1, path="app.py")
    with pytest.raises(CodemodError, match="not valid Python"):
        set_weight("def (:\n", "x", 0.1)


def test_it_refuses_two_decorators_for_one_trigger() -> None:
    doubled = (
        BEFORE
        + '\n\n@app.cron("1 * * * *", event_name="php")\nasync def again() -> None:\n    pass\n'
    )
    with pytest.raises(CodemodError, match="2 decorators"):
        set_shadow(doubled, "php", False)


def test_read_cron_keyword_reads_the_source_text() -> None:
    assert read_cron_keyword(BEFORE, "php", "migration_weight") == "0.25"
    assert read_cron_keyword(BEFORE, "hourly", "shadow") is None


def test_removing_an_added_keyword_gives_back_the_original() -> None:
    added = set_shadow(BEFORE, "hourly", False).source
    assert set_cron_keyword(added, "hourly", "shadow", None).source == BEFORE


@pytest.mark.parametrize(
    ("weight", "code"), [(0, "0.0"), (0.1, "0.1"), (0.1 + 0.2, "0.3"), (1, "1.0"), (0.125, "0.125")]
)
def test_weight_code_is_canonical(weight: float, code: str) -> None:
    assert weight_code(weight) == code


weights = st.lists(st.integers(0, 100).map(lambda n: n / 100), min_size=1, max_size=6)


@given(
    steps=weights,
    event=st.sampled_from(["backup_db", "php"]),
    start=st.sampled_from(["0.0", "0.", "0e0", "(0.0)", "0.00"]),
)
def test_stepping_up_then_rolling_back_returns_the_original_bytes(
    steps: list[float], event: str, start: str
) -> None:
    """The journal keeps each replaced literal; rolling back writes it back verbatim."""
    original = set_cron_keyword(BEFORE, event, "migration_weight", start).source
    source = original
    journal: list[str | None] = []
    for weight in steps:
        result = set_weight(source, event, weight)
        journal.append(result.old_code)
        source = result.source
    for literal in reversed(journal):
        assert literal is not None
        source = set_cron_keyword(source, event, "migration_weight", literal).source
    assert source == original


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('app = OwlClawApp("h")\n', None),
        ('app = OwlClawApp("h", agent="pkg.mod:Agent")\n', '"pkg.mod:Agent"'),
        ('app = runtime.OwlClawApp("h", agent=make_agent())\n', "make_agent()"),
        ('app = Other("h", agent="x:y")\n', None),
    ],
)
def test_read_app_keyword_finds_the_agent_an_operator_added(
    line: str, expected: str | None
) -> None:
    assert read_app_keyword(f"import x\n\n{line}", "agent") == expected
