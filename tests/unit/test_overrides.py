"""The user's explicit settings over a service's defaults, in one function, for every setting."""

import signal

from bots_runtime import cli, config, overrides
from bots_runtime.config import parse
from bots_runtime.core import spec as spec_mod
from bots_runtime.core.childenv import child_env
from bots_runtime.core.spec import RestartPolicy, ServiceSpec, StopPlan, StopStep, StopTarget


def defaults(stop: StopPlan) -> ServiceSpec:
    return ServiceSpec(name="svc", argv=("x",), env={}, stop=stop)


def test_generic_spec_defaults_fit_kubernetes_grace() -> None:
    spec = cli.build_spec(parse(["run", "--", "sleep", "1"], {"PATH": "/bin"}))
    assert spec.argv == ("sleep", "1")
    assert spec.stop.steps == (StopStep(0.0, signal.SIGTERM),)
    assert spec.stop.budget < 30
    assert spec.restart.policy is RestartPolicy.NEVER


def test_child_env_drops_runtime_settings_and_adds_unbuffered() -> None:
    env = child_env({"BOTS_RUNTIME_PORT": "1", "PROMETHEUS_MULTIPROC_DIR": "/x", "A": "b"})
    assert env == {"A": "b", "PYTHONUNBUFFERED": "1"}
    assert child_env({"PYTHONUNBUFFERED": "0"})["PYTHONUNBUFFERED"] == "0"


def test_user_stop_settings_replace_service_steps() -> None:
    default = StopPlan(steps=(StopStep(0, signal.SIGINT), StopStep(2, signal.SIGINT)), timeout=10)
    cfg = parse(["--stop-signal", "TERM", "--stop-repeat", "1", "--stop-timeout", "4", "x"], {})
    result = overrides.apply(defaults(default), cfg.config).stop
    assert result.steps == (StopStep(0, signal.SIGTERM, repeat=1.0),)
    assert result.timeout == 4


def test_unset_settings_keep_service_defaults() -> None:
    """With nothing given, the spec comes back equal to the defaults."""
    default = defaults(StopPlan(steps=(StopStep(0, signal.SIGINT),), timeout=10, drain_delay=5))
    assert overrides.apply(default, parse(["x"], {}).config) == default


def test_step_counted_from_the_deadline_moves_with_the_timeout() -> None:
    """A step 5 s before the deadline stays 5 s before it for any --stop-timeout."""
    default = StopPlan(steps=(StopStep(5.0, signal.SIGINT, before_deadline=True),), timeout=25.0)
    for timeout, expected in (("60", 55.0), ("25", 20.0), ("3", 0.0)):
        cfg = parse(["--stop-timeout", timeout, "x"], {}).config
        plan = overrides.apply(defaults(default), cfg).stop
        assert plan.schedule() == [(expected, signal.SIGINT)]


def test_timeline_names_each_steps_target() -> None:
    """A step without a target follows `to_group`; its own target wins; repeats keep it."""
    plan = StopPlan(
        steps=(
            StopStep(0.0, signal.SIGINT),
            StopStep(5.0, signal.SIGINT, before_deadline=True, target=StopTarget.REST),
            StopStep(1.0, signal.SIGTERM, repeat=5.0, target=StopTarget.GROUP),
        ),
        timeout=12.0,
        to_group=False,
    )
    assert plan.timeline() == [
        (0.0, signal.SIGINT, StopTarget.CHILD),
        (1.0, signal.SIGTERM, StopTarget.GROUP),
        (6.0, signal.SIGTERM, StopTarget.GROUP),
        (7.0, signal.SIGINT, StopTarget.REST),
        (11.0, signal.SIGTERM, StopTarget.GROUP),
    ]
    assert plan.schedule() == [(at, sig) for at, sig, _ in plan.timeline()]


def test_single_child_signals_the_child_alone() -> None:
    """--single-child: every step goes to the child; steps aimed at the rest of the group go."""
    default = StopPlan(
        steps=(
            StopStep(0.0, signal.SIGINT, target=StopTarget.GROUP),
            StopStep(5.0, signal.SIGINT, before_deadline=True, target=StopTarget.REST),
        ),
        timeout=20.0,
    )
    cfg = parse(["--single-child", "true", "x"], {}).config
    plan = overrides.apply(defaults(default), cfg).stop
    assert plan.timeline() == [(0.0, signal.SIGINT, StopTarget.CHILD)]


