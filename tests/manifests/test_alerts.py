"""The alert rules parse (promtool check rules) and fire when they should (promtool test rules
with tests/manifests/alerts/bots_test.yaml); the dashboard queries the same metric names."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import kube

pytestmark = pytest.mark.prometheus
HERE = Path(__file__).parent
DASHBOARD = kube.K8S / "components" / "monitoring" / "dashboards" / "bots-runtime.json"
# What the runtime exports (bots_runtime/web/metrics.py) and what engine runs push
# (bots_runtime/bots/push.py); Prometheus adds `up` and the histogram suffixes.
KNOWN_METRICS = {
    "up",
    "bots_runtime_build_info",
    "bots_runtime_child_state",
    "bots_runtime_child_up",
    "bots_runtime_child_starts_total",
    "bots_runtime_child_restarts_total",
    "bots_runtime_child_quick_failures",
    "bots_runtime_child_start_time_seconds",
    "bots_runtime_child_last_exit_code",
    "bots_runtime_ready",
    "bots_runtime_draining",
    "bots_runtime_check_status",
    "bots_runtime_check_failures_total",
    "bots_runtime_check_duration_seconds_bucket",
    "bots_runtime_log_lines_total",
    "bots_runtime_signals_forwarded_total",
    "bots_child_process_cpu_seconds_total",
    "bots_child_process_resident_memory_bytes",
    "bots_engine_last_run_timestamp_seconds",
    "bots_engine_last_success_timestamp_seconds",
    "bots_engine_last_run_duration_seconds",
    "bots_engine_last_exit_code",
    "bots_engine_last_crash_recovery_timestamp_seconds",
    "bots_runtime_collector_up",
    # Bots' report of each engine run (bots_runtime/bots/push.py, job="bots_engine_report")
    "bots_engine_last_run_outcome_known",
    "bots_engine_last_run_crash_recovery",
    "bots_engine_last_run_commands",
    "bots_engine_last_run_commands_failed",
    "bots_engine_last_run_files_received",
    "bots_engine_last_run_files",
    "bots_engine_last_run_files_sent",
    "bots_engine_last_run_process_errors",
    "bots_engine_last_run_received_bytes",
    "bots_engine_last_run_route_files",
    "bots_engine_last_run_route_received_bytes",
    "bots_engine_last_run_route_process_errors",
    # the webserver's EDI gauges (bots_runtime/bots/recent.py)
    "bots_edi_recent_files",
    "bots_edi_recent_window_seconds",
    "bots_edi_last_run_info",
    "bots_edi_last_run_failed",
    "bots_edi_last_run_files_received",
    "bots_edi_last_run_files",
    "bots_edi_last_run_timestamp_seconds",
    "bots_edi_last_crash_recovery_timestamp_seconds",
    "bots_edi_engine_lock_rows",
    "bots_edi_engine_lock_timestamp_seconds",
}
METRIC = re.compile(r"\b((?:bots_|up\b)[a-z_]*)")


def promtool() -> str:
    """promtool from Debian's prometheus package."""
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool not found: apt-get install prometheus")
    return found


@pytest.fixture(name="groups")
def _groups(rendered: dict[str, list[kube.Obj]]) -> list[dict[str, Any]]:
    rule = kube.one(rendered["prod"], "PrometheusRule", "bots-runtime")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def _alerts(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for g in groups for r in g["rules"] if "alert" in r]


def test_rules_pass_promtool_check(groups: list[dict[str, Any]], tmp_path: Path) -> None:
    """promtool parses every expression and annotation template, and finds no duplicates."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": groups}), encoding="utf-8")
    done = subprocess.run(
        [promtool(), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alerts(groups))} rules found" in done.stdout


def test_alerts_fire_as_specified(groups: list[dict[str, Any]], tmp_path: Path) -> None:
    """Crash looping, not ready, check failing, down, engine run failed, no successful run for
    15 minutes (and none recorded), no run at all: each fires at its time and not before."""
    bare = [
        {**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
        for g in groups
    ]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": bare}), encoding="utf-8")
    shutil.copy(HERE / "alerts" / "bots_test.yaml", tmp_path / "bots_test.yaml")
    done = subprocess.run(
        [promtool(), "test", "rules", "bots_test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", (HERE / "alerts" / "bots_test.yaml").read_text()))
    assert tested == {r["alert"] for r in _alerts(groups)}


def test_alert_unit_tests_can_fail(groups: list[dict[str, Any]], tmp_path: Path) -> None:
    """With the engine alert's threshold changed, the same unit tests fail."""
    changed = json.loads(json.dumps(groups))
    for group in changed:
        for rule in group["rules"]:
            rule.pop("annotations", None)
            rule["expr"] = rule["expr"].replace("> 900", "> 3600")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": changed}), encoding="utf-8")
    shutil.copy(HERE / "alerts" / "bots_test.yaml", tmp_path / "bots_test.yaml")
    done = subprocess.run(
        [promtool(), "test", "rules", "bots_test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0


def test_alerts_explain_themselves(groups: list[dict[str, Any]]) -> None:
    """Every alert has a severity, a summary and a description."""
    for alert in _alerts(groups):
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["summary"]
        assert len(alert["annotations"]["description"]) > 20


def test_required_alerts_exist(groups: list[dict[str, Any]]) -> None:
    """Crash looping, not ready, engine run failed, no success for 15 min; and the EDI ones:
    files in error in the last run, files stuck, a crash recovery, the engine lock held."""
    names = {a["alert"] for a in _alerts(groups)}
    assert {
        "BotsRuntimeCrashLooping",
        "BotsRuntimeNotReady",
        "BotsEngineRunFailed",
        "BotsEngineNoSuccessfulRun",
        "BotsEdiFilesInError",
        "BotsEdiFilesStuck",
        "BotsEdiCrashRecovery",
        "BotsEngineLockHeld",
    } <= names


def test_dashboard_has_an_edi_row() -> None:
    """The EDI row shows received, sent and errors per run and per route, stuck files, the
    last crash recovery and the engine lock."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert any(title.startswith("EDI outcomes") for title in rows)
    exprs = " ".join(_dashboard_exprs())
    for metric in (
        "bots_engine_last_run_files_received",
        "bots_engine_last_run_files_sent",
        'bots_engine_last_run_files{job="bots_engine_report", status="error"}',
        'bots_engine_last_run_route_files{job="bots_engine_report", status="error"}',
        'bots_edi_recent_files{namespace="$namespace", status=~"stuck|open"}',
        "bots_engine_last_crash_recovery_timestamp_seconds",
        "bots_edi_engine_lock_timestamp_seconds",
    ):
        assert metric in exprs, metric


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_rules_and_dashboard_use_known_metrics(groups: list[dict[str, Any]]) -> None:
    """Every metric name in an alert or a dashboard panel is one the runtime or an engine run
    exports, so no panel stays empty because of a typo."""
    exprs = [r["expr"] for r in _alerts(groups)] + _dashboard_exprs()
    used = {m for e in exprs for m in METRIC.findall(re.sub(r'"[^"]*"', '""', e))}
    assert used - KNOWN_METRICS == set()
    assert len(used) >= 15


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """promtool parses each dashboard query (with $namespace filled in) as a rule expression."""
    exprs = [e.replace("$namespace", "bots") for e in _dashboard_exprs()]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    done = subprocess.run(
        [promtool(), "check", "rules", str(tmp_path / "q.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
