"""EDI outcomes as data: the log line, the pushed gauges, and how Bots' timestamps are read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bots_runtime.bots import push
from bots_runtime.bots.connection import Dialect, ReadError, kind_of
from bots_runtime.bots.environment import Database
from bots_runtime.bots.outcomes import Command, RouteOutcome, RunOutcome


def command(kind: str = "new", **counts: int) -> Command:
    files = {s: counts.get(s, 0) for s in ("done", "error", "stuck", "open")}
    return Command(
        idta=counts.get("idta", 10),
        type=kind,
        failures=1 if counts.get("error") or counts.get("stuck") or counts.get("process") else 0,
        received=sum(files.values()),
        files=files,
        sent=counts.get("sent", files["done"]),
        process_errors=counts.get("process", 0),
        received_bytes=counts.get("bytes", 0),
    )


def route(name: str, **counts: int) -> RouteOutcome:
    process = counts.pop("process", 0)
    return RouteOutcome(name, dict(counts), received_bytes=0, process_errors=process)


class TestSummary:
    def test_errors_name_their_route(self) -> None:
        """The line an operator searches for: how many files, in which state, on which route."""
        outcome = RunOutcome(
            (command(done=37, error=3),), (route("invoices_in", done=37, error=3),)
        )
        assert outcome.summary() == (
            "engine run with errors: 3 files in error on route invoices_in"
            " (40 files received, 37 sent)"
        )

    def test_every_kind_and_singulars(self) -> None:
        """Stuck, open and process errors get their own phrase; one is singular."""
        outcome = RunOutcome(
            (command(done=1, error=1, stuck=1, open=1, process=3),),
            (
                route("a", error=1),
                route("b", stuck=1),
                route("c", open=1, process=1),
                route("d", done=1, process=1),
            ),
        )
        assert outcome.summary() == (
            "engine run with errors: 1 file in error on route a, 1 file stuck on route b,"
            " 1 file open on route c, 1 process error on route c, 1 process error on route d,"
            " 1 process error (4 files received, 1 sent)"
        )

    def test_clean_and_empty_runs(self) -> None:
        """A clean run says what went through; an empty one says nothing came in."""
        assert RunOutcome((command(done=2),)).summary() == "engine run ok: 2 files received, 2 sent"
        assert RunOutcome((command(),)).summary() == "engine run ok: no files received"

    def test_no_report_rows(self) -> None:
        """No row at all: Bots never finished a command (killed, or failed at start)."""
        outcome = RunOutcome()
        assert outcome.summary() == "engine run wrote no report: Bots did not finish a command"
        assert outcome.fields()["edi_outcome"] == "none"

    def test_crash_recovery_is_said(self) -> None:
        """A run that recovered a crashed one says so."""
        outcome = RunOutcome((command("crashrecovery", done=2), command(done=1)))
        assert outcome.crash_recovery
        assert outcome.summary().endswith("; with a crash recovery")
        assert outcome.fields()["commands"] == ["crashrecovery", "new"]

    def test_fields_carry_the_numbers(self) -> None:
        """The log fields are the same numbers as the summary and the push."""
        outcome = RunOutcome(
            (command(done=3, error=2, bytes=281),),
            (route("edi_csv", done=2, error=2), route("edi_pass", done=1)),
        )
        fields = outcome.fields()
        assert fields["edi_outcome"] == "errors"
        assert (fields["files_received"], fields["files_done"], fields["files_error"]) == (5, 3, 2)
        assert fields["received_bytes"] == 281
        assert fields["routes"]["edi_csv"] == {"done": 2, "error": 2, "process_errors": 0}


class TestByType:
    def test_same_type_is_summed(self) -> None:
        """Two rows of one type add up, their count and failures included."""
        outcome = RunOutcome((command(done=1), command(error=2, idta=20), command("resend")))
        totals = outcome.by_type()
        assert sorted(totals) == ["new", "resend"]
        new = totals["new"]
        assert (new.count, new.failures, new.received, new.files["error"]) == (2, 1, 3, 2)
        assert new.idta == 10


def exposition(outcome: RunOutcome | None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(push.outcome_registry(outcome)).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class TestPushedGauges:
    def test_unknown_is_one_gauge(self) -> None:
        """An unknown outcome pushes only `outcome_known 0`: nothing to mistake for numbers."""
        assert exposition(None) == {("bots_engine_last_run_outcome_known", ()): 0.0}

    def test_known_outcome(self) -> None:
        """Per command type and per route, every state zero-filled; no `_total` anywhere."""
        outcome = RunOutcome(
            (command(done=3, error=2, bytes=281), command("crashrecovery", done=1)),
            (route("edi_csv", done=2, error=2, process=1), route("edi_pass", done=2)),
        )
        samples = exposition(outcome)
        assert samples[("bots_engine_last_run_outcome_known", ())] == 1
        assert samples[("bots_engine_last_run_crash_recovery", ())] == 1
        new = (("type", "new"),)
        assert samples[("bots_engine_last_run_files_received", new)] == 5
        assert samples[("bots_engine_last_run_received_bytes", new)] == 281
        assert samples[("bots_engine_last_run_commands_failed", new)] == 1
        assert samples[("bots_engine_last_run_commands_failed", (("type", "crashrecovery"),))] == 0
        assert samples[("bots_engine_last_run_files", (("status", "open"), ("type", "new")))] == 0
        assert (
            samples[
                ("bots_engine_last_run_route_files", (("route", "edi_pass"), ("status", "stuck")))
            ]
            == 0
        )
        assert samples[("bots_engine_last_run_route_process_errors", (("route", "edi_csv"),))] == 1
        assert not [name for name, _ in samples if name.endswith("_total")]
        assert {label for _, labels in samples for label, _ in labels} == {
            "type",
            "status",
            "route",
        }

    def test_engine_group_gets_the_crash_time(self) -> None:
        """A run with a crash recovery adds its start time to the exit-code group."""
        registry = push.engine_run_registry(
            started_at=100.0, duration=1.0, exit_code=2, crash_recovery=True
        )
        assert registry.get_sample_value("bots_engine_last_crash_recovery_timestamp_seconds") == 100
        plain = push.engine_run_registry(started_at=100.0, duration=1.0, exit_code=2)
        assert plain.get_sample_value("bots_engine_last_crash_recovery_timestamp_seconds") is None


class TestDialect:
    def test_placeholders_and_instants(self) -> None:
        """`?`, `INSTANT(ts)` and `SINCE(?)` become each driver's own form."""
        sql = "SELECT INSTANT(ts) FROM report WHERE idta > ? AND ts >= SINCE(?)"
        assert Dialect("sqlite", "UTC").sql(sql) == (
            "SELECT ts FROM report WHERE idta > ? AND ts >= ?"
        )
        assert Dialect("mysql", "UTC").sql(sql) == (
            "SELECT UNIX_TIMESTAMP(ts) FROM report WHERE idta > %s AND ts >= FROM_UNIXTIME(%s)"
        )
        assert Dialect("postgresql", "UTC").sql(sql) == (
            "SELECT CAST(ts AS timestamptz) FROM report WHERE idta > %s AND ts >= %s"
        )

    def test_naive_times_are_in_bots_zone(self) -> None:
        """SQLite's text `ts` is local time in settings.py's TIME_ZONE, DST included."""
        amsterdam = Dialect("sqlite", "Europe/Amsterdam")
        summer = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC).timestamp()
        assert amsterdam.epoch("2026-07-01 14:00:00") == summer
        winter = dt.datetime(2026, 12, 1, 13, 15, 13, tzinfo=dt.UTC).timestamp()
        assert amsterdam.epoch("2026-12-01 14:15:13") == winter
        assert amsterdam.epoch("2026-12-01 14:15:13.500000") == winter + 0.5
        assert amsterdam.epoch(None) is None

    def test_instants_are_kept(self) -> None:
        """PostgreSQL's timestamptz arrives aware, MySQL's UNIX_TIMESTAMP as a number."""
        aware = dt.datetime(2026, 12, 1, 13, 17, 20, tzinfo=dt.UTC)
        assert Dialect("postgresql", "Europe/Paris").epoch(aware) == aware.timestamp()
        unix = Decimal("1796130028.000000")
        assert Dialect("mysql", "Europe/Paris").epoch(unix) == 1796130028.0

    def test_cutoff_in_bots_zone(self) -> None:
        """The 24 h bound is compared as Bots wrote `ts`: local text, an instant, Unix time."""
        now = dt.datetime(2026, 3, 29, 12, 0, tzinfo=dt.UTC).timestamp()  # the DST switch day
        sqlite = Dialect("sqlite", "Europe/Amsterdam")
        assert sqlite.cutoff(24 * 3600, now) == "2026-03-28 13:00:00"
        instant = Dialect("postgresql", "Europe/Amsterdam").cutoff(24 * 3600, now)
        assert instant == dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC)
        assert Dialect("mysql", "Europe/Amsterdam").cutoff(24 * 3600, now) == now - 24 * 3600

    def test_bad_values_are_read_errors(self) -> None:
        """Not a timestamp, or a zone this system lacks: a ReadError, not a crash."""
        with pytest.raises(ReadError, match="not a timestamp"):
            Dialect("sqlite", "UTC").epoch(dt.date(2026, 12, 1))
        with pytest.raises(ReadError, match="Mars/Olympus"):
            Dialect("sqlite", "Mars/Olympus").epoch("2026-12-01 10:00:00")

    def test_engines(self) -> None:
        """Both PostgreSQL engine names Bots generations use, SQLite and MySQL have a reader."""
        kinds = {
            engine: kind_of(Database(engine, "x"))
            for engine in (
                "django.db.backends.sqlite3",
                "django.db.backends.postgresql_psycopg2",
                "django.db.backends.postgresql",
                "django.db.backends.mysql",
            )
        }
        assert list(kinds.values()) == ["sqlite", "postgresql", "postgresql", "mysql"]
        with pytest.raises(ReadError, match="oracle"):
            kind_of(Database("django.db.backends.oracle", "x"))


DOC = Path(__file__).resolve().parents[2] / "docs" / "edi-metrics.md"


def test_every_pushed_metric_is_documented() -> None:
    """docs/edi-metrics.md has a row for every metric an engine run can push."""
    outcome = RunOutcome(
        (command(done=1, error=1), command("crashrecovery", stuck=1)),
        (route("edi_csv", done=1, error=1, process=1),),
    )
    registries = (
        push.outcome_registry(outcome),
        push.engine_run_registry(started_at=1, duration=1, exit_code=0, crash_recovery=True),
    )
    names = {
        family.name
        for registry in registries
        for family in text_string_to_metric_families(generate_latest(registry).decode())
    }
    table = DOC.read_text(encoding="utf-8")
    assert len(names) == 17
    assert {name for name in names if f"| `{name}` |" not in table} == set()
