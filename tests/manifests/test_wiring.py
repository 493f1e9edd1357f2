"""What no schema sees: selectors that select, probes on the runtime's port, grace periods that
cover the runtime's stop budget, the restricted security profile, and bots-runtime everywhere."""

from __future__ import annotations

import pytest

from . import kube

ALL = [*kube.OVERLAYS, "all-components"]
SERVICES = ("webserver", "jobqueueserver", "dirmonitor", "engine", "init-db")
# init-db runs inside the runtime process and exits: no child, no HTTP server, no probes.
SERVED = ("webserver", "jobqueueserver", "dirmonitor", "engine")
# drain + stop timeout of each service with default settings (bots-runtime check SERVICE
# prints them; test_config.py compares them with the real runtime).
BUDGET = {"webserver": 5 + 20, "jobqueueserver": 0 + 10, "dirmonitor": 0 + 10, "engine": 0 + 25}


def _service_of(container: kube.Obj) -> str:
    return str(container["args"][0])


def pods(objs: list[kube.Obj]) -> list[tuple[kube.Obj, kube.Obj, dict[str, str]]]:
    """(workload, pod template, pod labels) for every pod maker."""
    return [(w, t, t["metadata"].get("labels", {})) for w, t in kube.workloads(objs)]


@pytest.mark.parametrize("overlay", ALL)
def test_workload_selectors_match_their_pods(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """Each Deployment's selector selects its own pod template's labels."""
    for workload, _template, labels in pods(rendered[overlay]):
        if workload["kind"] == "Deployment":
            assert kube.selects(workload["spec"]["selector"], labels), kube.name_of(workload)


@pytest.mark.parametrize("overlay", ALL)
def test_services_reach_pods_on_declared_ports(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """A Service selects at least one pod template, and every targetPort is a declared port."""
    objs = rendered[overlay]
    for service in kube.by_kind(objs, "Service"):
        selector = {"matchLabels": service["spec"]["selector"]}
        targets = [t for _, t, labels in pods(objs) if kube.selects(selector, labels)]
        assert targets, kube.name_of(service)
        for template in targets:
            ports = {
                p["name"]: p["containerPort"]
                for c in kube.containers(template)
                for p in c.get("ports", [])
            }
            for port in service["spec"]["ports"]:
                target = port["targetPort"]
                assert target in ports or target in ports.values(), (kube.name_of(service), target)


@pytest.mark.parametrize("overlay", ALL)
def test_disruption_budget_and_policies_select_pods(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """The PDB covers the web pods; every NetworkPolicy and PodMonitor selects some pod."""
    objs = rendered[overlay]
    labels = [lab for _, _, lab in pods(objs)]
    (pdb,) = kube.by_kind(objs, "PodDisruptionBudget")
    selected = [lab for lab in labels if kube.selects(pdb["spec"]["selector"], lab)]
    assert selected
    assert all(lab["app.kubernetes.io/component"] == "webserver" for lab in selected)
    for policy in kube.by_kind(objs, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"]
        assert selector == {} or any(kube.selects(selector, lab) for lab in labels), policy
    served = [lab for lab in labels if lab["app.kubernetes.io/component"] in SERVED]
    for monitor in kube.by_kind(objs, "PodMonitor"):
        matched = [t for _, t, lab in pods(objs) if kube.selects(monitor["spec"]["selector"], lab)]
        assert len(matched) == len(served)
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            for template in matched:
                names = {
                    p["name"]: p["containerPort"]
                    for c in kube.containers(template)
                    for p in c.get("ports", [])
                }
                assert names.get(endpoint["port"]) == kube.RUNTIME_PORT
            assert endpoint["path"] == "/metrics"


@pytest.mark.parametrize("overlay", ALL)
def test_every_probe_is_http_on_the_runtime_port(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """startup, liveness and readiness probes: httpGet on a named port declared as 8099, on a
    runtime endpoint; no exec or tcpSocket probes. init-db (no HTTP server) has none at all,
    so a slow schema creation is never killed by a probe."""
    checked = 0
    for workload, template, _ in pods(rendered[overlay]):
        for container in kube.containers(template):
            if _service_of(container) not in SERVED:
                assert not {"startupProbe", "livenessProbe", "readinessProbe"} & set(container)
                assert "ports" not in container
                continue
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = container.get(kind)
                where = (kube.name_of(workload), container["name"], kind)
                assert probe is not None, where
                assert set(probe) & {"exec", "tcpSocket", "grpc"} == set(), where
                port = probe["httpGet"]["port"]
                assert ports.get(port) == kube.RUNTIME_PORT, where
                assert probe["httpGet"]["path"] in kube.RUNTIME_PATHS, where
                checked += 1
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for container in kube.containers(template, init=True):
            assert not {"startupProbe", "livenessProbe", "readinessProbe"} & set(container)
    assert checked >= 12


@pytest.mark.parametrize("overlay", ALL)
def test_every_container_runs_bots_runtime(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """The image's ENTRYPOINT (bots-runtime) is never overridden; the first argument names a
    Bots service (or `run` for a one-line preparation step in an init container)."""
    objs = rendered[overlay]
    images = set()
    for workload, template, labels in pods(objs):
        component = labels["app.kubernetes.io/component"]
        for container in kube.containers(template):
            assert "command" not in container, kube.name_of(workload)
            assert _service_of(container) == component == container["name"]
            assert _service_of(container) in SERVICES
            images.add(container["image"])
        for container in kube.containers(template, init=True):
            assert "command" not in container, kube.name_of(workload)
            assert _service_of(container) in {"init-db", "run"}
            images.add(container["image"])
    assert len(images) == 1, images


@pytest.mark.parametrize("overlay", ALL)
def test_grace_period_covers_the_stop_budget(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """terminationGracePeriodSeconds exceeds the runtime's drain + stop timeout, with at least
    5 s to spare for the runtime's own SIGKILL step and exit."""
    for workload, template, _ in pods(rendered[overlay]):
        (container,) = kube.containers(template)
        service = _service_of(container)
        grace = template["spec"]["terminationGracePeriodSeconds"]
        budget = BUDGET.get(service, 0)
        assert grace >= budget + 5, (kube.name_of(workload), grace, budget)


@pytest.mark.parametrize("overlay", ALL)
def test_pods_meet_the_restricted_profile(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """Non-root uid 10001, RuntimeDefault seccomp, no service-account token, read-only root,
    no privilege escalation, every capability dropped; /tmp is the only extra writable path."""
    for workload, template, _ in pods(rendered[overlay]):
        spec = template["spec"]
        where = kube.name_of(workload)
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] == 10001, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert "hostNetwork" not in spec, where
        assert "hostPID" not in spec, where
        for container in kube.containers(template) + kube.containers(template, init=True):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in context["capabilities"], where
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert "/tmp" in mounts, where
            assert "/var/lib/bots" in mounts, where
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"], where
        assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "bots-data", where


@pytest.mark.parametrize("overlay", ALL)
def test_bots_config_comes_from_the_configmap(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """A generated ConfigMap (bots.ini, settings.py, __init__.py) is the config folder, mounted
    read-only inside the data volume, where Bots finds usersys next to it. The jobqueueserver
    and dirmonitor get the variant with the job queue enabled; everything else the default."""
    objs = rendered[overlay]
    names = {}
    for configmap in kube.by_kind(objs, "ConfigMap"):
        name = configmap["metadata"]["name"]
        if name.startswith("bots-config-"):
            assert set(configmap["data"]) == {"__init__.py", "bots.ini", "settings.py"}
            names[name.rsplit("-", 1)[0]] = name
    assert set(names) == {"bots-config", "bots-config-jobqueue"}
    for workload, template, labels in pods(objs):
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        queue = labels["app.kubernetes.io/component"] in {"jobqueueserver", "dirmonitor"}
        wanted = names["bots-config-jobqueue" if queue else "bots-config"]
        assert volumes["config"]["configMap"]["name"] == wanted, kube.name_of(workload)
        for container in kube.containers(template) + kube.containers(template, init=True):
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            mount = mounts["/var/lib/bots/config"]
            assert (mount["name"], mount["readOnly"], mount.get("subPath")) == (
                "config",
                True,
                None,
            )
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if container["args"][0] != "run":
                assert env["BOTS_CONFIG_DIR"] == "/var/lib/bots/config", kube.name_of(workload)


def test_monitoring_wires_the_pushgateway_for_engine_runs(
    rendered: dict[str, list[kube.Obj]],
) -> None:
    """prod: engine runs push to the Pushgateway, may reach it, and every pod with a metrics
    port is annotated for scraping (init-db is not)."""
    objs = rendered["prod"]
    engine = kube.one(objs, "CronJob", "bots-engine")
    template = kube.pod_template(engine)
    assert template is not None
    (container,) = kube.containers(template)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["BOTS_RUNTIME_PUSHGATEWAY"].startswith("http://")
    policy = kube.one(objs, "NetworkPolicy", "bots-pushgateway-egress")
    assert kube.selects(policy["spec"]["podSelector"], template["metadata"]["labels"])
    assert policy["spec"]["egress"][0]["ports"][0]["port"] == 9091
    for _, pod, labels in pods(objs):
        annotations = pod["metadata"].get("annotations", {})
        if labels["app.kubernetes.io/component"] in SERVED:
            assert annotations["prometheus.io/port"] == str(kube.RUNTIME_PORT)
        else:
            assert "prometheus.io/scrape" not in annotations


def test_config_variants_differ_only_in_the_job_queue() -> None:
    """config-jobqueue/bots.ini is config/bots.ini with [jobqueue] enabled = True, nothing else."""
    import configparser  # noqa: PLC0415

    parsed = []
    for folder in ("config", "config-jobqueue"):
        ini = configparser.RawConfigParser()
        ini.read(kube.K8S / "base" / folder / "bots.ini", encoding="utf-8")
        parsed.append({s: dict(ini.items(s)) for s in ini.sections()})
    default, queue = parsed
    assert default["jobqueue"].pop("enabled") == "False"
    assert queue["jobqueue"].pop("enabled") == "True"
    assert default == queue
