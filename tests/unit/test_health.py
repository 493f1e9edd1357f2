"""Liveness and readiness aggregation: pure, table-driven, no loop and no HTTP."""

from __future__ import annotations

import dataclasses

import pytest

from bots_runtime.core import health
from bots_runtime.core.health import CheckResult
from bots_runtime.core.spec import CheckSpec, Level
from bots_runtime.core.state import Phase, Snapshot


async def _never() -> str:  # the probe is never run here
    raise AssertionError


class _Probe:
    async def __call__(self) -> str:
        return await _never()


DB = CheckSpec("db", _Probe(), level=Level.READINESS)
HUNG = CheckSpec("hung", _Probe(), level=Level.LIVENESS)
BOTH = CheckSpec("port", _Probe(), level=Level.BOTH)
SPECS = (DB, HUNG, BOTH)
THRESHOLD = 30.0


def snap(phase: Phase, **changes: object) -> Snapshot:
    alive = phase in {Phase.STARTING, Phase.RUNNING, Phase.STOPPING}
    base = Snapshot(service="svc", phase=phase, pid=7 if alive else None, spawned_mono=0.0)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def passed(at: float = 100.0) -> CheckResult:
    return CheckResult(
        ok=True, detail="fine", checked_at=at, duration=0.01, failures_in_a_row=0, since=0.0
    )


def failing(since: float, detail: str = "boom") -> CheckResult:
    return CheckResult(
        ok=False, detail=detail, checked_at=since, duration=0.01, failures_in_a_row=3, since=since
    )


def lines(verdict: health.Verdict) -> dict[str, bool]:
    return {line.name: line.ok for line in verdict.lines}


ALL_PASS = {"db": passed(), "hung": passed(), "port": passed()}


class TestLiveness:
    @pytest.mark.parametrize(
        ("phase", "ok"),
        [
            (Phase.STARTING, True),
            (Phase.RUNNING, True),
            (Phase.BACKOFF, True),
            (Phase.STOPPING, True),
            (Phase.EXITED, True),
            (Phase.FATAL, False),
        ],
    )
    def test_process_by_phase(self, phase: Phase, ok: bool) -> None:
        """The process pseudo-check fails only once the child was given up (FATAL)."""
        verdict = health.evaluate(
            "healthz", snap(phase), ALL_PASS, SPECS, now=100.0, liveness_threshold=THRESHOLD
        )
        assert verdict.ok is ok
        assert verdict.status == (200 if ok else 503)

    @pytest.mark.parametrize(
        ("failing_since", "now", "ok"),
        [
            (90.0, 100.0, True),  # failing 10 s: inside the threshold
            (70.0, 100.0, True),  # exactly 30 s: still inside
            (69.0, 100.0, False),  # 31 s: a hung child
        ],
    )
    def test_liveness_check_threshold(self, failing_since: float, now: float, ok: bool) -> None:
        """A liveness check fails /healthz only after failing longer than the threshold."""
        results = {**ALL_PASS, "hung": failing(failing_since)}
        verdict = health.evaluate(
            "livez", snap(Phase.RUNNING), results, SPECS, now=now, liveness_threshold=THRESHOLD
        )
        assert verdict.ok is ok
        assert lines(verdict)["hung"] is ok

    def test_readiness_check_never_fails_liveness(self) -> None:
        """A failing dependency (readiness-only check) never fails liveness, however long."""
        results = {**ALL_PASS, "db": failing(0.0)}
        verdict = health.evaluate(
            "healthz", snap(Phase.RUNNING), results, SPECS, now=1e6, liveness_threshold=THRESHOLD
        )
        assert verdict.ok
        assert "db" not in lines(verdict)

    def test_clock_restarts_with_the_child(self) -> None:
        """Failing time counts from the current child's spawn, not from an earlier child."""
        results = {**ALL_PASS, "hung": failing(0.0)}
        fresh = snap(Phase.RUNNING, spawned_mono=90.0)
        verdict = health.evaluate(
            "healthz", fresh, results, SPECS, now=100.0, liveness_threshold=THRESHOLD
        )
        assert verdict.ok

    @pytest.mark.parametrize(
        "state",
        [
            snap(Phase.BACKOFF),
            snap(Phase.STOPPING, draining=True),
        ],
    )
    def test_not_judged_without_child_or_during_stop(self, state: Snapshot) -> None:
        """No child (back-off) or a stop in progress: liveness checks do not fail /healthz."""
        results = {**ALL_PASS, "hung": failing(0.0), "port": failing(0.0)}
        verdict = health.evaluate(
            "healthz", state, results, SPECS, now=1e6, liveness_threshold=THRESHOLD
        )
        assert verdict.ok

    def test_never_run_liveness_check_is_ok(self) -> None:
        """A liveness check that has not run yet does not fail liveness."""
        verdict = health.evaluate(
            "healthz", snap(Phase.RUNNING), {}, SPECS, now=100.0, liveness_threshold=THRESHOLD
        )
        assert verdict.ok
        assert list(lines(verdict)) == ["process", "hung", "port"]


