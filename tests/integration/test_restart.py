"""Restart policies, back-off and giving up, with a real crashing child."""

import signal

from tests.support import ChildCmd, RuntimeFactory


def test_never_exits_with_the_childs_code(runtime: RuntimeFactory, child_cmd: ChildCmd) -> None:
    rt = runtime("--port", "0", "run", "--", *child_cmd("--exit", "7"))
    assert rt.wait() == 7
    assert len(rt.runtime_events("child started")) == 1


def test_on_failure_restarts_then_gives_up_with_last_code(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    """Quick failures back off (growing delays) and after --max-restarts the runtime exits."""
    rt = runtime(
        "--port",
        "0",
        "--restart",
        "on-failure",
        "--max-restarts",
        "3",
        "run",
        "--",
        *child_cmd("--exit", "5"),
    )
    assert rt.wait(30) == 5
    assert len(rt.runtime_events("child started")) == 4
    delays = [e["delay"] for e in rt.runtime_events("restarting")]
    assert len(delays) == 3
    assert delays[0] < delays[1] < delays[2]
    assert rt.runtime_events("giving up: too many quick failures")


def test_on_failure_does_not_restart_success(runtime: RuntimeFactory, child_cmd: ChildCmd) -> None:
    rt = runtime("--port", "0", "--restart", "on-failure", "run", "--", *child_cmd("--exit", "0"))
    assert rt.wait() == 0
    assert len(rt.runtime_events("child started")) == 1


def test_success_codes_map_to_zero_and_are_not_failures(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    rt = runtime(
        "--port",
        "0",
        "--restart",
        "on-failure",
        "--success-codes",
        "3",
        "run",
        "--",
        *child_cmd("--exit", "3"),
    )
    assert rt.wait() == 0
    assert len(rt.runtime_events("child started")) == 1


def test_killed_child_is_restarted_with_a_new_pid(
    runtime: RuntimeFactory, child_cmd: ChildCmd
) -> None:
    rt = runtime("--port", "0", "--restart", "always", "run", "--", *child_cmd())
    first = rt.child_pid()
    rt.wait_for(lambda r: any(line.startswith("ready") for line in r.child_lines()))
    import os  # noqa: PLC0415

    os.kill(first, signal.SIGKILL)
    second = rt.wait_for(
        lambda r: [e["pid"] for e in r.runtime_events("child started") if e["pid"] != first]
    )[0]
    assert second != first
    exited = rt.wait_event("child exited")
    assert exited["signal"] == "SIGKILL"
    assert "out of memory" in exited["reason"]
    rt.wait_for(lambda r: f"ready {second}" in r.child_lines())
    rt.signal(signal.SIGTERM)
    assert rt.wait() == 0
