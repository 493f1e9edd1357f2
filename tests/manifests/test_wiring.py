"""What no schema sees: selectors that select, probes on each runtime's own port, grace periods
that cover the stop budgets, the job queue in the pod of its feeder, the restricted security
profile, and bots-runtime everywhere."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from . import kube

if TYPE_CHECKING:
    from collections.abc import Mapping

ALL = [*kube.OVERLAYS, "all-components"]
SERVICES = ("webserver", "jobqueueserver", "dirmonitor", "engine", "init-db")
# init-db runs inside the runtime process and exits: no child, no HTTP server, no probes.
SERVED = ("webserver", "jobqueueserver", "dirmonitor", "engine")
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
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
    served = [t for _, t, _ in pods(objs) if kube.runtimes(t)]
    for monitor in kube.by_kind(objs, "PodMonitor"):
        matched = [t for _, t, lab in pods(objs) if kube.selects(monitor["spec"]["selector"], lab)]
        assert len(matched) == len(served)
        endpoints = {e["port"]: e for e in monitor["spec"]["podMetricsEndpoints"]}
        assert all(e["path"] == "/metrics" for e in endpoints.values())
        for template in matched:
            # Every runtime of the pod is scraped on its own port, through an endpoint's name.
            for container in kube.runtimes(template):
                names = [
                    name
                    for name, number in kube.declared_ports(container).items()
                    if number == kube.runtime_port(container)
                ]
                assert len(names) == 1, container["name"]
                assert names[0] in endpoints, (container["name"], names)


@pytest.mark.parametrize("overlay", ALL)
def test_every_probe_is_http_on_the_runtime_port(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """startup, liveness and readiness probes of every long-running container (sidecars
    included): httpGet on a named port the container itself declares, whose number is the
    port its own bots-runtime serves on (BOTS_RUNTIME_PORT, else 8099), on a runtime endpoint;
    no exec or tcpSocket probes. The runtimes of one pod share its network: their ports and
    port names differ. init-db (no HTTP server) has no probe and no port at all, so a slow
    schema creation is never killed by a probe."""
    checked = 0
    for workload, template, _ in pods(rendered[overlay]):
        for container in kube.runtimes(template):
            assert _service_of(container) in SERVED, container["name"]
            ports = kube.declared_ports(container)
            for kind in PROBES:
                probe = container.get(kind)
                where = (kube.name_of(workload), container["name"], kind)
                assert probe is not None, where
                assert set(probe) & {"exec", "tcpSocket", "grpc"} == set(), where
                port = probe["httpGet"]["port"]
                assert ports.get(port) == kube.runtime_port(container), where
                assert probe["httpGet"]["path"] in kube.RUNTIME_PATHS, where
                checked += 1
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for container in kube.one_shot_inits(template) + kube.containers(template):
            if container not in kube.runtimes(template):
                assert not set(PROBES) & set(container), container["name"]
                assert "ports" not in container, container["name"]
        numbers = [kube.runtime_port(c) for c in kube.runtimes(template)]
        names = [name for c in kube.runtimes(template) for name in kube.declared_ports(c)]
        assert len(set(numbers)) == len(numbers), (kube.name_of(workload), numbers)
        assert len(set(names)) == len(names), (kube.name_of(workload), names)
    assert checked >= 12


@pytest.mark.parametrize("overlay", ALL)
def test_every_container_runs_bots_runtime(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """The image's ENTRYPOINT (bots-runtime) is never overridden; the first argument names a
    Bots service: the pod's component for its main container, the container's name for a
    sidecar, `init-db` or `run` (a one-line preparation step) for a one-shot init container."""
    objs = rendered[overlay]
    images = set()
    for workload, template, labels in pods(objs):
        component = labels["app.kubernetes.io/component"]
        for container in kube.containers(template):
            assert "command" not in container, kube.name_of(workload)
            assert _service_of(container) == component == container["name"]
            assert _service_of(container) in SERVICES
            images.add(container["image"])
        for container in kube.sidecars(template):
            assert "command" not in container, kube.name_of(workload)
            assert _service_of(container) == container["name"] != component
            assert _service_of(container) in SERVED
            images.add(container["image"])
        for container in kube.one_shot_inits(template):
            assert "command" not in container, kube.name_of(workload)
            assert _service_of(container) in {"init-db", "run"}
            images.add(container["image"])
    assert len(images) == 1, images


@pytest.mark.parametrize("overlay", ALL)
def test_grace_period_covers_the_stop_budget(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """terminationGracePeriodSeconds exceeds the pod's stop budget, with at least 5 s to spare
    for the runtime's own SIGKILL step and exit. The kubelet stops the main containers together
    and the sidecars after them, one by one: the longest main budget plus every sidecar's."""
    for workload, template, _ in pods(rendered[overlay]):
        budget = pod_budget(template, BUDGET)
        grace = template["spec"]["terminationGracePeriodSeconds"]
        assert grace >= budget + 5, (kube.name_of(workload), grace, budget)


