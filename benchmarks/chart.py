"""Draw the PNG chart from a results JSON: medians as bars, min-max as whiskers, targets dashed.

Runs under the bench-tools venv (benchmarks/.venv-peers, which has matplotlib), so the
project's own environment does not need matplotlib: `python chart.py RESULTS.json OUT.png`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PANELS = (
    ("startup_ms", "exec -> child's first statement (ms, log)", True, 1.0),
    ("sigterm_to_child_ms", "SIGTERM -> child's handler (ms, log)", True, 1.0),
    ("child_exit_to_gone_ms", "child exit -> supervisor gone (ms, log)", True, 1.0),
    ("rss_kib", "supervisor idle VmRSS (MiB)", False, 1 / 1024),
    ("lines_per_s", "relay of 100-byte lines (M lines/s)", False, 1e-6),
    ("flood_cpu_ms", "supervisor CPU per flood (ms)", False, 1.0),
    ("readyz_p99_ms", "/readyz p99, new connection (ms)", False, 1.0),
    ("readyz_rps_c10", "/readyz req/s, wrk -c10 (k)", False, 1e-3),
    ("zombies_025s", "zombies 0.25 s after orphans exit", False, 1.0),
)
ORDER = (
    "direct",
    "tini",
    "dumb-init",
    "supervisord",
    "circus",
    "bots-runtime",
    "bots-runtime-raw",
    "bots-runtime-alt",
    "reference-http",
)


def draw(doc: dict[str, Any], out: Path) -> None:
    """Write the chart to `out`."""
    import matplotlib as mpl  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

    summary = doc["summary"]
    targets = {(t["variant"], t["metric"]): t["target"] for t in doc["targets"]}
    fig, axes = plt.subplots(3, 3, figsize=(16, 11))
    for ax, (metric, title, log, scale) in zip(axes.flat, PANELS, strict=True):
        rows = [r for r in ORDER if metric in summary.get(r, {})]
        meds = [summary[r][metric]["median"] * scale for r in rows]
        lows = [summary[r][metric]["min"] * scale for r in rows]
        highs = [summary[r][metric]["max"] * scale for r in rows]
        colours = ["tab:red" if r.startswith("bots-runtime") else "tab:blue" for r in rows]
        err = [
            [m - lo for m, lo in zip(meds, lows, strict=True)],
            [h - m for m, h in zip(meds, highs, strict=True)],
        ]
        ax.barh(rows, meds, xerr=err, color=colours, capsize=3)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        if not rows:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        elif log and all(m > 0 for m in meds):
            ax.set_xscale("log")
        for variant in ("bots-runtime", "bots-runtime-raw"):
            target = targets.get((variant, metric))
            if target is not None and variant in rows:
                ax.axvline(target * scale, color="tab:red", linestyle="--", linewidth=1)
        for y, (m, h) in enumerate(zip(meds, highs, strict=True)):
            ax.text(h, y, f"  {m:,.3g}", va="center", fontsize=8)
    meta = doc["meta"]
    fig.suptitle(
        f"bots-runtime vs peers, {meta['mode']} run {meta['started']}: median, whiskers min-max, "
        "dashed = bots-runtime target",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
