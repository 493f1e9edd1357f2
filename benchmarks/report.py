"""From raw values to the results: summaries, ratios, targets, Markdown tables and the page.

xN in a cell is that row's median divided by the reference row's median: tini for the
supervisor tables, reference-http (bare starlette + uvicorn) for /readyz, and the bare
`python -c pass` for the exec probe.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.stats import Summary, ratio

BENCH_DIR = Path(__file__).resolve().parent
FINDINGS = BENCH_DIR / "findings.md"


@dataclass(frozen=True)
class Metric:
    """A column: its label, table, and whether it is a count."""

    key: str
    label: str
    table: str
    count: bool = False


METRICS = (
    Metric("startup_ms", "exec->child (ms)", "life"),
    Metric("sigterm_to_child_ms", "SIGTERM->child (ms)", "life"),
    Metric("sigterm_to_gone_ms", "SIGTERM->sup gone (ms)", "life"),
    Metric("child_exit_to_gone_ms", "child exit->sup gone (ms)", "life"),
    Metric("rss_kib", "sup VmRSS (KiB)", "life", count=True),
    Metric("hwm_kib", "sup VmHWM (KiB)", "life", count=True),
    Metric("idle_cpu_pct", "sup idle CPU (%)", "life"),
    Metric("procs", "sup procs", "life", count=True),
    Metric("zombies_025s", "zombies @0.25s", "zombies", count=True),
    Metric("zombies_1s", "zombies @1s", "zombies", count=True),
    Metric("flood_wall_ms", "flood wall (ms)", "flood"),
    Metric("lines_per_s", "lines/s", "flood", count=True),
    Metric("lines_lost", "lines lost", "flood", count=True),
    Metric("lines_mangled", "lines mangled", "flood", count=True),
    Metric("flood_cpu_ms", "sup CPU in flood (ms)", "flood"),
    Metric("readyz_p50_ms", "p50 new conn (ms)", "readyz"),
    Metric("readyz_p99_ms", "p99 new conn (ms)", "readyz"),
    Metric("readyz_cpu_ms", "server CPU/probe (ms)", "readyz"),
    Metric("readyz_rps_c10", "req/s, wrk -c10", "readyz", count=True),
    Metric("readyz_flood_p99_ms", "p99 under flood (ms)", "readyz"),
    Metric("readyz_flood_probes", "probes under flood", "readyz", count=True),
    Metric("exec_wall_ms", "wall p50 (ms)", "exec"),
    Metric("exec_cpu_ms", "CPU per probe (ms)", "exec"),
    Metric("exec_maxrss_kib", "peak RSS (KiB)", "exec", count=True),
)
TABLES = {
    "life": ("1, 2, 3: start, SIGTERM, idle memory and CPU", "tini"),
    "zombies": ("4: zombies, supervisor as PID 1 in a PID namespace", "tini"),
    "flood": ("5: relay of N lines of 100 bytes", "tini"),
    "readyz": ("6: /readyz", "reference-http"),
    "exec": (
        "7: exec probe (Bots + django.setup() + SELECT 1) against python -c pass",
        "exec-python-floor",
    ),
}
ROW_ORDER = (
    "direct",
    "tini",
    "dumb-init",
    "supervisord",
    "circus",
    "bots-runtime",
    "bots-runtime-raw",
    "bots-runtime-alt",
    "reference-http",
    "exec-probe-django",
    "exec-python-floor",
)
KIB_PER_MB = 1024

# (variant, metric, operator, target, how the target is written)
TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    ("bots-runtime", "startup_ms", "<=", 60.0, "exec to child <= 60 ms"),
    ("bots-runtime", "sigterm_to_child_ms", "<=", 0.5, "SIGTERM to child <= 0.5 ms"),
    ("bots-runtime", "child_exit_to_gone_ms", "<=", 20.0, "child exit to runtime gone <= 20 ms"),
    ("bots-runtime", "rss_kib", "<=", 32.0 * KIB_PER_MB, "idle RSS <= 32 MB (32 MiB = 32,768 KiB)"),
    ("bots-runtime", "zombies_025s", "<=", 0.0, "0 zombies at 0.25 s"),
    ("bots-runtime", "lines_per_s", ">=", 500_000.0, "relay >= 0.5 M lines/s wrapped"),
    ("bots-runtime", "lines_lost", "<=", 0.0, "0 lines lost, wrapped"),
    ("bots-runtime", "lines_mangled", "<=", 0.0, "0 lines mangled, wrapped"),
    ("bots-runtime-raw", "lines_per_s", ">=", 1_500_000.0, "relay >= 1.5 M lines/s raw"),
    ("bots-runtime-raw", "lines_lost", "<=", 0.0, "0 lines lost, raw"),
    ("bots-runtime-raw", "lines_mangled", "<=", 0.0, "0 lines mangled, raw"),
    ("bots-runtime", "readyz_cpu_ms", "<=", 0.4, "/readyz server CPU <= 0.4 ms"),
    ("bots-runtime", "readyz_p99_ms", "<=", 2.0, "/readyz p99 <= 2 ms, new connection"),
    ("bots-runtime", "readyz_rps_c10", ">=", 5000.0, "/readyz >= 5,000 req/s at 10 connections"),
    ("bots-runtime", "readyz_flood_p99_ms", "<=", 10.0, "/readyz p99 <= 10 ms under the flood"),
)
OPS = {"<=": operator.le, ">=": operator.ge}


def fmt(value: float | None, count: bool = False) -> str:
    """Numbers as in the peer baselines: thousands separators, about three significant digits."""
    if value is None:
        return "-"
    size = abs(value)
    if value == 0:
        return "0"
    if count or size >= 1000:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 0.01:
        return f"{value:.2f}"
    return f"{value:.3f}"


def summarise(doc: dict[str, Any]) -> dict[str, Any]:
    """Add `summary`, `targets` and `probe_cost` to the document (in place) and return it."""
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for variant, metrics in doc["values"].items():
        summary[variant] = {k: Summary.of(v).as_dict() for k, v in metrics.items() if v}
    for metric in METRICS:
        reference = TABLES[metric.table][1]
        ref = summary.get(reference, {}).get(metric.key, {}).get("median")
        for variant, row in summary.items():
            if metric.key in row and variant != reference:
                row[metric.key]["ratio"] = ratio(row[metric.key]["median"], ref)
                row[metric.key]["ratio_to"] = reference
    doc["summary"] = summary
    doc["targets"] = [_target(summary, *t) for t in TARGETS]
    doc["probe_cost"] = _probe_cost(summary)
    return doc


def _target(
    summary: dict[str, Any], variant: str, metric: str, op: str, target: float, text: str
) -> dict[str, Any]:
    median = summary.get(variant, {}).get(metric, {}).get("median")
    met = None if median is None else bool(OPS[op](median, target))
    return {
        "variant": variant,
        "metric": metric,
        "op": op,
        "target": target,
        "text": text,
        "median": median,
        "met": met,
    }


def _probe_cost(summary: dict[str, Any]) -> dict[str, float | None]:
    def med(variant: str, metric: str) -> float | None:
        value = summary.get(variant, {}).get(metric, {}).get("median")
        return None if value is None else float(value)

    exec_wall, exec_cpu = (
        med("exec-probe-django", "exec_wall_ms"),
        med("exec-probe-django", "exec_cpu_ms"),
    )
    http_wall, http_cpu = med("bots-runtime", "readyz_p50_ms"), med("bots-runtime", "readyz_cpu_ms")
    return {
        "exec_wall_ms": exec_wall,
        "exec_cpu_ms": exec_cpu,
        "http_wall_ms": http_wall,
        "http_cpu_ms": http_cpu,
        "wall_ratio": None if exec_wall is None else ratio(exec_wall, http_wall),
        "cpu_ratio": None if exec_cpu is None else ratio(exec_cpu, http_cpu),
        "exec_core_pct_at_10s": None if exec_cpu is None else exec_cpu / 10_000 * 100,
        "http_core_pct_at_10s": None if http_cpu is None else http_cpu / 10_000 * 100,
    }


def _cell(entry: dict[str, Any] | None, count: bool) -> str:
    if entry is None:
        return "-"
    text = f"{fmt(entry['median'], count)} [{fmt(entry['min'], count)}-{fmt(entry['max'], count)}]"
    if entry.get("ratio") is not None:
        text += f" x{entry['ratio']:.1f}"
    return text


def tables(doc: dict[str, Any]) -> str:
    """The Markdown tables, one per bench."""
    summary = doc["summary"]
    reps = doc["meta"]["sizes"]["reps"]
    out: list[str] = []
    for table, (title, reference) in TABLES.items():
        metrics = [m for m in METRICS if m.table == table]
        rows = [r for r in ROW_ORDER if any(m.key in summary.get(r, {}) for m in metrics)]
        if not rows:
            continue
        out += [
            f"### {title}",
            "",
            f"Median [min-max] over {reps} rep(s); xN = median / {reference}'s.",
            "",
        ]
        out.append("| row | " + " | ".join(m.label for m in metrics) + " |")
        out.append("|---|" + "---|" * len(metrics))
        for row in rows:
            cells = [_cell(summary[row].get(m.key), m.count) for m in metrics]
            out.append(f"| {row} | " + " | ".join(cells) + " |")
        out.append("")
    cost = doc["probe_cost"]
    if cost["wall_ratio"] is not None or cost["cpu_ratio"] is not None:
        c = {k: fmt(v) for k, v in cost.items()}
        out += [
            (
                "**Probe cost:** one exec probe (Bots init + django.setup() + SELECT 1) takes "
                f"{c['exec_wall_ms']} ms wall and {c['exec_cpu_ms']} ms CPU; one bots-runtime "
                f"/readyz on a new connection takes {c['http_wall_ms']} ms wall and "
                f"{c['http_cpu_ms']} ms server CPU: **x{c['wall_ratio']} the wall time and "
                f"x{c['cpu_ratio']} the CPU**. At periodSeconds 10 the exec probe keeps "
                f"{c['exec_core_pct_at_10s']} % of a core busy per probe type and pod; the HTTP "
                f"probe {c['http_core_pct_at_10s']} %."
            ),
            "",
        ]
    return "\n".join(out)


def targets_table(doc: dict[str, Any]) -> str:
    """Target, measured median, met or missed and by how much."""
    out = ["| target | row | measured (median) | result |", "|---|---|---|---|"]
    for t in doc["targets"]:
        count = t["metric"] in {
            "rss_kib",
            "lines_per_s",
            "readyz_rps_c10",
            "lines_lost",
            "lines_mangled",
            "zombies_025s",
        }
        if t["met"] is None:
            verdict = "not measured"
        elif t["met"]:
            verdict = "met"
        else:
            verdict = f"**missed** by {fmt(abs(t['median'] - t['target']), count)} ({_miss_pct(t)})"
        out.append(f"| {t['text']} | {t['variant']} | {fmt(t['median'], count)} | {verdict} |")
    return "\n".join(out)


def _miss_pct(t: dict[str, Any]) -> str:
    if t["target"] == 0:
        return "target 0"
    return f"x{t['median'] / t['target']:.2f} of the target"


def variants_table(doc: dict[str, Any]) -> str:
    """What ran: versions, sources, configurations, and what was skipped."""
    out = ["| row | version | source | configuration |", "|---|---|---|---|"]
    for name, v in doc["variants"].items():
        state = "" if v["available"] else f" (skipped: {v['reason']})"
        out.append(f"| {name} | {v['version']} | {v['source']} | {v['config']}{state} |")
    return "\n".join(out)


def page(doc: dict[str, Any], chart: str | None) -> str:
    """The results page: what ran, targets, tables, chart, failures, then the findings."""
    meta = doc["meta"]
    sizes = meta["sizes"]
    smoke = " --smoke" if meta["mode"] == "smoke" else ""
    parts = [
        "# bots-runtime benchmark results",
        "",
        (
            f"Generated by `python -m benchmarks run{smoke}` on {meta['started']} "
            f"({meta['mode']} mode, {meta['duration_s']} s, git "
            f"{meta['git']}); Python {meta['python']}, Linux {meta['kernel']}, "
            f"{meta['cpus']} CPUs. "
            f"Sizes: {sizes['reps']} reps, {sizes['lines']:,} flood lines, {sizes['orphans']} "
            f"orphans, {sizes['probes']:,} probes, wrk {sizes['wrk_s']:g} s, idle window "
            f"{sizes['idle_s']:g} s, {sizes['exec_runs']} exec-probe runs per rep. "
            "Method: [docs/benchmarks.md](../../docs/benchmarks.md)."
        ),
        "",
        "## Targets (bots-runtime, same run)",
        "",
        targets_table(doc),
        "",
        "## Results",
        "",
    ]
    if chart:
        parts += [f"![medians with min-max]({chart})", ""]
    parts += [tables(doc), "## What ran", "", variants_table(doc), ""]
    if doc["skipped"]:
        parts += ["Skipped: " + "; ".join(f"{k}: {v}" for k, v in doc["skipped"].items()), ""]
    if doc["errors"]:
        parts += ["## Failed measurements", ""]
        for name, errs in doc["errors"].items():
            parts += [
                f"- {name}: "
                + errs[0].splitlines()[0]
                + (f" (and {len(errs) - 1} more)" if len(errs) > 1 else "")
            ]
        parts.append("")
    if FINDINGS.exists():
        parts += [FINDINGS.read_text().rstrip(), ""]
    return "\n".join(parts)