def pod_budget(template: kube.Obj, budgets: Mapping[str, float]) -> float:
    """Seconds from the pod's SIGTERM until its last runtime is gone, from per-service budgets."""
    main = max(budgets.get(_service_of(c), 0.0) for c in kube.containers(template))
    return main + sum(budgets.get(_service_of(c), 0.0) for c in kube.sidecars(template))


def queue_problems(objs: list[kube.Obj]) -> list[str]:
    """What breaks Bots' localhost-only job queue in these objects (empty: nothing).

    Whatever feeds the queue shares its pod: the dirmonitor runs next to a jobqueueserver
    sidecar, started first (its startup probe waits for /readyz: the queue answers) and
    stopped last, both reading the same job-queue ConfigMap (one [jobqueue] port). No pod runs
    a queue without a feeder, and that pod never runs twice (two queues would split the jobs).
    """
    problems = []
    feeders = 0
    for workload, template, _ in pods(objs):
        where = kube.name_of(workload)
        every = kube.containers(template, init=True) + kube.containers(template)
        services = [_service_of(c) for c in every]
        queues = [c for c in every if _service_of(c) == "jobqueueserver"]
        if "dirmonitor" not in services:
            problems += [f"{where}: a job queue nothing can reach"] if queues else []
            continue
        feeders += 1
        if len(queues) != 1:
            problems.append(f"{where}: the dirmonitor has {len(queues)} job queues in its pod")
            continue
        (queue,) = queues
        if not kube.is_sidecar(queue):
            problems.append(f"{where}: the queue is no sidecar (it must start first, stop last)")
        if queue["startupProbe"]["httpGet"]["path"] != "/readyz":
            problems.append(f"{where}: the dirmonitor may start before the queue answers")
        mounts = {
            m["name"]
            for c in kube.runtimes(template)
            for m in c["volumeMounts"]
            if m["mountPath"] == "/var/lib/bots/config"
        }
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        config = volumes["config"]["configMap"]["name"]
        if mounts != {"config"} or not config.startswith("bots-config-jobqueue-"):
            problems.append(f"{where}: not one job-queue config for the queue and its feeder")
        if workload["spec"]["replicas"] > 1 or workload["spec"]["strategy"]["type"] != "Recreate":
            problems.append(f"{where}: may run two queues at once")
    if feeders != 1:
        problems.append(f"{feeders} pods run the dirmonitor")
    return problems


