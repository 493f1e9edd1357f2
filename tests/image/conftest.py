"""Fixtures: the image (built once per session on the local base), a podman driver per test."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .podman import BASE_IMAGE, CONTAINER_DIR, IMAGE, Podman, have_podman, podman_env

if TYPE_CHECKING:
    from collections.abc import Iterator


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything in this folder builds or runs the image; the first test also waits for the
    build (a cold one makes the base with debootstrap: about 1-2 minutes)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.path)).is_relative_to(here):
            item.add_marker(pytest.mark.image)
            item.add_marker(pytest.mark.timeout(900))


@pytest.fixture(scope="session", name="image")
def _image() -> str:
    """container/build-image.sh: makes the base if missing, then builds (cached layers)."""
    if not have_podman():
        pytest.fail("podman is not installed: apt-get install podman buildah debootstrap runc")
    done = subprocess.run(
        [str(CONTAINER_DIR / "build-image.sh"), IMAGE],
        env=dict(podman_env(), BOTS_BASE_IMAGE=BASE_IMAGE),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return IMAGE


@pytest.fixture(name="podman")
def _podman() -> Iterator[Podman]:
    driver = Podman(env=podman_env())
    try:
        yield driver
    finally:
        driver.cleanup()
