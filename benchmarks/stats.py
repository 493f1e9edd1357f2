"""Summaries: median with min and max over repetitions, percentiles, ratios."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Median, min and max of one metric over the repetitions, with every value kept."""

    median: float
    low: float
    high: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        """Summarise at least one value."""
        return cls(statistics.median(values), min(values), max(values), tuple(values))

    def as_dict(self) -> dict[str, object]:
        """The JSON form."""
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "n": len(self.values),
            "values": list(self.values),
        }


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` 0.99 for p99): always one of the measured values."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def ratio(value: float, reference: float | None) -> float | None:
    """`value / reference`, or None when there is nothing to divide by."""
    if reference is None or reference == 0:
        return None
    return value / reference
