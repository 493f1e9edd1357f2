"""The collector runner: gauges from outside sources, read in the background on an interval.

A scrape never waits on a database: each collector's reader runs on its own interval and under
its own timeout, and `/metrics` serves the latest successful reading. While the last reading
failed, that collector exports nothing but its own `up` of 0, so a stale number never looks
current.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bots_runtime.web.checks import every
from bots_runtime.web.probes import failure_reason

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bots_runtime.core.hooks import CollectorSpec, GaugeFamily

#: Called when a collector starts or stops failing: (name, ok, reason).
ChangeReport = Callable[[str, bool, str], None]


@dataclass(frozen=True, slots=True)
class Reading:
    """The latest run of one collector: its gauges when it worked, the reason when not."""

    ok: bool
    families: tuple[GaugeFamily, ...]
    detail: str
    duration: float
    finished_at: float


class CollectorRunner:
    """Runs every collector on its own interval and timeout; keeps the latest reading only."""

    def __init__(
        self,
        specs: Sequence[CollectorSpec],
        report: ChangeReport | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.specs: tuple[CollectorSpec, ...] = tuple(specs)
        names = [spec.name for spec in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"collector names must be unique: {names}")
        self._report = report
        self._wall_clock = wall_clock
        self.readings: dict[str, Reading] = {}
        self.failures_total: dict[str, int] = dict.fromkeys(names, 0)
        self.last_success: dict[str, float] = {}

    async def run(self) -> None:
        """Run all collectors until cancelled."""
        await every(self.specs, self.run_once, "collector")

    async def run_once(self, spec: CollectorSpec) -> Reading:
        """Read once under the timeout and keep the result; past the timeout it failed."""
        import anyio  # noqa: PLC0415 - kept out of start-up

        begun = anyio.current_time()
        families: tuple[GaugeFamily, ...] = ()
        ok = False
        detail = f"timed out after {spec.timeout:g}s"
        with anyio.move_on_after(spec.timeout):
            try:
                families = tuple(await spec.reader())
                ok = True
                detail = ""
            except Exception as exc:  # noqa: BLE001 - every failure of a reader is a result
                detail = failure_reason(exc)
        now = self._wall_clock()
        reading = Reading(ok, families, detail, anyio.current_time() - begun, now)
        previous = self.readings.get(spec.name)
        self.readings[spec.name] = reading
        if ok:
            self.last_success[spec.name] = now
        else:
            self.failures_total[spec.name] += 1
        # Logged on a change only, and a first reading only when it failed.
        changed = previous.ok != ok if previous is not None else not ok
        if changed and self._report is not None:
            self._report(spec.name, ok, detail)
        return reading
