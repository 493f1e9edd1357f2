"""Every overlay renders, and holds the objects the deployment is built from."""

from __future__ import annotations

import pytest

from . import kube

BASE_OBJECTS = {
    ("Namespace", None),
    ("ConfigMap", "bots-config"),
    ("PersistentVolumeClaim", "bots-data"),
    ("Job", "bots-init-db"),
    ("Deployment", "bots-webserver"),
    ("Service", "bots-webserver"),
    ("PodDisruptionBudget", "bots-webserver"),
    ("Deployment", "bots-dirmonitor"),
    ("CronJob", "bots-engine"),
    ("NetworkPolicy", "bots-default"),
}


def _has(objs: list[kube.Obj], kind: str, name: str | None) -> bool:
    return any(
        o["kind"] == kind and (name is None or o["metadata"]["name"].startswith(name)) for o in objs
    )


@pytest.mark.parametrize("overlay", [*kube.OVERLAYS, "all-components"])
def test_overlay_holds_every_base_object(rendered: dict[str, list[kube.Obj]], overlay: str) -> None:
    """Each overlay keeps the whole base: namespace, config, volume, init Job, services, engine."""
    objs = rendered[overlay]
    missing = [(k, n) for k, n in BASE_OBJECTS if not _has(objs, k, n)]
    assert missing == []


def test_namespaces_per_overlay(rendered: dict[str, list[kube.Obj]]) -> None:
    """dev lives in bots-dev, prod in bots; every namespaced object is in that namespace."""
    for overlay, namespace in (("dev", "bots-dev"), ("prod", "bots")):
        objs = rendered[overlay]
        assert [o["metadata"]["name"] for o in kube.by_kind(objs, "Namespace")] == [namespace]
        stray = [
            kube.name_of(o)
            for o in objs
            if o["kind"] != "Namespace" and o["metadata"].get("namespace") != namespace
        ]
        assert stray == []


def test_namespace_enforces_restricted_pod_security(rendered: dict[str, list[kube.Obj]]) -> None:
    """The namespace asks the API server to reject pods that break the restricted profile."""
    for overlay in kube.OVERLAYS:
        (namespace,) = kube.by_kind(rendered[overlay], "Namespace")
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_dirmonitor_is_optional(rendered: dict[str, list[kube.Obj]]) -> None:
    """The dirmonitor runs only with its component: one replica in dev, scaled to zero in prod."""
    assert kube.one(rendered["dev"], "Deployment", "bots-dirmonitor")["spec"]["replicas"] == 1
    assert kube.one(rendered["prod"], "Deployment", "bots-dirmonitor")["spec"]["replicas"] == 0


@pytest.mark.parametrize(
    ("overlay", "image"),
    [
        ("dev", "localhost/bots-runtime:dev"),
        ("prod", "registry.example.com/bots/bots-runtime:0.1.0"),
    ],
)
def test_overlay_sets_the_image_everywhere(
    rendered: dict[str, list[kube.Obj]], overlay: str, image: str
) -> None:
    """Every container and init container of the overlay runs the overlay's image."""
    images = {
        c["image"]
        for _, template in kube.workloads(rendered[overlay])
        for c in kube.containers(template) + kube.containers(template, init=True)
    }
    assert images == {image}


def test_webserver_rolls_without_losing_capacity(rendered: dict[str, list[kube.Obj]]) -> None:
    """prod runs 3 web replicas and replaces them one extra pod at a time (maxUnavailable 0)."""
    web = kube.one(rendered["prod"], "Deployment", "bots-webserver")
    assert web["spec"]["replicas"] == 3
    assert web["spec"]["strategy"]["type"] == "RollingUpdate"
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert kube.one(rendered["dev"], "Deployment", "bots-webserver")["spec"]["replicas"] == 1


def test_single_instance_services_recreate(rendered: dict[str, list[kube.Obj]]) -> None:
    """The dirmonitor pod (dirmonitor and its job queue) never runs twice: one replica,
    Recreate; no other Deployment runs a job queue."""
    deployment = kube.one(rendered["all-components"], "Deployment", "bots-dirmonitor")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    names = {d["metadata"]["name"] for d in kube.by_kind(rendered["all-components"], "Deployment")}
    assert names == {"bots-webserver", "bots-dirmonitor"}


def test_engine_cronjob_schedule(rendered: dict[str, list[kube.Obj]]) -> None:
    """Every 5 minutes, never overlapping, with a start deadline, history limits and a backoff."""
    spec = kube.one(rendered["prod"], "CronJob", "bots-engine")["spec"]
    assert spec["schedule"] == "*/5 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] < 300
    assert spec["successfulJobsHistoryLimit"] >= 1
    assert spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 0
    fail_codes = {
        code
        for rule in job["podFailurePolicy"]["rules"]
        if rule["action"] == "FailJob"
        for code in rule["onExitCodes"]["values"]
    }
    # run had errors; engine lock held; Bots 4.0's engine stopped by SIGINT (its clean stop)
    assert {2, 75, 130} <= fail_codes


def test_volume_is_shared(rendered: dict[str, list[kube.Obj]]) -> None:
    """prod's data volume is ReadWriteMany (pods on several nodes); dev's is ReadWriteOnce."""
    prod = kube.one(rendered["prod"], "PersistentVolumeClaim", "bots-data")
    assert prod["spec"]["accessModes"] == ["ReadWriteMany"]
    dev = kube.one(rendered["dev"], "PersistentVolumeClaim", "bots-data")
    assert dev["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_resources_follow_the_design(rendered: dict[str, list[kube.Obj]]) -> None:
    """Engine up to 2Gi, webserver 512Mi; every container has requests and limits."""
    objs = rendered["all-components"]
    limits = {}
    for _, template in kube.workloads(objs):
        for container in kube.containers(template) + kube.containers(template, init=True):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), container["name"]
            assert {"cpu", "memory"} <= set(resources["limits"]), container["name"]
            limits[container["name"]] = resources["limits"]["memory"]
    assert limits["engine"] == "2Gi"
    assert limits["webserver"] == "512Mi"


def test_prod_reads_postgresql_from_a_secret_it_does_not_contain(
    rendered: dict[str, list[kube.Obj]],
) -> None:
    """prod: every Bots container uses PostgreSQL, env from Secret bots-db; no Secret shipped."""
    objs = rendered["prod"]
    assert kube.by_kind(objs, "Secret") == []
    checked = 0
    for _, template in kube.workloads(objs):
        for container in kube.containers(template) + kube.containers(template, init=True):
            if container["args"][0] == "run":
                continue
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert env.get("BOTS_DB_ENGINE") == "postgresql", container["name"]
            refs = [e["secretRef"]["name"] for e in container.get("envFrom", [])]
            assert refs == ["bots-db"], container["name"]
            checked += 1
    assert checked >= 5


def test_dev_uses_sqlite(rendered: dict[str, list[kube.Obj]]) -> None:
    """dev keeps SQLite: no container asks for PostgreSQL or a Secret."""
    for _, template in kube.workloads(rendered["dev"]):
        for container in kube.containers(template) + kube.containers(template, init=True):
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert "BOTS_DB_ENGINE" not in env
            assert "envFrom" not in container
