"""Model-based property test of the circuit breaker through the real pipeline and ledger:
random outcomes and clock advances, checked step by step against a small reference model."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st
from owlclaw_runtime.ledger import open_store
from owlclaw_runtime.triggers.models import ExecutionStatus
from runtime_helpers import new_app

WINDOW = 3
THRESHOLD = 0.6
RECOVERY = 100

steps = st.lists(st.tuples(st.integers(0, 150), st.booleans()), min_size=1, max_size=25)


class Model:
    """closed → open when the failure rate over a full window since the last close reaches the
    threshold; open → half_open after the recovery time (one trial); trial success closes and
    restarts the window (with the trial in it), trial failure re-opens."""

    def __init__(self) -> None:
        self.state = "closed"
        self.opened_at = 0
        self.window: list[bool] = []

    def step(self, now: int, ok: bool) -> str:
        """Returns the expected status of the run: 'ran-ok', 'ran-failed' or 'skipped'."""
        trial = False
        if self.state == "open":
            if now - self.opened_at < RECOVERY:
                return "skipped"
            self.state, trial = "half_open", True
        elif self.state == "half_open":
            trial = True
        self.window.append(ok)
        if trial:
            if ok:
                self.state, self.window = "closed", [True]
            else:
                self.state, self.opened_at = "open", now
        elif not ok:
            recent = self.window[-WINDOW:]
            if len(recent) >= WINDOW and recent.count(False) / len(recent) >= THRESHOLD:
                self.state, self.opened_at = "open", now
        return "ran-ok" if ok else "ran-failed"


@given(steps)
def test_breaker_follows_the_model(plan: list[tuple[int, bool]]) -> None:
    store = open_store("sqlite:///:memory:")
    try:
        app, clock, _ = new_app(store)
        outcome = {"ok": True}

        def job() -> None:
            if not outcome["ok"]:
                raise OSError("down")

        app.cron_registry.register(
            "job",
            "* * * * *",
            fallback_handler=job,
            migration_weight=0.0,
            retry_on_failure=False,
            breaker_window=WINDOW,
            breaker_threshold=THRESHOLD,
            breaker_recovery_seconds=RECOVERY,
        )
        model = Model()
        elapsed = 0

        async def run() -> None:
            nonlocal elapsed
            for advance, ok in plan:
                elapsed += advance
                clock.advance(seconds=advance)
                outcome["ok"] = ok
                (execution,) = await app.dispatch("job", scheduled_at=clock())
                expected = model.step(elapsed, ok)
                actual = {
                    ExecutionStatus.FALLBACK: "ran-ok",
                    ExecutionStatus.FAILED: "ran-failed",
                    ExecutionStatus.SKIPPED: "skipped",
                }[execution.status]
                assert actual == expected, (plan, elapsed)
                assert store.get_breaker("job").state == model.state, (plan, elapsed)

        asyncio.run(run())
    finally:
        store.close()