@pytest.mark.parametrize("overlay", ALL)
def test_job_queue_lives_in_the_pod_of_its_feeder(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """The dirmonitor pod holds the queue as a sidecar; no other pod has a queue."""
    assert queue_problems(rendered[overlay]) == []


def _split(objs: list[kube.Obj], change: str) -> list[kube.Obj]:
    objs = json.loads(json.dumps(objs))
    monitor = kube.one(objs, "Deployment", "bots-dirmonitor")
    spec = monitor["spec"]["template"]["spec"]
    (queue,) = [c for c in spec["initContainers"] if c["name"] == "jobqueueserver"]
    if change == "own-pod":  # the layout that crash-loops on Bots 4.0
        spec["initContainers"].remove(queue)
        other = json.loads(json.dumps(monitor))
        other["metadata"]["name"] = "bots-jobqueueserver"
        other["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] = "q"
        other["spec"]["template"]["spec"]["initContainers"] = []
        other["spec"]["template"]["spec"]["containers"] = [queue]
        objs.append(other)
    elif change == "plain-container":
        del queue["restartPolicy"]
    elif change == "healthz-startup":
        queue["startupProbe"]["httpGet"]["path"] = "/healthz"
    return objs


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("own-pod", "a job queue nothing can reach"),
        ("plain-container", "the queue is no sidecar"),
        ("healthz-startup", "may start before the queue answers"),
    ],
)
def test_queue_check_fails_a_split_layout(
    rendered: dict[str, list[kube.Obj]], change: str, problem: str
) -> None:
    """The same check names each way of breaking the layout."""
    found = queue_problems(_split(rendered["all-components"], change))
    assert any(problem in p for p in found), found


@pytest.mark.parametrize("overlay", ALL)
def test_metrics_policy_admits_every_runtime_port(
    rendered: dict[str, list[kube.Obj]], overlay: str
) -> None:
    """The monitoring namespace may reach each runtime's health port, sidecars' included."""
    objs = rendered[overlay]
    policy = kube.one(objs, "NetworkPolicy", "bots-metrics-ingress")
    (rule,) = policy["spec"]["ingress"]
    allowed = {p["port"] for p in rule["ports"]}
    for workload, template, labels in pods(objs):
        if kube.selects(policy["spec"]["podSelector"], labels):
            ports = {kube.runtime_port(c) for c in kube.runtimes(template)}
            assert ports <= allowed, (kube.name_of(workload), ports, allowed)


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
    read-only inside the data volume, where Bots finds usersys next to it. The dirmonitor pod
    (dirmonitor and jobqueueserver) gets the variant with the job queue enabled; everything
    else the default."""
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
        queue = labels["app.kubernetes.io/component"] == "dirmonitor"
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
    for _, pod, _labels in pods(objs):
        annotations = pod["metadata"].get("annotations", {})
        if kube.runtimes(pod):
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


ADMIN_FILES = {
    "BOTS_ADMIN_USER_FILE": "/run/secrets/bots-admin/username",
    "BOTS_ADMIN_PASSWORD_FILE": "/run/secrets/bots-admin/password",
    "BOTS_ADMIN_EMAIL_FILE": "/run/secrets/bots-admin/email",
}


@pytest.mark.parametrize("overlay", ALL)
def test_init_db_is_the_only_init_step(rendered: dict[str, list[kube.Obj]], overlay: str) -> None:
    """Every container that runs init-db (the Job, each Deployment's init container) reads the
    optional admin Secret as files from a read-only mount; a Secret that is absent leaves the
    files out (optional), so no admin is made. Every service container has the first-run
    init-db turned off: the manifests keep their explicit init step."""
    inits = 0
    for workload, template in kube.workloads(rendered[overlay]):
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        for container in kube.containers(template) + kube.containers(template, init=True):
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            service = _service_of(container)
            if service == "init-db":
                inits += 1
                assert {k: env.get(k) for k in ADMIN_FILES} == ADMIN_FILES, kube.name_of(workload)
                assert "BOTS_ADMIN_PASSWORD" not in env
                mounts = {m["name"]: m for m in container["volumeMounts"]}
                assert mounts["admin"]["mountPath"] == "/run/secrets/bots-admin"
                assert mounts["admin"]["readOnly"] is True
                secret = volumes["admin"]["secret"]
                assert (secret["secretName"], secret["optional"]) == ("bots-admin", True)
                assert secret["defaultMode"] & 0o007 == 0, "the password is not world-readable"
            elif service in SERVED:
                assert env["BOTS_RUNTIME_INIT_DB"] == "off", kube.name_of(workload)
                assert "admin" not in {m["name"] for m in container["volumeMounts"]}
    assert inits >= 2
