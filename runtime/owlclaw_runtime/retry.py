"""Retries with exponential backoff.

OwlClaw defined a ``RetryStrategy`` that nothing called and swallowed every exception, so
``max_retries`` never took effect (reference/owlclaw.md section 3.9, bug 4). Here the pipeline
really retries (embedded backend) or re-raises so that Hatchet retries (``raise_on_failure``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from owlclaw_runtime.errors import ConfigurationError
from owlclaw_runtime.triggers.models import CronTriggerConfig

#: Errors that say "this input is wrong": running the same thing again cannot help.
NON_RETRYABLE: tuple[type[BaseException], ...] = (ValueError, TypeError, ConfigurationError)

Sleep = Callable[[float], Awaitable[None]]


class NonRetryableError(Exception):
    """Raised by the pipeline for failures a retry cannot fix (a run over its cost limit)."""


@dataclass(frozen=True)
class RetryStrategy:
    """When to retry and how long to wait: ``delay = base * factor**n`` capped at ``max_delay``."""

    max_retries: int = 3
    base_delay_seconds: float = 60.0
    backoff_factor: float = 2.0
    max_delay_seconds: float = 300.0
    retry_on_failure: bool = True

    @classmethod
    def for_trigger(cls, config: CronTriggerConfig) -> RetryStrategy:
        """The strategy a trigger's configuration asks for."""
        return cls(
            max_retries=config.max_retries,
            base_delay_seconds=config.retry_delay_seconds,
            backoff_factor=config.retry_backoff_factor,
            max_delay_seconds=config.retry_max_delay_seconds,
            retry_on_failure=config.retry_on_failure,
        )

    def should_retry(self, error: BaseException | None, retry_count: int) -> bool:
        """Whether attempt number ``retry_count + 1`` should follow a failure with ``error``.

        ``retry_count`` is the number of retries already made. Programming, input and
        configuration errors (``ValueError``, ``TypeError``, ``ConfigurationError``) and
        :class:`NonRetryableError` are never retried."""
        if not self.retry_on_failure or retry_count >= self.max_retries:
            return False
        return not isinstance(error, (*NON_RETRYABLE, NonRetryableError))

    def calculate_delay(self, retry_count: int) -> float:
        """Seconds to wait before retry number ``retry_count + 1`` (0-based ``retry_count``)."""
        if retry_count < 0:
            raise ValueError("retry_count must be >= 0")
        try:
            delay = self.base_delay_seconds * self.backoff_factor**retry_count
        except OverflowError:
            delay = self.max_delay_seconds
        return max(0.0, min(delay, self.max_delay_seconds))


async def default_sleep(seconds: float) -> None:
    """``asyncio.sleep``; tests inject a recorder instead."""
    await asyncio.sleep(seconds)
