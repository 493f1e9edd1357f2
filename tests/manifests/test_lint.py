"""Static linters: yamllint on k8s/, hadolint on the Dockerfile (nothing above info)."""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

from . import kube

if TYPE_CHECKING:
    from pathlib import Path


def test_yamllint_passes() -> None:
    """Every YAML file under k8s/ passes yamllint --strict with k8s/yamllint.yaml."""
    done = subprocess.run(
        [
            kube.tool("yamllint"),
            "--strict",
            "-f",
            "parsable",
            "-c",
            str(kube.K8S / "yamllint.yaml"),
            str(kube.K8S),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_yamllint_config_catches_problems(tmp_path: Path) -> None:
    """The same configuration rejects a duplicated key and a yes/no boolean."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\na: 2\nb: yes\n", encoding="utf-8")
    done = subprocess.run(
        [kube.tool("yamllint"), "--strict", "-c", str(kube.K8S / "yamllint.yaml"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "key-duplicates" in done.stdout
    assert "truthy" in done.stdout


def test_hadolint_reports_nothing_above_info() -> None:
    """hadolint finds no error, warning or style issue in container/Dockerfile."""
    done = subprocess.run(
        [kube.tool("hadolint"), "--format", "json", str(kube.REPO / "container" / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(done.stdout or "[]")
    serious = [f for f in findings if f["level"] != "info"]
    assert serious == [], serious


def test_hadolint_check_can_fail(tmp_path: Path) -> None:
    """The same parsing sees hadolint's warnings on a careless Dockerfile."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install curl\nRUN cd /tmp\n", encoding="utf-8")
    done = subprocess.run(
        [kube.tool("hadolint"), "--format", "json", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    levels = {f["level"] for f in json.loads(done.stdout)}
    assert levels & {"error", "warning"}
