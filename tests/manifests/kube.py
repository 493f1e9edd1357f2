"""Rendering and reading the Kubernetes manifests: kustomize output as plain dicts.

No cluster runs here, so every check works on what `kubectl kustomize` prints. The helpers
name the places where pods hide inside workloads (Deployment, Job, CronJob) once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
OVERLAYS = ("dev", "prod")
COMPONENTS = ("dirmonitor", "postgresql", "monitoring")
RUNTIME_PORT = 8099
RUNTIME_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
NO_SERVER = frozenset({"init-db"})
# Custom resources: kubernetes-validate has no schema for them; checked by test_custom.py.
CUSTOM_KINDS = frozenset(
    {("monitoring.coreos.com/v1", "PodMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
)

Obj = dict[str, Any]


def tool(name: str) -> str:
    """The path of a command-line tool, preferring the project's venv; fail if absent."""
    venv = REPO / ".venv" / "bin" / name
    found = str(venv) if venv.exists() else shutil.which(name)
    if not found:
        import pytest  # noqa: PLC0415 - only the test run needs it

        pytest.fail(f"{name} is not installed (see docs/deploy.md, 'Checks')")
    return found


def kustomize(directory: Path) -> list[Obj]:
    """`kubectl kustomize DIR` parsed into objects; raises with kustomize's message."""
    done = subprocess.run(
        [tool("kubectl"), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def all_components_kustomization(where: Path) -> Path:
    """A throwaway kustomization: the base with every component, so each one is checked."""
    where.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(K8S, where)
    lines = [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "namespace: bots",
        "resources:",
        f"  - {rel}/base",
        "components:",
        *(f"  - {rel}/components/{name}" for name in COMPONENTS),
        "images:",
        "  - name: bots-runtime",
        "    newName: registry.example.com/bots/bots-runtime",
        "    newTag: 0.0.0-test",
    ]
    (where / "kustomization.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return where


def pod_template(obj: Obj) -> Obj | None:
    """The pod template (metadata + spec) of a workload, or None for other kinds."""
    kind = obj.get("kind")
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
        template: Obj = obj["spec"]["template"]
        return template
    if kind == "CronJob":
        cron: Obj = obj["spec"]["jobTemplate"]["spec"]["template"]
        return cron
    return None


def workloads(objs: list[Obj]) -> list[tuple[Obj, Obj]]:
    """(workload, pod template) for every object that makes pods."""
    pairs = []
    for obj in objs:
        template = pod_template(obj)
        if template is not None:
            pairs.append((obj, template))
    return pairs


def containers(template: Obj, *, init: bool = False) -> list[Obj]:
    """The (init) containers of a pod template; init ones include sidecars."""
    key = "initContainers" if init else "containers"
    found: list[Obj] = template["spec"].get(key, [])
    return found


def is_sidecar(container: Obj) -> bool:
    """A native sidecar: an init container that keeps running (restartPolicy Always)."""
    return container.get("restartPolicy") == "Always"


def sidecars(template: Obj) -> list[Obj]:
    """The pod's sidecars, in start order (they stop in the reverse order, after the rest)."""
    return [c for c in containers(template, init=True) if is_sidecar(c)]


def one_shot_inits(template: Obj) -> list[Obj]:
    """The init containers that run to completion before anything else starts."""
    return [c for c in containers(template, init=True) if not is_sidecar(c)]


def runtimes(template: Obj) -> list[Obj]:
    """Every container whose bots-runtime serves health and metrics: sidecars first, then the
    main containers. init-db (the Job's container) runs inside the runtime and exits: no HTTP."""
    found = sidecars(template) + containers(template)
    return [c for c in found if c["args"][0] not in NO_SERVER]


def runtime_port(container: Obj) -> int:
    """The port the container's bots-runtime serves on: BOTS_RUNTIME_PORT, else the image's."""
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    return int(env.get("BOTS_RUNTIME_PORT") or RUNTIME_PORT)


def declared_ports(container: Obj) -> dict[str, int]:
    """Port name -> number of the container."""
    return {p["name"]: p["containerPort"] for p in container.get("ports", [])}


def name_of(obj: Obj) -> str:
    """`Kind/name` for messages."""
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def selects(selector: Obj | None, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects `labels`."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def by_kind(objs: list[Obj], kind: str) -> list[Obj]:
    """Every object of one kind."""
    return [o for o in objs if o.get("kind") == kind]


def one(objs: list[Obj], kind: str, name: str) -> Obj:
    """The single object of that kind and name."""
    found = [o for o in by_kind(objs, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]
