"""The state machine replayed from scripted histories, with no processes (honcho style)."""

from typing import Any

import pytest

from bots_runtime.core import state
from bots_runtime.core.exit_codes import ExitStatus
from bots_runtime.core.spec import RestartPolicy, RestartSpec
from bots_runtime.core.state import Phase, Snapshot

Step = tuple[float, str, Any]


def replay(
    history: list[Step], spec: RestartSpec, success: frozenset[int] = frozenset()
) -> tuple[Snapshot, list[Phase], list[state.Decision]]:
    """Apply (time, event, arg) steps; return the phases seen and the decisions taken."""
    snap = Snapshot(service="svc")
    phases: list[Phase] = []
    decisions: list[state.Decision] = []
    for now, event, arg in history:
        if event == "spawn":
            snap = state.spawned(snap, arg, now, 1000.0 + now)
        elif event == "started":
            snap = state.start_period_passed(snap, now)
        elif event == "stop":
            snap = state.stop_began(snap, now)
        elif event == "exit":
            snap, decision = state.exited(snap, arg, now, spec, success, lambda a, b: (a + b) / 2)
            decisions.append(decision)
        phases.append(snap.phase)
    return snap, phases, decisions


def test_clean_run_without_restart() -> None:
    snap, phases, decisions = replay(
        [(0, "spawn", 10), (1, "started", None), (5, "exit", ExitStatus(code=0))],
        RestartSpec(policy=RestartPolicy.NEVER),
    )
    assert phases == [Phase.STARTING, Phase.RUNNING, Phase.EXITED]
    assert decisions[-1].restart is False
    assert snap.pid is None
    assert snap.last_exit == ExitStatus(code=0)


def test_on_failure_restarts_failures_only() -> None:
    spec = RestartSpec(policy=RestartPolicy.ON_FAILURE)
    _, _, ok = replay([(0, "spawn", 1), (20, "exit", ExitStatus(code=0))], spec)
    _, _, bad = replay([(0, "spawn", 1), (20, "exit", ExitStatus(code=1))], spec)
    _, _, mapped = replay([(0, "spawn", 1), (20, "exit", ExitStatus(code=3))], spec, frozenset({3}))
    assert ok[-1].restart is False
    assert bad[-1].restart is True
    assert mapped[-1].restart is False


def test_quick_failures_back_off_then_give_up() -> None:
    """Each quick failure doubles the delay; one more than max_restarts is FATAL."""
    spec = RestartSpec(policy=RestartPolicy.ALWAYS, max_restarts=3, jitter=0.0)
    history: list[Step] = []
    t = 0.0
    for pid in range(1, 6):
        history.append((t, "spawn", pid))
        history.append((t + 0.1, "exit", ExitStatus(code=1)))
        t += 10
    snap, phases, decisions = replay(history, spec)
    assert [d.delay for d in decisions[:3]] == [0.5, 1.0, 2.0]
    assert decisions[3].give_up is True
    assert phases[-1] is Phase.FATAL
    assert snap.restarts == 3


def test_long_uptime_resets_the_budget() -> None:
    spec = RestartSpec(policy=RestartPolicy.ALWAYS, max_restarts=1, min_uptime=10, jitter=0.0)
    snap, _, decisions = replay(
        [
            (0, "spawn", 1),
            (0.1, "exit", ExitStatus(code=1)),
            (1, "spawn", 2),
            (60, "exit", ExitStatus(code=1)),
            (61, "spawn", 3),
            (61.1, "exit", ExitStatus(code=1)),
        ],
        spec,
    )
    assert [d.restart for d in decisions] == [True, True, True]
    assert snap.quick_failures == 1
    assert decisions[1].delay == 0.5


def test_stop_during_run_never_restarts_and_drains() -> None:
    spec = RestartSpec(policy=RestartPolicy.ALWAYS)
    snap = state.spawned(Snapshot(service="s"), 5, 0, 0)
    snap = state.start_period_passed(snap, 1)
    assert snap.running
    snap = state.stop_began(snap, 2)
    assert snap.phase is Phase.STOPPING
    assert snap.draining and not snap.running
    snap, decision = state.exited(snap, ExitStatus(code=1), 3, spec, frozenset(), lambda a, b: a)
    assert decision.restart is False
    assert snap.phase is Phase.EXITED


def test_stop_while_in_backoff_is_final() -> None:
    snap = Snapshot(service="s", phase=Phase.BACKOFF)
    snap = state.stop_began(snap, 1)
    assert snap.phase is Phase.EXITED


def test_start_period_only_moves_starting() -> None:
    snap = Snapshot(service="s", phase=Phase.BACKOFF)
    assert state.start_period_passed(snap, 1) is snap


def test_board_has_one_writer_and_readers_see_the_latest() -> None:
    board = state.Board(Snapshot(service="s"))
    newer = state.spawned(board.snapshot, 7, 0, 0)
    board.publish(newer)
    assert board.snapshot is newer
    with pytest.raises(AttributeError):
        board.snapshot = newer  # type: ignore[misc]


def test_stop_after_a_final_exit_keeps_the_phase() -> None:
    """A stop during the wait for leftovers must not turn FATAL into EXITED."""
    snap = Snapshot(service="s", phase=Phase.FATAL)
    snap = state.stop_began(snap, 1)
    assert snap.phase is Phase.FATAL
    assert snap.draining