def test_restart_codes_and_rewrites_are_applied() -> None:
    """Restart settings replace the service's; codes and rewrites are added to its own."""
    base = ServiceSpec(
        name="svc",
        argv=("x",),
        env={},
        stop=StopPlan(steps=()),
        success_codes=frozenset({2}),
        signal_rewrite={signal.SIGHUP: signal.SIGUSR1},
    )
    argv = [
        "--restart=always",
        "--max-restarts=2",
        "--start-period=3",
        "--min-uptime=4",
        "--success-codes=130",
        "--signal-rewrite=TERM:INT",
        "--single-child=true",
        "x",
    ]
    spec = overrides.apply(base, parse(argv, {}).config)
    restart = spec.restart
    assert (restart.policy, restart.max_restarts, restart.start_period, restart.min_uptime) == (
        RestartPolicy.ALWAYS,
        2,
        3.0,
        4.0,
    )
    assert spec.success_codes == frozenset({2, 130})
    assert spec.signal_rewrite == {signal.SIGHUP: signal.SIGUSR1, signal.SIGTERM: signal.SIGINT}
    assert spec.stop.to_group is False


def test_every_setting_has_one_use() -> None:
    """Each setting of the table is placed: the spec, the runtime, the catalogue, probe or
    the CLI layer itself."""
    names = {setting.name for setting in config.SETTINGS}
    assert set(overrides.SETTING_USES) == names
    assert set(overrides.SETTING_USES.values()) <= {"spec", "runtime", "catalogue", "probe", "cli"}


def test_runtime_settings_become_options() -> None:
    """--port 0 means no server, auto any free port; the rest is carried over as given."""
    cfg = parse(["--port", "0", "--log-level", "debug", "x"], {}).config
    assert cfg.options().port is None
    assert cfg.options().log_level == "debug"
    auto = parse(["--port", "auto", "--port-file", "/tmp/p", "x"], {}).config.options()
    assert (auto.port, auto.port_file) == (0, "/tmp/p")
    assert parse(["x"], {}).config.options().port == config.DEFAULT_PORT


def test_describe_names_every_stage() -> None:
    spec = cli.build_spec(parse(["--stop-repeat", "2", "run", "--", "sleep", "1"], {}))
    text = cli.describe(spec)
    assert "SIGTERM at 0s every 2s" in text
    assert "SIGKILL at 20s" in text
    assert "budget" in text


def test_generic_defaults_are_the_command_spec() -> None:
    """`run` with no settings is exactly the core's command spec."""
    environ = {"PATH": "/bin"}
    spec = cli.build_spec(parse(["run", "--", "sleep", "1"], environ))
    assert spec == spec_mod.command(("sleep", "1"), child_env(environ))


def test_abort_signal_is_set_or_taken_away() -> None:
    """`--abort-signal SIG` gives a plan its abort; `none` takes a service's abort away."""
    plain = StopPlan(steps=(StopStep(0, signal.SIGTERM),))
    given = overrides.apply(defaults(plain), parse(["--abort-signal", "QUIT", "x"], {}).config)
    assert given.stop.abort_signal is signal.SIGQUIT
    bots_like = StopPlan(steps=(StopStep(0, signal.SIGINT),), abort_signal=signal.SIGINT)
    cfg = parse(["--abort-signal", "none", "x"], {}).config
    assert overrides.apply(defaults(bots_like), cfg).stop.abort_signal is None


def test_describe_says_what_further_stop_signals_do() -> None:
    plain = cli.describe(cli.build_spec(parse(["run", "--", "sleep", "1"], {})))
    assert "second stop signal: SIGKILL to everything at once" in plain
    aborting = cli.describe(
        cli.build_spec(parse(["--abort-signal", "INT", "run", "--", "sleep", "1"], {}))
    )
    assert "second stop signal: SIGINT at once (again every 2s), SIGKILL 5s later" in aborting
    assert "third: SIGKILL at once" in aborting
