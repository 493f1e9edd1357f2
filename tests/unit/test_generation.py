"""The Bots generation table: one lookup by version, newest rules for an unknown one."""

from __future__ import annotations

import pytest

from bots_runtime.bots import generation as generations


@pytest.mark.parametrize(
    ("version", "name"),
    [("3.3.1", "3"), ("3.2.0", "3"), ("4.0.0a3", "4"), ("4.1", "4"), ("4", "4")],
)
def test_known_versions(version: str, name: str) -> None:
    """A version of a known major gets that generation and no warning."""
    generation, warning = generations.for_version(version)
    assert generation.name == name
    assert warning is None


@pytest.mark.parametrize("version", ["5.0.0", "10.2", "2.4.0", "", "dev"])
def test_unknown_versions_get_the_newest_rules_and_one_warning(version: str) -> None:
    """Never a refusal: the newest rules, and one warning naming the version."""
    generation, warning = generations.for_version(version)
    assert generation is generations.NEWEST
    assert warning is not None
    assert f"Bots version {version or 'unknown'} is not one bots-runtime knows" in warning
    assert "\n" not in warning


def test_every_generation_covers_every_service() -> None:
    """Each generation has rules for the four Bots programs and accepts SQLite."""
    from bots_runtime.bots import SERVICES  # noqa: PLC0415

    for generation in generations.GENERATIONS:
        assert set(generation.services) == set(SERVICES)
        assert generations.SQLITE in generation.databases
        for rule in generation.databases.values():
            assert rule.kind in generations.PROBE_DRIVERS


def test_stop_plans_fit_the_pod_grace_period() -> None:
    """Every default budget (drain + stop timeout) stays within Kubernetes' 30 s."""
    for generation in generations.GENERATIONS:
        for rules in generation.services.values():
            assert rules.stop.budget <= 25.0
            assert rules.stop.steps
