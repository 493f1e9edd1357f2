"""Liveness and readiness verdicts, in the kube-apiserver style, as pure functions.

Liveness (`/healthz`, `/livez`) answers "should the kubelet restart this container?". It fails
only when the child gave up (FATAL) or is alive but a liveness check has been failing for
longer than a threshold (a hung child). A dependency never fails liveness: restarting every
replica because the database blinked makes the outage worse. Readiness (`/readyz`) answers
"should traffic come here?": the child must be running past its start-up, every readiness
check must pass, and the runtime must not be draining.

Nothing here touches the event loop or the HTTP stack, so the table-driven tests need neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bots_runtime.core.options import ENDPOINTS
from bots_runtime.core.spec import Level
from bots_runtime.core.state import Phase

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from bots_runtime.core.spec import CheckSpec
    from bots_runtime.core.state import Snapshot

LIVENESS = "livez"
READINESS = "readyz"

PROCESS = "process"
SHUTDOWN = "shutdown"

_PHASE_REASONS = {
    Phase.STARTING: "child is starting",
    Phase.BACKOFF: "child exited, waiting to restart",
    Phase.STOPPING: "child is stopping",
    Phase.EXITED: "child has exited",
    Phase.FATAL: "child failed too often and was given up",
}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The latest outcome of one check, as the endpoints see it.

    `ok` already applies the spec's `failure_threshold`: it turns false only after that many
    failures in a row, and starts false until the first pass (the kubelet's rule). `since`
    is the monotonic time of the last flip between ok and failed, so liveness can ask "how
    long has this been failing". `checked` is false when the probe could not tell (a
    `CheckSkippedError`, e.g. no driver for the database): not a failure, never shown as ok.
    """

    ok: bool
    detail: str
    checked_at: float
    duration: float
    failures_in_a_row: int
    since: float
    checked: bool = True


class UnknownCheckError(KeyError):
    """`/readyz/NAME` or `/healthz/NAME` named no check of that endpoint."""


@dataclass(frozen=True, slots=True)
class Line:
    """One check's part of a verdict: `[+]name ok` or `[-]name failed: reason`.

    A passing check with a caveat renders as `[+]name ok (warning: ...)`.
    A check that could not tell is `[?]name not checked: reason`: it does not fail the
    verdict, and it is never rendered as ok.
    """

    name: str
    ok: bool
    reason: str = ""
    excluded: bool = False
    warning: str = ""
    unchecked: bool = False

    def render(self) -> str:
        """The verbose text line."""
        if self.excluded:
            return f"[+]{self.name} excluded: ok"
        if self.unchecked:
            return f"[?]{self.name} not checked: {self.reason}"
        if self.ok:
            return f"[+]{self.name} ok" + (f" (warning: {self.warning})" if self.warning else "")
        return f"[-]{self.name} failed: {self.reason}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer of one endpoint: overall ok, one line per check, the HTTP status."""

    endpoint: str
    ok: bool
    lines: tuple[Line, ...]
    unknown_excludes: tuple[str, ...] = ()

    @property
    def status(self) -> int:
        """200 when ok, 503 otherwise (a probe treats any status >= 400 as failure)."""
        return 200 if self.ok else 503

    def render(self, *, verbose: bool) -> str:
        """The plain-text body: `ok`, or the check lines and a summary for humans."""
        if self.ok and not verbose:
            return "ok\n"
        text = [line.render() for line in self.lines]
        if self.unknown_excludes:
            names = ", ".join(self.unknown_excludes)
            text.append(f"warn: some checks cannot be excluded: no matches for {names}")
        text.append(f"{self.endpoint} check {'passed' if self.ok else 'failed'}")
        return "\n".join(text) + "\n"


