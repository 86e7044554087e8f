"""load_app (app directories and path.py[:attr]), FocusManager and build_agent_prompt,
RetryStrategy and the concurrency primitives."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from owlclaw_runtime.agent.focus import FocusManager, build_agent_prompt, focus_list
from owlclaw_runtime.app import OwlClawApp
from owlclaw_runtime.concurrency import PrioritySemaphore, TriggerSlots
from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.loader import load_app, split_target
from owlclaw_runtime.retry import NonRetryableError, RetryStrategy

APP_SOURCE = """
from owlclaw_runtime import OwlClawApp
import helper_{tag}

app = OwlClawApp("{tag}")
other = OwlClawApp("other-{tag}")

@app.cron("0 2 * * *", migration_weight=0.0)
def nightly():
    return helper_{tag}.VALUE
"""


def _write_app(directory: Path, tag: str, filename: str = "owlclaw_app.py") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"helper_{tag}.py").write_text("VALUE = 42\n")
    path = directory / filename
    path.write_text(APP_SOURCE.format(tag=tag))
    return path


def test_load_a_generated_app_directory(tmp_path: Path) -> None:
    _write_app(tmp_path / "gen", "gen")
    (tmp_path / "gen" / "owlmigrate.json").write_text(
        json.dumps({"format_version": 1, "module": "owlclaw_app.py", "attr": "app", "jobs": {}})
    )
    before = set(sys.modules)
    app = load_app(tmp_path / "gen")
    assert isinstance(app, OwlClawApp) and app.name == "gen"
    assert app.app_dir == (tmp_path / "gen").resolve()
    assert [t.event_name for t in app.cron_registry.list_triggers()] == ["nightly"]
    # the module was imported under a private unique name, not "owlclaw_app"
    assert "owlclaw_app" not in sys.modules
    new = {m for m in set(sys.modules) - before if m.startswith("_owlclaw_app_")}
    assert len(new) == 1
    # a second load is an independent app
    assert load_app(str(tmp_path / "gen")) is not app


def test_two_apps_with_the_same_file_name_do_not_collide(tmp_path: Path) -> None:
    a = load_app(_write_app(tmp_path / "a", "a"))
    b = load_app(_write_app(tmp_path / "b", "b"))
    assert (a.name, b.name) == ("a", "b")
    assert a.app_dir == (tmp_path / "a").resolve()


def test_load_path_with_attr(tmp_path: Path) -> None:
    path = _write_app(tmp_path, "attr", "app.py")
    assert load_app(f"{path}:other").name == "other-attr"
    assert split_target(f"{path}:other") == (path, "other")
    assert split_target(str(path)) == (path, None)


def test_load_errors_name_the_file_and_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such app file or directory"):
        load_app(tmp_path / "missing.py")
    with pytest.raises(ConfigurationError, match=r"owlmigrate\.json is missing"):
        load_app(tmp_path)
    (tmp_path / "owlmigrate.json").write_text('{"module": ')
    with pytest.raises(ConfigurationError, match="invalid JSON") as info:
        load_app(tmp_path)
    assert info.value.path.endswith("owlmigrate.json") and info.value.line == 1
    (tmp_path / "owlmigrate.json").write_text('{"attr": "app"}')
    with pytest.raises(ConfigurationError, match="missing key 'module'"):
        load_app(tmp_path)
    (tmp_path / "owlmigrate.json").write_text('{"module": "gone.py"}')
    with pytest.raises(ConfigurationError, match=r"'gone\.py' named in owlmigrate\.json"):
        load_app(tmp_path)
    path = _write_app(tmp_path / "x", "x", "app.py")
    with pytest.raises(ConfigurationError, match="defines no 'nope'"):
        load_app(f"{path}:nope")
    (tmp_path / "x" / "notapp.py").write_text("app = 3\n")
    with pytest.raises(ConfigurationError, match="'app' is a int, not an OwlClawApp"):
        load_app(tmp_path / "x" / "notapp.py")
    (tmp_path / "x" / "broken.py").write_text("x = 1\nraise RuntimeError('boom')\n")
    with pytest.raises(ConfigurationError, match="RuntimeError: boom") as info:
        load_app(tmp_path / "x" / "broken.py")
    assert info.value.line == 2 and info.value.path.endswith("broken.py")
    (tmp_path / "x" / "syntax.py").write_text("def (:\n")
    with pytest.raises(ConfigurationError, match="SyntaxError") as info:
        load_app(tmp_path / "x" / "syntax.py")
    assert info.value.line == 1


def test_a_bad_trigger_in_the_app_keeps_its_own_error(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "from owlclaw_runtime import OwlClawApp\napp = OwlClawApp('b')\n"
        "app.cron_registry.register('j', '0 * * * *', bogus=1)\n"
    )
    with pytest.raises(ConfigurationError, match="unknown key 'bogus'") as info:
        load_app(tmp_path / "bad.py")
    assert info.value.path.endswith("bad.py") and info.value.line == 3


def _skill(root: Path, name: str, front: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "SKILL.md").write_text(f"---\n{front}\n---\nBody of {name}.\n")


def test_focus_manager_filters_by_front_matter(tmp_path: Path) -> None:
    _skill(tmp_path, "inventory", "name: inventory\ndescription: Stock\nfocus: inventory_monitor")
    _skill(tmp_path, "trading", "name: trading\nfocus: [morning_decision, Risk]")
    _skill(tmp_path, "tagged", "name: tagged\nmetadata:\n  tags: [risk]")
    _skill(tmp_path, "plain", "name: plain")
    manager = FocusManager(tmp_path)
    assert [s.name for s in manager.all_skills()] == ["inventory", "plain", "tagged", "trading"]
    assert [s.name for s in manager.load_skills_for_focus("inventory_monitor")] == ["inventory"]
    assert [s.name for s in manager.load_skills_for_focus("risk")] == ["tagged", "trading"]
    assert [s.name for s in manager.load_skills_for_focus(["inventory_monitor", "risk"])] == [
        "inventory",
        "tagged",
        "trading",
    ]
    assert len(manager.load_skills_for_focus(None)) == 4
    assert len(manager.load_skills_for_focus("  ")) == 4
    assert manager.load_skills_for_focus("unknown") == []
    assert FocusManager(tmp_path / "none").all_skills() == []


def test_bad_front_matter_names_file_and_line(tmp_path: Path) -> None:
    _skill(tmp_path, "bad", "name: [unclosed")
    with pytest.raises(ConfigurationError) as info:
        FocusManager(tmp_path).all_skills()
    assert info.value.path.endswith("SKILL.md") and info.value.line is not None


def test_build_agent_prompt(tmp_path: Path) -> None:
    _skill(tmp_path, "inventory", "name: inventory\ndescription: Stock levels\nfocus: inv")
    skills = FocusManager(tmp_path).load_skills_for_focus("inv")
    prompt = build_agent_prompt("inv", skills, {"trigger_type": "cron", "event_name": "check"})
    assert prompt.splitlines() == [
        "Current focus: inv",
        "You should prioritize actions related to inv.",
        "Available skills:",
        "- inventory: Stock levels",
        'Context: {"event_name": "check", "trigger_type": "cron"}',
    ]
    assert build_agent_prompt(None, [], None) == ""
    assert focus_list(["a", " ", "b "]) == ["a", "b"]


def test_retry_strategy() -> None:
    strategy = RetryStrategy(max_retries=3, base_delay_seconds=60, max_delay_seconds=300)
    assert [strategy.calculate_delay(n) for n in range(5)] == [60, 120, 240, 300, 300]
    assert strategy.should_retry(OSError(), 0) and strategy.should_retry(OSError(), 2)
    assert not strategy.should_retry(OSError(), 3)
    assert not strategy.should_retry(ValueError(), 0)
    assert not strategy.should_retry(NonRetryableError(), 0)
    assert not strategy.should_retry(ConfigurationError("bad user"), 0)
    assert not RetryStrategy(retry_on_failure=False).should_retry(OSError(), 0)
    with pytest.raises(ValueError):
        strategy.calculate_delay(-1)


@given(
    base=st.floats(0, 1e4),
    factor=st.floats(1, 10),
    cap=st.floats(0, 1e5),
    n=st.integers(0, 2000),
)
def test_delay_is_monotone_and_capped(base: float, factor: float, cap: float, n: int) -> None:
    strategy = RetryStrategy(base_delay_seconds=base, backoff_factor=factor, max_delay_seconds=cap)
    delay = strategy.calculate_delay(n)
    assert 0 <= delay <= cap
    assert strategy.calculate_delay(n + 1) >= delay


async def test_priority_semaphore_cancellation_passes_the_slot_on() -> None:
    sem = PrioritySemaphore(1)
    await sem.acquire()
    waiter = asyncio.create_task(sem.acquire(5))
    second = asyncio.create_task(sem.acquire(1))
    await asyncio.sleep(0)
    assert sem.waiting == 2
    waiter.cancel()
    await asyncio.sleep(0)
    sem.release()
    await asyncio.wait_for(second, 1)
    assert sem.in_use == 1
    sem.release()
    assert sem.in_use == 0
    with pytest.raises(RuntimeError):
        sem.release()
    with pytest.raises(ValueError):
        PrioritySemaphore(0)


async def test_trigger_slots_unlimited_when_zero() -> None:
    slots = TriggerSlots()
    assert all([await slots.acquire("j", 0, "skip") for _ in range(5)])
    assert slots.running("j") == 5
    assert await slots.acquire("k", 1, "skip")
    assert not await slots.acquire("k", 1, "skip")
    await slots.release("k")
    assert await slots.acquire("k", 1, "skip")


@given(st.lists(st.integers(-5, 5), min_size=1, max_size=30), st.integers(1, 4))
def test_waiters_are_served_by_priority_then_arrival(priorities: list[int], slots: int) -> None:
    async def scenario() -> list[int]:
        sem = PrioritySemaphore(slots)
        for _ in range(slots):
            await sem.acquire()
        served: list[int] = []

        async def waiter(index: int, priority: int) -> None:
            await sem.acquire(priority)
            served.append(index)

        tasks = []
        for index, priority in enumerate(priorities):
            tasks.append(asyncio.create_task(waiter(index, priority)))
            await asyncio.sleep(0)
        assert sem.waiting == len(priorities) and sem.in_use == slots
        for _ in priorities:
            sem.release()
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        assert sem.in_use == slots
        return served

    served = asyncio.run(scenario())
    expected = sorted(range(len(priorities)), key=lambda i: (-priorities[i], i))
    assert served == expected
