"""The documented library API, run as a real program (it owns the process's signals)."""

import json
import subprocess
import textwrap
from pathlib import Path

from tests.support import CHILD, PYTHON, ROOT

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import anyio
    from bots_runtime.core.options import RuntimeOptions
    from bots_runtime.supervision.runtime import supervise, supervise_async
    from bots_runtime.core.spec import ServiceSpec, StopPlan, StopStep

    spec = ServiceSpec(
        name="demo",
        argv=(sys.executable, "-c", "import sys; print('hi'); sys.exit(4)"),
        env=dict(os.environ),
        stop=StopPlan(steps=(StopStep(0, signal.SIGTERM),), timeout=5),
    )
    if sys.argv[1] == "sync":
        code = supervise(spec)
    else:
        code = anyio.run(supervise_async, spec, RuntimeOptions())
    print("code", code)
    """
)


def run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )


def test_sync_api_returns_the_childs_code() -> None:
    result = run("sync")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "code 4"
    assert '"event":"hi"' in result.stdout


def test_async_api_returns_the_childs_code() -> None:
    result = run("async")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "code 4"


CANCELLED = textwrap.dedent(
    """
    import os, signal, sys
    import anyio
    from bots_runtime.core.options import RuntimeOptions
    from bots_runtime.core.spec import ServiceSpec, StopPlan, StopStep
    from bots_runtime.process.procfs import children_of
    from bots_runtime.supervision.runtime import supervise_async

    spec = ServiceSpec(
        name="demo",
        argv=(sys.executable, sys.argv[1], "--stop-delay", "0.3"),
        env=dict(os.environ),
        stop=StopPlan(steps=(StopStep(0, signal.SIGTERM),), timeout=10),
    )

    def catches_term() -> int:
        # The child's handlers are in place once SigCgt has SIGTERM's bit.
        for pid in children_of(os.getpid()):
            with open(f"/proc/{pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
            if int(fields["SigCgt"], 16) & (1 << (signal.SIGTERM - 1)):
                return pid
        return 0

    async def main() -> None:
        child = 0
        async with anyio.create_task_group() as tg:
            async def cancel_once_running() -> None:
                nonlocal child
                with anyio.fail_after(10):
                    while not (child := catches_term()):
                        await anyio.sleep(0.01)
                tg.cancel_scope.cancel()

            tg.start_soon(cancel_once_running)
            await supervise_async(spec, RuntimeOptions())
        print("child left:", os.path.exists(f"/proc/{child}"), flush=True)

    anyio.run(main)
    """
)


def test_cancelled_caller_still_stops_the_child() -> None:
    """1. supervise_async runs a child that takes 0.3 s to stop on SIGTERM
    2. the caller's scope is cancelled while the child runs
    3. the child still gets its stop signal and is gone before the cancellation goes on."""
    result = subprocess.run(
        [PYTHON, "-c", CANCELLED, str(CHILD)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "child left: False"
    events = [json.loads(line) for line in lines[:-1] if line.startswith("{")]
    assert any(e.get("event") == "supervision cancelled: stopping the service" for e in events)
    assert any(e.get("logger") == "child" and e["event"] == "signal 15" for e in events)
    exited = [e for e in events if e.get("event") == "child exited"]
    assert exited and exited[0]["code"] == 0


HOOK_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import anyio
    from bots_runtime.supervision.runtime import supervise
    from bots_runtime.core.spec import ServiceSpec, StopPlan, StopStep

    class SignalledHook:
        '''An after-run hook that is hit by SIGTERM while it works, as at a pod's end.'''
        timeout = 10.0

        async def __call__(self, run, log):
            for _ in range(20):
                os.kill(os.getpid(), signal.SIGTERM)
                await anyio.sleep(0.01)
            Path(sys.argv[1]).write_text(str(run.exit_code))

    spec = ServiceSpec(
        name="demo",
        argv=(sys.executable, "-c", "import sys; sys.exit(4)"),
        env=dict(os.environ),
        stop=StopPlan(steps=(StopStep(0, signal.SIGTERM),), timeout=5),
        after_run=(SignalledHook(),),
    )
    print("code", supervise(spec))
    """
)


def test_signals_during_an_after_run_hook_change_nothing(tmp_path: Path) -> None:
    """Twenty SIGTERMs while the hook runs: it finishes, and the child's 4 is the result."""
    marker = tmp_path / "hook"
    result = subprocess.run(
        [PYTHON, "-c", HOOK_SCRIPT, str(marker)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "code 4"
    assert marker.read_text() == "4"