class TestReadiness:
    @pytest.mark.parametrize(
        ("state", "ok", "reason"),
        [
            (snap(Phase.STARTING), False, "child is starting"),
            (snap(Phase.RUNNING), True, ""),
            (snap(Phase.BACKOFF), False, "child exited, waiting to restart"),
            (snap(Phase.EXITED), False, "child has exited"),
            (snap(Phase.FATAL), False, "child failed too often and was given up"),
            (snap(Phase.RUNNING, draining=True), False, "draining"),
        ],
    )
    def test_process_by_phase(self, state: Snapshot, ok: bool, reason: str) -> None:
        """Ready only when RUNNING (past start-up) and not draining."""
        verdict = health.evaluate(
            "readyz", state, ALL_PASS, SPECS, now=100.0, liveness_threshold=THRESHOLD
        )
        process = verdict.lines[0]
        assert (process.name, process.ok, process.reason) == ("process", ok, reason)
        assert verdict.ok is ok

    def test_shutdown_fails_when_draining(self) -> None:
        """The shutdown pseudo-check fails as soon as the drain starts."""
        draining = snap(Phase.RUNNING, draining=True)
        verdict = health.evaluate(
            "readyz", draining, ALL_PASS, SPECS, now=100.0, liveness_threshold=THRESHOLD
        )
        assert lines(verdict)["shutdown"] is False
        live = health.evaluate(
            "healthz", draining, ALL_PASS, SPECS, now=100.0, liveness_threshold=THRESHOLD
        )
        assert live.ok

    @pytest.mark.parametrize(
        ("results", "ok", "failed"),
        [
            (ALL_PASS, True, set()),
            ({**ALL_PASS, "db": failing(99.0, "refused")}, False, {"db"}),
            ({"hung": passed(), "port": passed()}, False, {"db"}),  # db never ran
            ({**ALL_PASS, "hung": failing(0.0)}, True, set()),  # liveness-only: not readiness
            ({**ALL_PASS, "port": failing(99.0)}, False, {"port"}),  # BOTH feeds readiness
        ],
    )
    def test_checks(self, results: dict[str, CheckResult], ok: bool, failed: set[str]) -> None:
        """Every readiness check must pass; one that never ran counts as failing."""
        verdict = health.evaluate(
            "readyz", snap(Phase.RUNNING), results, SPECS, now=100.0, liveness_threshold=THRESHOLD
        )
        assert verdict.ok is ok
        assert {line.name for line in verdict.lines if not line.ok} == failed

    def test_reason_is_the_check_detail(self) -> None:
        """A failing check reports the probe's own reason."""
        results = {**ALL_PASS, "db": failing(99.0, "cannot connect to db:5432: refused")}
        verdict = health.evaluate(
            "readyz", snap(Phase.RUNNING), results, SPECS, now=100.0, liveness_threshold=THRESHOLD
        )
        assert "[-]db failed: cannot connect to db:5432: refused" in verdict.render(verbose=True)

    def test_not_checked_is_its_own_state(self) -> None:
        """A check that could not tell (no driver) does not fail readiness, and is never
        shown as ok: `[?]db not checked: reason`."""
        unchecked = dataclasses.replace(passed(), detail="no driver for mysql", checked=False)
        verdict = health.evaluate(
            "readyz",
            snap(Phase.RUNNING),
            {**ALL_PASS, "db": unchecked},
            SPECS,
            now=100.0,
            liveness_threshold=THRESHOLD,
        )
        assert verdict.ok
        text = verdict.render(verbose=True)
        assert "[?]db not checked: no driver for mysql" in text
        assert "[+]db ok" not in text


