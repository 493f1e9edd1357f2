"""The documented library API, run as a real program (it owns the process's signals)."""

import subprocess
import textwrap
from pathlib import Path

from tests.support import PYTHON, ROOT

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import anyio
    from bots_runtime.config import RuntimeConfig
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
        code = anyio.run(supervise_async, spec, RuntimeConfig(port=0))
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
