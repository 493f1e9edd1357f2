"""The documented library API, run as a real program (it owns the process's signals)."""

import subprocess
import textwrap

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
