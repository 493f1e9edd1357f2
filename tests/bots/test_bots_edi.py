"""EDI outcomes from real Bots runs: pushed per engine run, exported by the webserver.

Every number asserted here comes from files that really went through Bots routes installed
with Bots' own plugin reader (tests/bots/edikit.py): good orders translated by a grammar and a
mapping, bad ones failing to parse or to map, files passed through, stuck or left open. No row
is ever written by hand into ta, report or filereport. The expected counts are the inputs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.bots.edikit import (
    SAMPLES,
    EdiRoutes,
    install,
    parse,
    promtool_check,
    scrape,
    series,
    value,
    webserver_metrics,
)
from tests.support import wait_until

if TYPE_CHECKING:
    from tests.bots.kit import BotsDir, StartRuntime
    from tests.support import RuntimeProcess

pytestmark = [pytest.mark.bots, pytest.mark.slow, pytest.mark.prometheus]

ENGINE = {"instance": "", "job": "bots_engine"}
DOC = Path(__file__).resolve().parents[2] / "docs" / "edi-metrics.md"
REPORT = {"instance": "", "job": "bots_engine_report"}


def size(route: str, *names: str) -> int:
    """Bytes of sample files, as Bots counts them in filesize."""
    total = 0
    for name in names:
        for folder in (SAMPLES / route, SAMPLES / route / "good", SAMPLES / route / "bad"):
            if (folder / name).is_file():
                total += (folder / name).stat().st_size
                break
        else:
            pytest.fail(f"no sample {route}/{name}")
    return total


def marked(routes: EdiRoutes, word: str) -> bool:
    with contextlib.suppress(OSError):
        return word in routes.marker.read_text().split()
    return False


def engine_run(
    run_runtime: StartRuntime,
    bots: BotsDir,
    gateway: str | None,
    *extra_env: tuple[str, str],
) -> RuntimeProcess:
    args = ["--pushgateway", gateway, "engine"] if gateway else ["engine"]
    return run_runtime(args, bots.env(**dict(extra_env)), health=False)


def outcome_events(runtime: RuntimeProcess) -> list[dict[str, object]]:
    return [r for r in runtime.records() if "edi_outcome" in r]


class TestEngineRun:
    def test_good_and_bad_files(
        self, run_runtime: StartRuntime, bots_dir: BotsDir, gateway: str
    ) -> None:
        """1. Routes edi_pass and edi_csv; N = 3 good files (1 pass-through, 2 orders) and
           M = 2 bad orders (a non-numeric quantity, an unknown record).
        2. `bots-runtime --pushgateway URL engine`: Bots' exit code 2 stands.
        3. The Pushgateway has exactly 5 received, 3 done, 2 in error, 3 sent, the bytes of
           the five files, per command type and per route; the exposition passes promtool.
        4. One log event carries the same numbers and says where the errors are.
        5. The webserver's /metrics shows the same files per route for the last 24 h and
           the last run's time (report.ts in settings.py's zone, turned into Unix time).
        """
        routes = install(bots_dir, bots_dir.env(), ("edi_pass", "edi_csv"))
        routes.drop("edi_pass", "pass_1.txt")
        routes.drop("edi_csv", "order_1001.csv", "order_1002.csv", "bad_qty.csv", "bad_record.csv")
        begun = time.time()
        runtime = engine_run(run_runtime, bots_dir, gateway)
        assert runtime.wait(60) == 2, runtime.output()
        ended = time.time()

        body = scrape(f"{gateway}/metrics")
        samples = parse(body)
        assert value(samples, "bots_engine_last_exit_code", **ENGINE) == 2
        assert value(samples, "bots_engine_last_success_timestamp_seconds", **ENGINE) is None
        assert value(samples, "bots_engine_last_run_outcome_known", **REPORT) == 1
        assert value(samples, "bots_engine_last_run_crash_recovery", **REPORT) == 0
        new = {**REPORT, "type": "new"}
        assert value(samples, "bots_engine_last_run_commands", **new) == 1
        assert value(samples, "bots_engine_last_run_commands_failed", **new) == 1
        assert value(samples, "bots_engine_last_run_files_received", **new) == 5
        files = {
            state: value(samples, "bots_engine_last_run_files", **new, status=state)
            for state in ("done", "error", "stuck", "open")
        }
        assert files == {"done": 3, "error": 2, "stuck": 0, "open": 0}
        assert value(samples, "bots_engine_last_run_files_sent", **new) == 3
        assert value(samples, "bots_engine_last_run_process_errors", **new) == 0
        csv_bytes = size("edi_csv", "order_1001.csv", "order_1002.csv", "bad_qty.csv")
        csv_bytes += size("edi_csv", "bad_record.csv")
        pass_bytes = size("edi_pass", "pass_1.txt")
        assert (
            value(samples, "bots_engine_last_run_received_bytes", **new) == csv_bytes + pass_bytes
        )
        per_route = {
            (dict(labels)["route"], dict(labels)["status"]): v
            for labels, v in series(samples, "bots_engine_last_run_route_files", **REPORT).items()
        }
        assert per_route == {
            ("edi_csv", "done"): 2,
            ("edi_csv", "error"): 2,
            ("edi_csv", "stuck"): 0,
            ("edi_csv", "open"): 0,
            ("edi_pass", "done"): 1,
            ("edi_pass", "error"): 0,
            ("edi_pass", "stuck"): 0,
            ("edi_pass", "open"): 0,
        }
        route_bytes = {**REPORT, "route": "edi_csv"}
        assert value(samples, "bots_engine_last_run_route_received_bytes", **route_bytes) == (
            csv_bytes
        )
        assert promtool_check(body) == ""
        # The good files really were translated and passed through.
        lines = routes.outbox("edi_csv_out")
        assert len(lines) == 2
        assert any("LINE;PO-1001;ACME;2;SKU-BLUE;2.5" in text for text in lines)
        assert routes.outbox("edi_pass_out") == [(SAMPLES / "edi_pass/pass_1.txt").read_text()]

        (event,) = outcome_events(runtime)
        assert event["level"] == "warning"
        assert event["edi_outcome"] == "errors"
        assert "2 files in error on route edi_csv" in str(event["event"])
        assert (event["files_received"], event["files_done"], event["files_error"]) == (5, 3, 2)
        assert event["files_sent"] == 3
        assert event["code"] == 2

        text = webserver_metrics(run_runtime, bots_dir, {})
        web = parse(text)
        assert value(web, "bots_runtime_collector_up", collector="edi") == 1
        recent = {
            (dict(labels)["route"], dict(labels)["status"]): v
            for labels, v in series(web, "bots_edi_recent_files").items()
        }
        assert recent == {
            ("edi_csv", "done"): 2,
            ("edi_csv", "error"): 2,
            ("edi_csv", "stuck"): 0,
            ("edi_csv", "open"): 0,
            ("edi_pass", "done"): 1,
            ("edi_pass", "error"): 0,
            ("edi_pass", "stuck"): 0,
            ("edi_pass", "open"): 0,
        }
        assert value(web, "bots_edi_last_run_failed") == 1
        assert value(web, "bots_edi_last_run_files_received") == 5
        assert value(web, "bots_edi_last_run_files", status="error") == 2
        assert value(web, "bots_edi_last_run_info", type="new") == 1
        stamp = value(web, "bots_edi_last_run_timestamp_seconds")
        assert stamp is not None
        # report.ts has whole seconds, in the zone of settings.py (not this machine's).
        assert begun - 1 <= stamp <= ended
        assert value(web, "bots_edi_engine_lock_rows") == 0
        assert promtool_check(text) == ""
        documented = DOC.read_text(encoding="utf-8")
        exported = {name for name, _ in web if name.startswith(("bots_edi_", "bots_runtime_coll"))}
        assert len(exported) >= 11
        assert {n for n in exported if f"`{n}`" not in documented} == set()

    def test_every_kind_of_outcome(
        self, run_runtime: StartRuntime, bots_dir: BotsDir, gateway: str
    ) -> None:
        """One run with a file done, in error (mapping), stuck and open, and an empty route:
        each lands on its own route, and the process errors on theirs."""
        active = ("edi_pass", "edi_csv", "edi_stuck", "edi_open", "edi_procerr")
        routes = install(bots_dir, bots_dir.env(), active)
        routes.drop("edi_pass", "pass_2.edi")
        routes.drop("edi_csv", "order_1003.csv", "bad_mapping.csv")
        routes.drop("edi_stuck", "stuck_1.txt")
        routes.drop("edi_open", "open_1.txt")
        runtime = engine_run(run_runtime, bots_dir, gateway)
        assert runtime.wait(60) == 2, runtime.output()
        samples = parse(scrape(f"{gateway}/metrics"))
        new = {**REPORT, "type": "new"}
        assert value(samples, "bots_engine_last_run_files_received", **new) == 5
        files = {
            state: value(samples, "bots_engine_last_run_files", **new, status=state)
            for state in ("done", "error", "stuck", "open")
        }
        assert files == {"done": 2, "error": 1, "stuck": 1, "open": 1}
        assert value(samples, "bots_engine_last_run_process_errors", **new) == 2

        def route(name: str, state: str) -> float | None:
            labels = {**REPORT, "route": name, "status": state}
            return value(samples, "bots_engine_last_run_route_files", **labels)

        assert route("edi_csv", "error") == 1
        assert route("edi_csv", "done") == 1
        assert route("edi_stuck", "stuck") == 1
        assert route("edi_open", "open") == 1
        assert route("edi_pass", "done") == 1
        errors = {
            dict(labels)["route"]: v
            for labels, v in series(
                samples, "bots_engine_last_run_route_process_errors", **REPORT
            ).items()
        }
        assert errors == {
            "edi_csv": 0,
            "edi_open": 1,
            "edi_pass": 0,
            "edi_procerr": 1,
            "edi_stuck": 0,
        }
        (event,) = outcome_events(runtime)
        text = str(event["event"])
        for part in (
            "1 file in error on route edi_csv",
            "1 file stuck on route edi_stuck",
            "1 file open on route edi_open",
            "1 process error on route edi_procerr",
        ):
            assert part in text

    def test_next_run_replaces_the_report(
        self, run_runtime: StartRuntime, bots_dir: BotsDir, gateway: str
    ) -> None:
        """A run with errors on edi_csv, then a clean run on edi_pass only: the report group
        then holds only the clean run (no edi_csv series left over), and the exit-code group
        keeps its history (the first run's start is replaced, a success time appears)."""
        routes = install(bots_dir, bots_dir.env(), ("edi_pass", "edi_csv"))
        routes.drop("edi_csv", "bad_qty.csv")
        first = engine_run(run_runtime, bots_dir, gateway)
        assert first.wait(60) == 2, first.output()
        before = parse(scrape(f"{gateway}/metrics"))
        csv = {**REPORT, "route": "edi_csv", "status": "error"}
        assert value(before, "bots_engine_last_run_route_files", **csv) == 1
        routes.drop("edi_pass", "pass_1.txt")
        second = engine_run(run_runtime, bots_dir, gateway)
        assert second.wait(60) == 0, second.output()
        after = parse(scrape(f"{gateway}/metrics"))
        assert series(after, "bots_engine_last_run_route_files", route="edi_csv") == {}
        passed = {**REPORT, "route": "edi_pass", "status": "done"}
        assert value(after, "bots_engine_last_run_route_files", **passed) == 1
        new = {**REPORT, "type": "new"}
        assert value(after, "bots_engine_last_run_files", **new, status="error") == 0
        assert value(after, "bots_engine_last_exit_code", **ENGINE) == 0
        assert value(after, "bots_engine_last_success_timestamp_seconds", **ENGINE) is not None
        (event,) = outcome_events(second)
        assert event["level"] == "info"
        assert event["event"] == "engine run ok: 1 file received, 1 sent"

    def test_database_unreadable_after_the_run(
        self, run_runtime: StartRuntime, bots_dir: BotsDir, gateway: str, tmp_path: Path
    ) -> None:
        """1. A run that works, pushed.
        2. The database file is given a symbolic link as its name, and the next run's Bots
           user exit removes that name at the run's very end: the engine finishes on the
           file it opened, the runtime finds no database afterwards.
        3. The exit code is still Bots' own (0), the log has one warning saying the outcome
           is unknown, and the report group holds only `outcome_known 0`: nothing of the
           first run's report is left to look current.
        """
        routes = install(bots_dir, bots_dir.env(), ("edi_pass", "edi_csv"))
        routes.drop("edi_csv", "order_1001.csv")
        assert engine_run(run_runtime, bots_dir, gateway).wait(60) == 0
        routes.drop("edi_pass", "pass_1.txt")
        real = tmp_path / "botsdb.real"
        bots_dir.db.rename(real)
        bots_dir.db.symlink_to(real)
        runtime = engine_run(run_runtime, bots_dir, gateway, ("EDI_TEST_POST_UNLINK_DB", "1"))
        assert runtime.wait(60) == 0, runtime.output()
        assert not bots_dir.db.exists()
        assert routes.outbox("edi_pass_out") == [(SAMPLES / "edi_pass/pass_1.txt").read_text()]
        warnings = [r for r in runtime.records() if r.get("level") == "warning"]
        assert len(warnings) == 1, warnings
        assert warnings[0]["edi_outcome"] == "unknown"
        assert "outcome unknown" in str(warnings[0]["event"])
        assert "does not exist" in str(warnings[0]["event"])
        samples = parse(scrape(f"{gateway}/metrics"))
        group = {k: v for k, v in samples.items() if ("job", "bots_engine_report") in k[1]}
        names = {name for name, _labels in group} - {
            "push_time_seconds",
            "push_failure_time_seconds",
        }
        assert names == {"bots_engine_last_run_outcome_known"}
        assert value(samples, "bots_engine_last_run_outcome_known", **REPORT) == 0
        assert value(samples, "bots_engine_last_exit_code", **ENGINE) == 0

    def test_database_locked_before_the_run(
        self, run_runtime: StartRuntime, bots_dir: BotsDir, gateway: str
    ) -> None:
        """The database is locked when the runtime takes its watermark: after a 2 s wait the
        engine is started anyway, and the outcome is reported as unknown, not guessed."""
        routes = install(bots_dir, bots_dir.env(), ("edi_pass",))
        routes.drop("edi_pass", "pass_1.txt")
        holder = sqlite3.connect(bots_dir.db, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            runtime = engine_run(run_runtime, bots_dir, gateway)
            runtime.wait_event("child started", timeout=20)
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        assert runtime.wait(60) == 0, runtime.output()
        (event,) = outcome_events(runtime)
        assert event["edi_outcome"] == "unknown"
        assert "before the run" in str(event["event"])
        assert "locked" in str(event["event"])
        samples = parse(scrape(f"{gateway}/metrics"))
        assert value(samples, "bots_engine_last_run_outcome_known", **REPORT) == 0


class TestCrashRecovery:
    def test_killed_mid_route_then_recovered(
        self, run_runtime: StartRuntime, bots_dir: BotsDir, gateway: str
    ) -> None:
        """1. A run is SIGKILLed while route edi_sleep sleeps: Bots wrote no report, the
           runtime says so, and the webserver shows the engine lock (a mutex row) held since
           that run started.
        2. The next run recovers it: the push says crash recovery, with the killed run's four
           files under type crashrecovery and the new file under type new; the exit-code
           group gets the time of the last crash recovery; the webserver shows it too.
        """
        routes = install(bots_dir, bots_dir.env(), ("edi_pass", "edi_csv", "edi_sleep"))
        routes.drop("edi_sleep", "sleep_1.txt")
        routes.drop("edi_csv", "order_1001.csv", "bad_qty.csv")
        routes.drop("edi_pass", "pass_1.txt")
        killed_at = time.time()
        victim = engine_run(run_runtime, bots_dir, gateway, ("EDI_RECIPE_SLEEP", "30"))
        wait_until(lambda: marked(routes, "start"), 30, "edi_sleep to sleep")
        os.kill(victim.child_pid(), signal.SIGKILL)
        assert victim.wait(20) == 137
        (event,) = outcome_events(victim)
        assert event["edi_outcome"] == "none"
        assert "wrote no report" in str(event["event"])
        web = parse(webserver_metrics(run_runtime, bots_dir, {}))
        assert value(web, "bots_edi_engine_lock_rows") == 1
        held = value(web, "bots_edi_engine_lock_timestamp_seconds")
        assert held is not None
        assert killed_at - 2 <= held <= time.time()

        routes.drop("edi_pass", "pass_2.edi")
        recovering = time.time()
        after = engine_run(run_runtime, bots_dir, gateway)
        assert after.wait(60) == 2, after.output()
        samples = parse(scrape(f"{gateway}/metrics"))
        assert value(samples, "bots_engine_last_run_crash_recovery", **REPORT) == 1
        crash = {**REPORT, "type": "crashrecovery"}
        assert value(samples, "bots_engine_last_run_files_received", **crash) == 4
        assert value(samples, "bots_engine_last_run_files", **crash, status="done") == 3
        assert value(samples, "bots_engine_last_run_files", **crash, status="error") == 1
        new = {**REPORT, "type": "new"}
        assert value(samples, "bots_engine_last_run_files_received", **new) == 1
        stamp = value(samples, "bots_engine_last_crash_recovery_timestamp_seconds", **ENGINE)
        assert stamp is not None
        assert recovering - 1 <= stamp <= time.time()
        (event,) = outcome_events(after)
        assert event["crash_recovery"] is True
        assert "with a crash recovery" in str(event["event"])
        assert sorted(routes.outbox("edi_pass_out")) == sorted(
            (SAMPLES / "edi_pass" / name).read_text() for name in ("pass_1.txt", "pass_2.edi")
        )
        web = parse(webserver_metrics(run_runtime, bots_dir, {}))
        assert value(web, "bots_edi_engine_lock_rows") == 0
        last_crash = value(web, "bots_edi_last_crash_recovery_timestamp_seconds")
        assert last_crash is not None
        # report.ts of a crash recovery is the killed run's start.
        assert killed_at - 2 <= last_crash <= recovering

    def test_killed_after_its_report(
        self, run_runtime: StartRuntime, bots_dir: BotsDir, gateway: str
    ) -> None:
        """1. A run is SIGKILLed after Bots wrote its report (in the engine's `post` exit):
           its own push has the report (1 file in error).
        2. The next run's recovery rewrites that row in place as `crashrecovery`: the push
           says crash recovery and shows the rewritten row's error, which explains Bots'
           exit code 2 although the run itself received nothing.
        """
        routes = install(bots_dir, bots_dir.env(), ("edi_pass", "edi_csv"))
        routes.drop("edi_csv", "order_1001.csv", "bad_qty.csv")
        victim = engine_run(run_runtime, bots_dir, gateway, ("EDI_RECIPE_POST_SLEEP", "30"))
        wait_until(lambda: marked(routes, "post-start"), 30, "the engine's post exit")
        os.kill(victim.child_pid(), signal.SIGKILL)
        assert victim.wait(20) == 137
        first = parse(scrape(f"{gateway}/metrics"))
        new = {**REPORT, "type": "new"}
        assert value(first, "bots_engine_last_run_files", **new, status="error") == 1
        after = engine_run(run_runtime, bots_dir, gateway)
        assert after.wait(60) == 2, after.output()
        samples = parse(scrape(f"{gateway}/metrics"))
        assert value(samples, "bots_engine_last_run_crash_recovery", **REPORT) == 1
        crash = {**REPORT, "type": "crashrecovery"}
        assert value(samples, "bots_engine_last_run_commands", **crash) == 1
        assert value(samples, "bots_engine_last_run_files", **crash, status="error") == 1
        assert value(samples, "bots_engine_last_run_files_received", **new) == 0
        (event,) = outcome_events(after)
        assert event["previous_report_rewritten"] is True
        assert event["commands"] == ["crashrecovery", "new"]


class TestWebserverGauges:
    def test_collector_failing_is_visible(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """While the database is locked the EDI collector's reading times out: /metrics has
        no bots_edi_ series but collector_up 0, and the log says why, once; the web UI and
        the rest of /metrics are unaffected."""
        holder = sqlite3.connect(bots_dir.db, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            runtime = run_runtime(["--drain-delay", "0", "webserver"], bots_dir.env())
            runtime.wait_event("collector failing", timeout=30)
            text = runtime.text("/metrics")
        finally:
            holder.close()
        samples = parse(text)
        assert value(samples, "bots_runtime_collector_up", collector="edi") == 0
        assert value(samples, "bots_runtime_collector_failures_total", collector="edi") == 1
        assert not [name for name, _ in samples if name.startswith("bots_edi_")]
        (failing,) = runtime.find("collector failing")
        assert failing["collector"] == "edi"
        assert "locked" in str(failing["reason"])
        assert value(samples, "bots_runtime_build_info", service="webserver") == 1
        runtime.signal(signal.SIGTERM)
        assert runtime.wait(25) == 0
