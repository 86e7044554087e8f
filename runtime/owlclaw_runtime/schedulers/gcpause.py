"""Keeping the garbage collector off while a wake-up's runs are handed out and start.

A full garbage collection in the middle of a wake-up (hundreds of ms with a few thousand
triggers in memory) would delay every run of the batch: collection waits until the batch is
handed out. Split out of :mod:`owlclaw_runtime.schedulers.local`.
"""

from __future__ import annotations

import gc


class GcPause:
    """Nested holds: the collector is off from the first :meth:`hold` to the last
    :meth:`release`, then on again if it was on before the first hold."""

    def __init__(self) -> None:
        self._holds = 0
        self._was_enabled = True

    def hold(self) -> None:
        if self._holds == 0:
            self._was_enabled = gc.isenabled()
            gc.disable()
        self._holds += 1

    def release(self) -> None:
        self._holds -= 1
        if self._holds == 0 and self._was_enabled:
            gc.enable()
