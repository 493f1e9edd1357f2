import signal

from bots_runtime import plan
from bots_runtime.config import parse
from bots_runtime.spec import RestartPolicy, StopPlan, StopStep


def test_generic_spec_defaults_fit_kubernetes_grace() -> None:
    spec = plan.generic_spec(parse(["run", "--", "sleep", "1"], {"PATH": "/bin"}))
    assert spec.argv == ("sleep", "1")
    assert spec.stop.steps == (StopStep(0.0, signal.SIGTERM),)
    assert spec.stop.budget < 30
    assert spec.restart.policy is RestartPolicy.NEVER


def test_child_env_drops_runtime_settings_and_adds_unbuffered() -> None:
    env = plan.child_env({"BOTS_RUNTIME_PORT": "1", "PROMETHEUS_MULTIPROC_DIR": "/x", "A": "b"})
    assert env == {"A": "b", "PYTHONUNBUFFERED": "1"}
    assert plan.child_env({"PYTHONUNBUFFERED": "0"})["PYTHONUNBUFFERED"] == "0"


def test_user_stop_settings_replace_service_steps() -> None:
    default = StopPlan(steps=(StopStep(0, signal.SIGINT), StopStep(2, signal.SIGINT)), timeout=10)
    cfg = parse(["--stop-signal", "TERM", "--stop-repeat", "1", "--stop-timeout", "4", "x"], {})
    result = plan.stop_plan(cfg.config, default)
    assert result.steps == (StopStep(0, signal.SIGTERM, repeat=1.0),)
    assert result.timeout == 4


def test_unset_settings_keep_service_defaults() -> None:
    default = StopPlan(steps=(StopStep(0, signal.SIGINT),), timeout=10, drain_delay=5)
    assert plan.stop_plan(parse(["x"], {}).config, default) == default


def test_describe_names_every_stage() -> None:
    spec = plan.generic_spec(parse(["--stop-repeat", "2", "run", "--", "sleep", "1"], {}))
    text = plan.describe(spec)
    assert "SIGTERM at 0s every 2s" in text
    assert "SIGKILL at 20s" in text
    assert "budget" in text