class TestSelection:
    def test_exclude_leaves_checks_out(self) -> None:
        """?exclude=NAME makes a failing check count as ok and marks it excluded."""
        results = {**ALL_PASS, "db": failing(99.0)}
        verdict = health.evaluate(
            "readyz",
            snap(Phase.RUNNING),
            results,
            SPECS,
            exclude=["db"],
            now=100.0,
            liveness_threshold=THRESHOLD,
        )
        assert verdict.ok
        assert "[+]db excluded: ok" in verdict.render(verbose=True)

    def test_unknown_exclude_warns(self) -> None:
        """Excluding a name that does not exist is reported, not silently ignored."""
        verdict = health.evaluate(
            "readyz",
            snap(Phase.RUNNING),
            ALL_PASS,
            SPECS,
            exclude=["nope"],
            now=100.0,
            liveness_threshold=THRESHOLD,
        )
        assert verdict.ok
        assert verdict.unknown_excludes == ("nope",)
        assert "warn: some checks cannot be excluded: no matches for nope" in verdict.render(
            verbose=True
        )

    def test_only_one_check(self) -> None:
        """/readyz/NAME answers for that check alone."""
        results = {**ALL_PASS, "db": failing(99.0)}
        one = health.evaluate(
            "readyz",
            snap(Phase.STARTING),
            results,
            SPECS,
            only="shutdown",
            now=100.0,
            liveness_threshold=THRESHOLD,
        )
        assert one.ok
        assert [line.name for line in one.lines] == ["shutdown"]

    @pytest.mark.parametrize(
        ("endpoint", "name"), [("readyz", "hung"), ("healthz", "db"), ("livez", "zzz")]
    )
    def test_only_unknown_raises(self, endpoint: str, name: str) -> None:
        """A check that does not feed the endpoint is unknown there."""
        with pytest.raises(health.UnknownCheckError):
            health.evaluate(
                endpoint,
                snap(Phase.RUNNING),
                ALL_PASS,
                SPECS,
                only=name,
                now=100.0,
                liveness_threshold=THRESHOLD,
            )


class TestRender:
    def test_plain_ok(self) -> None:
        """Success without ?verbose is the single word ok."""
        verdict = health.evaluate(
            "readyz", snap(Phase.RUNNING), ALL_PASS, SPECS, now=100.0, liveness_threshold=THRESHOLD
        )
        assert verdict.render(verbose=False) == "ok\n"

    def test_verbose_lines(self) -> None:
        """?verbose lists every check in order and ends with the endpoint's summary."""
        verdict = health.evaluate(
            "readyz",
            snap(Phase.RUNNING, draining=True),
            ALL_PASS,
            SPECS,
            now=100.0,
            liveness_threshold=THRESHOLD,
        )
        assert verdict.render(verbose=True).splitlines() == [
            "[-]process failed: draining",
            "[-]shutdown failed: draining: the runtime is stopping",
            "[+]db ok",
            "[+]port ok",
            "readyz check failed",
        ]

    def test_failure_lists_lines_even_without_verbose(self) -> None:
        """A failure always says which check failed, so a probe event in kubectl is useful."""
        verdict = health.evaluate(
            "healthz", snap(Phase.FATAL), ALL_PASS, SPECS, now=100.0, liveness_threshold=THRESHOLD
        )
        assert verdict.render(verbose=False).splitlines()[-1] == "healthz check failed"

    def test_warning_shows_on_the_passing_line_only(self) -> None:
        """A check spec's warning is appended to its `ok` line; it neither fails readiness nor
        shows on a failing line (the reason says enough), and plain `ok` stays one word."""
        warned = dataclasses.replace(DB, warning="on nfs4")
        specs = (warned, HUNG, BOTH)
        verdict = health.evaluate(
            "readyz", snap(Phase.RUNNING), ALL_PASS, specs, now=100.0, liveness_threshold=THRESHOLD
        )
        assert verdict.ok
        assert verdict.render(verbose=False) == "ok\n"
        assert "[+]db ok (warning: on nfs4)" in verdict.render(verbose=True).splitlines()
        broken = health.evaluate(
            "readyz",
            snap(Phase.RUNNING),
            {**ALL_PASS, "db": failing(90.0, "refused")},
            specs,
            now=100.0,
            liveness_threshold=THRESHOLD,
        )
        assert "[-]db failed: refused" in broken.render(verbose=False).splitlines()
