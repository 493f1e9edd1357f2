"""checkov passes on every rendered overlay and on the Dockerfile, with only the skips written
(with reasons) in k8s/checkov.yaml and container/checkov.yaml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from . import kube


def checkov() -> str:
    """checkov from $CHECKOV, PATH, the project venv, or its own venv under .cache."""
    for candidate in (
        os.environ.get("CHECKOV"),
        shutil.which("checkov"),
        str(kube.REPO / ".venv" / "bin" / "checkov"),
        str(kube.REPO / ".cache" / "checkov" / "bin" / "checkov"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail(
        "checkov not found: python3 -m venv .cache/checkov && "
        ".cache/checkov/bin/pip install checkov"
    )


def run_checkov(config: Path, *target: str) -> list[dict[str, Any]]:
    """checkov's JSON report (one entry per framework), offline."""
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="true")
    done = subprocess.run(
        [checkov(), "--config-file", str(config), "-o", "json", *target],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    report = json.loads(done.stdout)
    return report if isinstance(report, list) else [report]


def failures(report: list[dict[str, Any]]) -> list[str]:
    """`CHECK resource file` for every failed check."""
    return [
        f"{c['check_id']} {c['resource']} {c['file_path']}"
        for framework in report
        for c in framework.get("results", {}).get("failed_checks", [])
    ]


@pytest.fixture(scope="module", name="rendered_dir")
def _rendered_dir(
    rendered: dict[str, list[kube.Obj]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    import yaml  # noqa: PLC0415

    where = tmp_path_factory.mktemp("rendered")
    for name, objs in rendered.items():
        (where / f"{name}.yaml").write_text(yaml.safe_dump_all(objs), encoding="utf-8")
    return where


def test_manifests_pass_checkov(rendered_dir: Path) -> None:
    """No failed check on dev, prod or the base with every component."""
    report = run_checkov(kube.K8S / "checkov.yaml", "-d", str(rendered_dir))
    assert sum(r["summary"]["passed"] for r in report) > 100
    assert sum(r["summary"]["resource_count"] for r in report) >= 30
    assert failures(report) == []


def test_dockerfile_passes_checkov() -> None:
    """No failed check on container/Dockerfile."""
    report = run_checkov(
        kube.REPO / "container" / "checkov.yaml", "-f", str(kube.REPO / "container" / "Dockerfile")
    )
    assert sum(r["summary"]["passed"] for r in report) > 20
    assert failures(report) == []


def test_checkov_fails_a_weakened_deployment(
    rendered: dict[str, list[kube.Obj]], tmp_path: Path
) -> None:
    """The same configuration fails a web pod that runs as root with a writable root fs."""
    import yaml  # noqa: PLC0415

    web = json.loads(json.dumps(kube.one(rendered["prod"], "Deployment", "bots-webserver")))
    pod = web["spec"]["template"]["spec"]
    del pod["securityContext"]["runAsNonRoot"]
    pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    (tmp_path / "weak.yaml").write_text(yaml.safe_dump(web), encoding="utf-8")
    failed = {
        f.split()[0] for f in failures(run_checkov(kube.K8S / "checkov.yaml", "-d", str(tmp_path)))
    }
    assert "CKV_K8S_22" in failed  # read-only root filesystem
