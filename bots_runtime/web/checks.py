"""The check runner: every check on its own interval and timeout, latest results in memory.

A probe endpoint never runs a check: checks run in the background and `/healthz` and `/readyz`
only read the latest result. So a slow database or a hung NFS mount makes a check fail after
its timeout instead of making the kubelet's probe time out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from bots_runtime.core.health import CheckResult
from bots_runtime.core.spec import CheckSkippedError
from bots_runtime.web.probes import failure_reason, one_line

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from bots_runtime.core.spec import CheckSpec

# Upper bounds in seconds for the check duration histogram; checks time out within seconds.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class DurationHistogram:
    """Check durations in fixed buckets; metrics turns it into a Prometheus histogram."""

    bounds: tuple[float, ...] = DURATION_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        """Count one duration in its bucket (the last bucket is +Inf)."""
        index = next(
            (i for i, bound in enumerate(self.bounds) if seconds <= bound), len(self.bounds)
        )
        self.counts[index] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        """How many durations were observed."""
        return sum(self.counts)


class Periodic(Protocol):
    """What `every` runs: a named thing with an interval (a check, a collector)."""

    @property
    def name(self) -> str:
        """Its name, for the task's name."""
        ...

    @property
    def interval(self) -> float:
        """Seconds from one start to the next."""
        ...


_Spec = TypeVar("_Spec", bound=Periodic)


async def every(
    specs: Sequence[_Spec], once: Callable[[_Spec], Awaitable[object]], kind: str
) -> None:
    """Run `once(spec)` for each spec on its own interval, start to start, until cancelled."""
    import anyio  # noqa: PLC0415 - kept out of start-up

    async def loop(spec: _Spec) -> None:
        while True:
            started = anyio.current_time()
            await once(spec)
            await anyio.sleep(max(0.0, started + spec.interval - anyio.current_time()))

    async with anyio.create_task_group() as group:
        for spec in specs:
            group.start_soon(loop, spec, name=f"{kind} {spec.name}")


class CheckRunner:
    """Runs every check on its own interval and timeout; keeps results in memory only."""

    def __init__(
        self, specs: Sequence[CheckSpec], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.specs: tuple[CheckSpec, ...] = tuple(specs)
        names = [spec.name for spec in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"check names must be unique: {names}")
        self._clock = clock
        self._results: dict[str, CheckResult] = {}
        self.failures_total: dict[str, int] = dict.fromkeys(names, 0)
        self.durations: dict[str, DurationHistogram] = {name: DurationHistogram() for name in names}

    def results(self) -> Mapping[str, CheckResult]:
        """Latest result per check name; a missing name never ran (and counts as not ok)."""
        return self._results

    async def run(self) -> None:
        """Run all checks until cancelled."""
        await every(self.specs, self.run_once, "check")

    async def run_once(self, spec: CheckSpec) -> CheckResult:
        """Run one check under its timeout and record the outcome; past the timeout it failed."""
        import anyio  # noqa: PLC0415 - kept out of start-up

        begun = self._clock()
        passed = False
        checked = True
        detail = f"timed out after {spec.timeout:g}s"
        with anyio.move_on_after(spec.timeout):
            try:
                detail = one_line(await spec.probe())
                passed = True
            except CheckSkippedError as exc:
                detail = one_line(str(exc) or type(exc).__name__)
                passed, checked = True, False
            except Exception as exc:  # noqa: BLE001 - every failure of a probe is a result
                detail = failure_reason(exc)
        now = self._clock()
        result = self._record(
            spec, passed=passed, checked=checked, detail=detail, begun=begun, now=now
        )
        self.durations[spec.name].observe(now - begun)
        return result

    def _record(
        self,
        spec: CheckSpec,
        *,
        passed: bool,
        detail: str,
        begun: float,
        now: float,
        checked: bool = True,
    ) -> CheckResult:
        previous = self._results.get(spec.name)
        in_a_row = 0 if passed else (previous.failures_in_a_row if previous else 0) + 1
        if not passed:
            self.failures_total[spec.name] += 1
        if passed:
            ok = True
        elif previous is None:
            ok = False
        else:
            ok = previous.ok and in_a_row < spec.failure_threshold
        flipped = previous is None or previous.ok != ok
        since = now if flipped or previous is None else previous.since
        result = CheckResult(
            ok=ok,
            detail=detail,
            checked_at=now,
            duration=now - begun,
            failures_in_a_row=in_a_row,
            since=since,
            checked=checked,
        )
        self._results[spec.name] = result
        return result
