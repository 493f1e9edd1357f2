"""The benchmark harness in smoke mode, so it cannot rot: one repetition, small sizes."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# A guard against a hung harness, not a speed target: the smoke runs take about 30 s (run),
# 5 s (edi) and 35 s (faults) here, and CI may share the machine with other work.
HANG_GUARD_S = 400


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m benchmarks ARGS`. On a hang: SIGINT, so the harness stops what it started
    and removes its folder, then fail with the progress lines it printed, so the log shows which
    measurement stood still."""
    argv = [sys.executable, "-m", "benchmarks", *args]
    with subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            pytest.fail(
                f"benchmarks {' '.join(args)} hung for {HANG_GUARD_S} s; it printed:\n"
                + err[-4000:],
                pytrace=False,
            )
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


# Every metric each row must have; written out here, not imported, so the harness cannot
# drop one and still pass.
LIFE = {
    "startup_ms",
    "sigterm_to_child_ms",
    "sigterm_to_gone_ms",
    "child_exit_to_gone_ms",
    "rss_kib",
    "hwm_kib",
    "idle_cpu_pct",
    "procs",
}
ZOMBIES = {"zombies_025s", "zombies_1s"}
FLOOD = {"flood_wall_ms", "lines_per_s", "lines_lost", "lines_mangled", "flood_cpu_ms"}
READYZ = {
    "readyz_p50_ms",
    "readyz_p99_ms",
    "readyz_cpu_ms",
    "readyz_rps_c10",
    "readyz_flood_p99_ms",
    "readyz_flood_probes",
}
EXEC = {"exec_wall_ms", "exec_cpu_ms", "exec_maxrss_kib"}
EXPECTED = {
    "tini": LIFE | ZOMBIES | FLOOD,
    "bots-runtime": LIFE | ZOMBIES | FLOOD | READYZ,
    "bots-runtime-raw": FLOOD,
    "reference-http": READYZ - {"readyz_flood_p99_ms", "readyz_flood_probes"},
    "exec-probe-django": EXEC,
    "exec-python-floor": EXEC,
}


@pytest.mark.slow
@pytest.mark.pidns
@pytest.mark.timeout(HANG_GUARD_S + 30)
@pytest.mark.skipif(os.geteuid() != 0, reason="the zombie bench needs root for unshare --pid")
@pytest.mark.skipif(
    not (shutil.which("tini") and shutil.which("wrk") and shutil.which("unshare")),
    reason="needs tini, wrk and unshare (apt-get install tini wrk util-linux)",
)
def test_smoke_run_writes_every_metric_for_bots_runtime_and_tini(tmp_path: Path) -> None:
    """`python -m benchmarks run --smoke` fails no measurement and writes results.json with
    every metric (median, min, max, values) for bots-runtime, tini and the probe rows, sane
    values (tini reaps, nothing lost), plus the Markdown table and the results page.
    """
    done = harness("run", "--smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-4000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["meta"]["mode"] == "smoke"
    assert doc["errors"] == {}
    summary = doc["summary"]
    for row, metrics in EXPECTED.items():
        assert row in summary, f"{row} missing; skipped: {doc['skipped']}"
        missing = metrics - summary[row].keys()
        assert not missing, f"{row} lacks {sorted(missing)}"
        for metric in metrics:
            entry = summary[row][metric]
            assert entry["n"] == 1
            assert entry["min"] <= entry["median"] <= entry["max"]
            assert math.isfinite(entry["median"])
            assert entry["median"] >= 0
    tini, runtime = summary["tini"], summary["bots-runtime"]
    assert tini["zombies_025s"]["median"] == 0
    assert tini["lines_lost"]["median"] == 0
    assert tini["lines_mangled"]["median"] == 0
    assert runtime["startup_ms"]["median"] > 0
    assert runtime["rss_kib"]["median"] > 1000
    assert runtime["lines_per_s"]["median"] > 0
    assert runtime["startup_ms"]["ratio_to"] == "tini"
    assert {t["metric"] for t in doc["targets"] if t["met"] is None} == set()
    assert "| bots-runtime |" in (tmp_path / "results.md").read_text()
    assert "## Targets" in (tmp_path / "README.md").read_text()
    if find_spec("matplotlib") or (REPO / "benchmarks" / ".venv-peers" / "bin" / "python").exists():
        assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


EDI_METRICS = {"watermark_ms", "read_ms", "added_ms", "refresh_ms"}


@pytest.mark.slow
@pytest.mark.bots
@pytest.mark.timeout(HANG_GUARD_S + 30)
@pytest.mark.skipif(find_spec("bots") is None, reason="Bots EDI is not installed next to Python")
def test_edi_smoke_run_measures_every_metric(tmp_path: Path) -> None:
    """`python -m benchmarks edi --smoke` builds a Bots database from real runs, grows it,
    times real engine runs and webserver refreshes on it, and writes every metric with its
    target verdict; each timed run's report really had the 7 files dropped for it."""
    done = harness("edi", "--smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-4000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["meta"]["mode"] == "smoke"
    assert doc["errors"] == {}
    sqlite = doc["databases"]["sqlite"]
    assert sqlite["grown"]["rows"]["ta"] >= 3000
    assert sqlite["seed_codes"] == [2, 2, 2]  # route edi_procerr fails in every run
    assert {run["engine_code"] for run in sqlite["runs"]} == {2}
    for metric in EDI_METRICS:
        entry = sqlite["summary"][metric]
        assert entry["n"] >= 2
        assert 0 < entry["min"] <= entry["median"] <= entry["max"]
        assert math.isfinite(entry["max"])
    assert {(t["database"], t["metric"]) for t in doc["targets"]} == {
        ("sqlite", "added_ms"),
        ("sqlite", "refresh_ms"),
    }
    assert all(isinstance(t["met"], bool) for t in doc["targets"])
    assert "| sqlite |" in (tmp_path / "README.md").read_text()


def allowed_skip(name: str, reason: str) -> bool:
    """Rows may be skipped only for what this machine lacks, never for a failure."""
    if name.startswith("container"):
        return "no image" in reason
    if "needs root" in reason:
        return os.geteuid() != 0
    if "Bots EDI is not installed" in reason:
        return not (Path(sys.executable).parent / "bots-engine").is_file()
    return False


@pytest.mark.slow
@pytest.mark.timeout(HANG_GUARD_S + 30)
def test_fault_matrix_smoke_run_passes_every_row(tmp_path: Path) -> None:
    """`python -m benchmarks faults --smoke` runs every fault once, each as documented, with
    nothing lost or left behind, and writes faults.json and the faults.md table."""
    done = harness("faults", "--smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    doc = json.loads((tmp_path / "faults.json").read_text())
    assert doc["meta"]["mode"] == "smoke"
    rows = doc["rows"]
    assert len(rows) >= 20
    for row in rows:
        if row["skipped"]:
            assert allowed_skip(row["name"], row["skipped"]), row
            continue
        assert (row["runs"], row["ok"]) == (1, 1), row
        assert row["passed"], row
        assert row["lines_lost"] == row["zombies"] == row["strays"] == row["stale_locks"] == 0
    table = (tmp_path / "faults.md").read_text()
    assert "| fault | runs | as documented |" in table
    assert "| engine: two SIGTERMs | 1 | 1/1 |" in table or not any(
        r["name"] == "engine: two SIGTERMs" and not r["skipped"] for r in rows
    )
