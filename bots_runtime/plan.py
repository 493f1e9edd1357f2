"""From an `Invocation` to a `ServiceSpec`: defaults, then the user's settings on top.

Service defaults (a Bots service stops with SIGINT, the engine is never restarted, ...) come
from the catalogue in `services.py`; the generic `run` command uses the defaults here. Either
way, a setting the user gave explicitly wins, and that rule lives only in this module.
"""

from __future__ import annotations

import signal
from dataclasses import replace
from typing import TYPE_CHECKING

from bots_runtime.spec import RestartPolicy, RestartSpec, ServiceSpec, StopPlan, StopStep

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bots_runtime.config import Invocation, RuntimeConfig

DEFAULT_STOP_TIMEOUT = 20.0


def child_env(environ: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ours, minus the runtime's own settings, plus `extra`.

    `PYTHONUNBUFFERED=1` is added unless the caller chose a value, so a Python child's lines
    reach the relay as they are written instead of in 8 KiB blocks.
    """
    env = {k: v for k, v in environ.items() if not k.startswith("BOTS_RUNTIME_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if extra:
        env.update(extra)
    return env


def restart_spec(config: RuntimeConfig, default: RestartSpec) -> RestartSpec:
    """The service's restart defaults with the user's explicit settings applied."""
    spec = default
    if config.restart is not None:
        spec = replace(spec, policy=RestartPolicy(config.restart))
    if config.max_restarts is not None:
        spec = replace(spec, max_restarts=config.max_restarts)
    if config.start_period is not None:
        spec = replace(spec, start_period=config.start_period)
    if config.min_uptime is not None:
        spec = replace(spec, min_uptime=config.min_uptime)
    return spec


def stop_plan(config: RuntimeConfig, default: StopPlan) -> StopPlan:
    """The service's stop plan with `--stop-signal/-timeout/-repeat` and `--drain-delay` applied.

    An explicit stop signal or repeat replaces the service's steps with one step at 0 s, so
    what the user typed is exactly what happens.
    """
    plan = default
    if config.stop_timeout is not None:
        plan = replace(plan, timeout=config.stop_timeout)
    if config.drain_delay is not None:
        plan = replace(plan, drain_delay=config.drain_delay)
    if config.stop_signal is not None or config.stop_repeat is not None:
        first = plan.steps[0].signal if plan.steps else signal.SIGTERM
        sig = config.stop_signal if config.stop_signal is not None else first
        plan = replace(plan, steps=(StopStep(at=0.0, signal=sig, repeat=config.stop_repeat),))
    if config.single_child:
        plan = replace(plan, to_group=False)
    return plan


def generic_spec(invocation: Invocation) -> ServiceSpec:
    """The spec for `bots-runtime run -- CMD ...`: tini/dumb-init semantics by default."""
    config = invocation.config
    default_stop = StopPlan(
        steps=(StopStep(at=0.0, signal=signal.SIGTERM),),
        timeout=DEFAULT_STOP_TIMEOUT,
        leftover_signal=signal.SIGTERM,
    )
    return ServiceSpec(
        name="run",
        argv=invocation.args,
        env=child_env(invocation.environ),
        stop=stop_plan(config, default_stop),
        restart=restart_spec(config, RestartSpec()),
        success_codes=config.success_codes,
        signal_rewrite=dict(config.signal_rewrite),
    )


def with_user_settings(spec: ServiceSpec, config: RuntimeConfig) -> ServiceSpec:
    """Apply the settings every service shares (codes, rewrites) to a catalogue spec."""
    return replace(
        spec,
        success_codes=config.success_codes | spec.success_codes,
        signal_rewrite={**spec.signal_rewrite, **config.signal_rewrite},
    )


def describe(spec: ServiceSpec) -> str:
    """A readable plan for `bots-runtime check`: what runs, how it stops, what is checked."""
    stop = spec.stop
    lines = [
        f"service: {spec.name}",
        "command: " + " ".join(spec.argv),
        (
            f"restart: {spec.restart.policy.value} (max {spec.restart.max_restarts} quick"
            f" failures, start period {spec.restart.start_period:g}s, min uptime"
            f" {spec.restart.min_uptime:g}s)"
        ),
        f"stop: drain {stop.drain_delay:g}s, then "
        + ", ".join(
            f"{s.signal.name} at {s.at:g}s" + (f" every {s.repeat:g}s" if s.repeat else "")
            for s in stop.steps
        )
        + f", SIGKILL at {stop.timeout:g}s"
        + (" to the process group" if stop.to_group else " to the child only"),
        (
            f"leftover processes: {stop.leftover_signal.name} {stop.leftover_margin:g}s before"
            " the deadline, then SIGKILL"
        ),
        f"budget (drain + stop): {stop.budget:g}s",
    ]
    if spec.lock_path:
        lines.append(f"lock: {spec.lock_path} (held by another run: exit 75)")
    if spec.success_codes:
        lines.append("success codes: " + ",".join(str(c) for c in sorted(spec.success_codes)))
    lines.extend(
        f"check: {c.name} [{c.level.name}] every {c.interval:g}s, timeout {c.timeout:g}s"
        + (f": {c.description}" if c.description else "")
        for c in spec.checks
    )
    lines.extend(f"port: {name} {port}" for name, port in sorted(spec.ports.items()))
    return "\n".join(lines)
