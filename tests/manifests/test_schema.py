"""Every rendered object passes kubernetes-validate --strict for 1.30 and the newest bundled
version; an unknown or removed API, or a misspelled field, is an error, not a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import kubernetes_validate  # type: ignore[import-untyped, unused-ignore]
import pytest

from . import kube

OLDEST = "1.30.0"
NEWEST = str(kubernetes_validate.latest_version())
SCHEMAS = Path(__file__).parent / "schemas"


def schema_errors(obj: kube.Obj, version: str) -> list[str]:
    """Problems with one object; a kind without a schema (removed or unknown API) is one."""
    kind = (obj.get("apiVersion"), obj.get("kind"))
    if kind in kube.CUSTOM_KINDS:
        return custom_errors(obj)
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{kube.name_of(obj)}: no schema for {kind[0]} {kind[1]} in Kubernetes {version}"]
    except kubernetes_validate.ValidationError as err:
        return [f"{kube.name_of(obj)}: {err}"]
    return []


def custom_errors(obj: kube.Obj) -> list[str]:
    """Prometheus Operator resources against strict schemas generated from its CRDs."""
    path = SCHEMAS / f"{obj['apiVersion'].split('/')[0]}-v1-{obj['kind'].lower()}.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{kube.name_of(obj)}: {'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(obj)
    ]


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
@pytest.mark.parametrize("overlay", [*kube.OVERLAYS, "all-components"])
def test_objects_validate_strictly(
    rendered: dict[str, list[kube.Obj]], overlay: str, version: str
) -> None:
    """No object of the overlay has a schema error, an unknown field or an API without schema."""
    errors = [e for obj in rendered[overlay] for e in schema_errors(obj, version)]
    assert errors == []


def test_newest_bundled_version_is_checked() -> None:
    """The 'newest' run really is newer than 1.30 (kubernetes-validate bundles up to it)."""
    assert tuple(int(x) for x in NEWEST.split(".")[:2]) > (1, 30)


def test_removed_api_is_an_error() -> None:
    """batch/v1beta1 CronJob (removed in 1.25) fails instead of passing with a warning."""
    obj = {
        "apiVersion": "batch/v1beta1",
        "kind": "CronJob",
        "metadata": {"name": "old"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {}}}}},
    }
    assert schema_errors(obj, OLDEST) != []


def test_misspelled_field_is_an_error(rendered: dict[str, list[kube.Obj]]) -> None:
    """A typo in a real object (`replica` for `replicas`) is caught by --strict."""
    web = json.loads(json.dumps(kube.one(rendered["prod"], "Deployment", "bots-webserver")))
    web["spec"]["replica"] = web["spec"].pop("replicas")
    assert schema_errors(web, NEWEST) != []


def test_misspelled_custom_resource_field_is_an_error(rendered: dict[str, list[kube.Obj]]) -> None:
    """A typo in an alert rule (`fore` for `for`) and a bad duration are caught."""
    rule = json.loads(json.dumps(kube.one(rendered["prod"], "PrometheusRule", "bots-runtime")))
    first = rule["spec"]["groups"][0]["rules"][0]
    first["fore"] = first.pop("for")
    assert custom_errors(rule) != []
    first["for"] = "five minutes"
    del first["fore"]
    assert custom_errors(rule) != []
    monitor = json.loads(json.dumps(kube.one(rendered["prod"], "PodMonitor", "bots-runtime")))
    monitor["spec"]["podMetricsEndpoint"] = monitor["spec"].pop("podMetricsEndpoints")
    assert custom_errors(monitor) != []
