"""The user's explicit settings over a service's defaults: the one place this rule lives.

A service spec (the Bots catalogue's or the generic `run` command's) holds plain defaults;
`apply` lays every service-level setting the user gave on top of them, and nothing else in the
package changes a spec after it is built. `SETTING_USES` says where each setting of the table
ends up, and a test holds it to the table, so a new setting cannot be forgotten here.
"""

from __future__ import annotations

import signal
from dataclasses import replace
from typing import TYPE_CHECKING

from bots_runtime.core.spec import RestartPolicy, StopStep, StopTarget

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bots_runtime.config import RuntimeConfig
    from bots_runtime.core.spec import RestartSpec, ServiceSpec, StopPlan

#: Where each setting goes: `spec` (applied here), `runtime` (`RuntimeConfig.options()`),
#: `catalogue` (an input to the Bots catalogue), `probe` (the probe command only), `cli` (the
#: CLI layer itself, before the catalogue: the first run's init-db).
SETTING_USES: Mapping[str, str] = {
    "stop_signal": "spec",
    "stop_timeout": "spec",
    "stop_repeat": "spec",
    "abort_signal": "spec",
    "drain_delay": "spec",
    "signal_rewrite": "spec",
    "restart": "spec",
    "max_restarts": "spec",
    "start_period": "spec",
    "min_uptime": "spec",
    "success_codes": "spec",
    "single_child": "spec",
    "log_format": "runtime",
    "log_level": "runtime",
    "child_logs": "runtime",
    "child_logs_full": "runtime",
    "host": "runtime",
    "port": "runtime",
    "port_file": "runtime",
    "subreaper": "runtime",
    "bots_config": "catalogue",
    "init_db": "cli",
    "pushgateway": "catalogue",
    "timeout": "probe",
}


def apply(spec: ServiceSpec, config: RuntimeConfig) -> ServiceSpec:
    """`spec` with every service-level setting the user gave explicitly."""
    return replace(
        spec,
        stop=_stop(spec.stop, config),
        restart=_restart(spec.restart, config),
        success_codes=config.success_codes | spec.success_codes,
        signal_rewrite={**spec.signal_rewrite, **config.signal_rewrite},
    )


def _stop(plan: StopPlan, config: RuntimeConfig) -> StopPlan:
    """The stop settings: timeout, drain delay, stop signal and repeat, single child, abort.

    Steps that count back from the deadline move with a new timeout. An explicit stop signal
    or repeat replaces the service's steps with one step at 0 s, so what the user typed is
    exactly what happens; `--single-child` makes every step signal the child alone.
    `--abort-signal none` takes a service's abort away (the second stop signal then kills).
    """
    if config.stop_timeout is not None:
        plan = replace(plan, timeout=config.stop_timeout)
    if config.drain_delay is not None:
        plan = replace(plan, drain_delay=config.drain_delay)
    if config.stop_signal is not None or config.stop_repeat is not None:
        first = plan.steps[0].signal if plan.steps else signal.SIGTERM
        sig = config.stop_signal if config.stop_signal is not None else first
        plan = replace(plan, steps=(StopStep(at=0.0, signal=sig, repeat=config.stop_repeat),))
    if config.single_child:
        # Every step signals the child alone; steps aimed at the rest of its group go.
        steps = tuple(
            replace(step, target=None) for step in plan.steps if step.target is not StopTarget.REST
        )
        plan = replace(plan, to_group=False, steps=steps)
    if config.abort_signal is not None:
        abort = signal.Signals(config.abort_signal) if config.abort_signal else None
        plan = replace(plan, abort_signal=abort)
    return plan


def _restart(spec: RestartSpec, config: RuntimeConfig) -> RestartSpec:
    """`--restart`, `--max-restarts`, `--start-period`, `--min-uptime`."""
    if config.restart is not None:
        spec = replace(spec, policy=RestartPolicy(config.restart))
    if config.max_restarts is not None:
        spec = replace(spec, max_restarts=config.max_restarts)
    if config.start_period is not None:
        spec = replace(spec, start_period=config.start_period)
    if config.min_uptime is not None:
        spec = replace(spec, min_uptime=config.min_uptime)
    return spec
