"""Fixtures: each overlay rendered once per session, plus the base with every component."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import kube


@pytest.fixture(scope="session", name="rendered")
def _rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[kube.Obj]]:
    out = {name: kube.kustomize(kube.K8S / "overlays" / name) for name in kube.OVERLAYS}
    where: Path = tmp_path_factory.mktemp("all-components")
    out["all-components"] = kube.kustomize(kube.all_components_kustomization(where / "k"))
    return out


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything in this folder is a manifest check."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.path)).is_relative_to(here):
            item.add_marker(pytest.mark.manifests)