def names(endpoint: str, specs: Sequence[CheckSpec]) -> tuple[str, ...]:
    """Every check that feeds `endpoint`, built-in pseudo-checks first."""
    kind = ENDPOINTS[endpoint]
    builtin = (PROCESS,) if kind == LIVENESS else (PROCESS, SHUTDOWN)
    level = Level.LIVENESS if kind == LIVENESS else Level.READINESS
    return builtin + tuple(spec.name for spec in specs if level in spec.level)


def _process_live(snapshot: Snapshot) -> Line:
    if snapshot.phase is Phase.FATAL:
        return Line(PROCESS, ok=False, reason=_PHASE_REASONS[Phase.FATAL])
    return Line(PROCESS, ok=True)


def _process_ready(snapshot: Snapshot) -> Line:
    if snapshot.running:
        return Line(PROCESS, ok=True)
    reason = "draining" if snapshot.draining else _PHASE_REASONS[snapshot.phase]
    return Line(PROCESS, ok=False, reason=reason)


def _shutdown(snapshot: Snapshot) -> Line:
    if snapshot.draining:
        return Line(SHUTDOWN, ok=False, reason="draining: the runtime is stopping")
    return Line(SHUTDOWN, ok=True)


def _check_live(
    spec: CheckSpec,
    result: CheckResult | None,
    snapshot: Snapshot,
    now: float,
    threshold: float,
) -> Line:
    """A liveness check fails only when a live child has failed it for over `threshold` s.

    The clock restarts with each child, and nothing is judged during a stop: the drain and
    the stop must not make the kubelet kill the container early.
    """
    if result is None or result.ok or not snapshot.alive or snapshot.draining:
        return Line(spec.name, ok=True)
    failing_since = max(result.since, snapshot.spawned_mono or result.since)
    failing_for = now - failing_since
    if failing_for <= threshold:
        return Line(spec.name, ok=True)
    return Line(spec.name, ok=False, reason=f"failing for {failing_for:.0f}s: {result.detail}")


def _check_ready(spec: CheckSpec, result: CheckResult | None) -> Line:
    if result is None:
        return Line(spec.name, ok=False, reason="not checked yet")
    if result.ok and not result.checked:
        return Line(spec.name, ok=True, reason=result.detail, unchecked=True)
    if result.ok:
        return Line(spec.name, ok=True, warning=spec.warning)
    return Line(spec.name, ok=False, reason=result.detail)


def evaluate(
    endpoint: str,
    snapshot: Snapshot,
    runner_results: Mapping[str, CheckResult],
    specs: Sequence[CheckSpec],
    exclude: Collection[str] = (),
    only: str | None = None,
    *,
    now: float,
    liveness_threshold: float,
) -> Verdict:
    """The verdict of `endpoint` (`healthz`, `livez` or `readyz`) for this snapshot.

    `only` answers for one check (`/readyz/NAME`) and raises `UnknownCheckError` when the
    endpoint has no such check; `exclude` leaves checks out, as `?exclude=` does.
    """
    kind = ENDPOINTS[endpoint]
    known = names(endpoint, specs)
    if only is not None and only not in known:
        raise UnknownCheckError(only)
    by_name = {spec.name: spec for spec in specs}
    lines: list[Line] = []
    for name in known if only is None else (only,):
        if only is None and name in exclude:
            lines.append(Line(name, ok=True, excluded=True))
            continue
        if name == PROCESS:
            line = _process_live(snapshot) if kind == LIVENESS else _process_ready(snapshot)
        elif name == SHUTDOWN:
            line = _shutdown(snapshot)
        elif kind == LIVENESS:
            line = _check_live(
                by_name[name], runner_results.get(name), snapshot, now, liveness_threshold
            )
        else:
            line = _check_ready(by_name[name], runner_results.get(name))
        lines.append(line)
    unknown = tuple(sorted(set(exclude) - set(known))) if only is None else ()
    return Verdict(
        endpoint=endpoint,
        ok=all(line.ok for line in lines),
        lines=tuple(lines),
        unknown_excludes=unknown,
    )
