from collections.abc import Callable

import pytest

from bots_runtime.core import backoff
from bots_runtime.core.spec import RestartSpec


def fixed(value: float) -> Callable[[float, float], float]:
    return lambda low, high: low + (high - low) * value


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (6, 16.0), (7, 30.0), (50, 30.0), (10_000, 30.0)],
)
def test_exponential_growth_with_cap(attempt: int, expected: float) -> None:
    """Without jitter the delay doubles from 0.5 s and stops at the cap."""
    assert backoff.delay(attempt, RestartSpec(), fixed(0.5)) == pytest.approx(expected)


def test_jitter_stays_within_bounds_and_cap() -> None:
    spec = RestartSpec(jitter=0.2)
    assert backoff.delay(3, spec, fixed(0.0)) == pytest.approx(1.6)
    assert backoff.delay(3, spec, fixed(1.0)) == pytest.approx(2.4)
    assert backoff.delay(40, spec, fixed(1.0)) == pytest.approx(30.0)


def test_attempt_zero_is_rejected() -> None:
    with pytest.raises(ValueError):
        backoff.delay(0, RestartSpec(), fixed(0.5))
