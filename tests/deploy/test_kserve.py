"""deploy/kserve: the InferenceServices and the ServingRuntime, checked offline.

kubernetes-validate has no schemas for KServe's custom resources, so their own fields are checked
against schemas written from KServe's CRD (deploy/kserve/schema/), and the PodSpec and Container
fields KServe inlines are checked against the real Kubernetes schemas through a Pod.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kubernetes

from app.config import Settings
from app.main import create_app

REPO = Path(__file__).resolve().parents[2]
KSERVE = REPO / "deploy" / "kserve"
MANIFESTS = sorted(KSERVE.glob("*.yaml"))
VERSION = kubernetes.latest_version()

Document = dict[str, Any]


def load(path: Path) -> Document:
    document: Document = yaml.safe_load(path.read_text())
    return document


def schema_for(document: Document) -> Document:
    group_version = document["apiVersion"].replace("/", "-")
    path = KSERVE / "schema" / f"{document['kind'].lower()}-{group_version}.json"
    schema: Document = json.loads(path.read_text())
    return schema


def kubernetes_properties(definition: str) -> set[str]:
    definitions = kubernetes.schema_contents(
        f"kubernetes-json-schema/v{VERSION}-local/_definitions.json", VERSION
    )["$defs"]
    return set(definitions[definition]["properties"])


def validate_inlined(part: Document, definition: Document, what: str) -> None:
    """KServe's keys by its schema; the rest must be the inlined Kubernetes type's, and valid."""
    own = set(definition["x-kserve-keys"])
    inlined = {key: value for key, value in part.items() if key not in own}
    unknown = set(inlined) - kubernetes_properties(definition["x-inlines"])
    assert not unknown, f"{what}: neither KServe's nor Kubernetes' fields: {sorted(unknown)}"
    if definition["x-inlines"].endswith("PodSpec"):
        # A model: spec leaves the containers to its runtime; a Pod needs one to be checked.
        spec = {"containers": [{"name": "kserve-container"}], **inlined}
    else:  # a Container: KServe names it kserve-container
        spec = {"containers": [{"name": "kserve-container", **inlined}]}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": spec}
    kubernetes.validate(pod, VERSION, strict=True)


def validate(document: Document) -> None:
    schema = schema_for(document)
    jsonschema.Draft202012Validator(schema).validate(document)
    definitions = schema["$defs"]
    spec = document["spec"]
    if document["kind"] == "ServingRuntime":
        validate_inlined(spec, definitions["runtime"], "spec")
        return
    predictor = spec["predictor"]
    validate_inlined(predictor, definitions["predictor"], "spec.predictor")
    if "model" in predictor:
        validate_inlined(predictor["model"], definitions["model"], "spec.predictor.model")


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_kserve_manifest_is_valid(path: Path) -> None:
    validate(load(path))


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("inferenceservice-runtime.yaml", lambda d: d["spec"]["predictor"]["model"].update(
            protocolVersion="v3")),
        ("inferenceservice-runtime.yaml", lambda d: d["spec"]["predictor"].update(minReplica=1)),
        ("inferenceservice.yaml", lambda d: d["spec"]["predictor"]["containers"][0]["env"].pop(0)),
        ("inferenceservice.yaml", lambda d: d["spec"]["predictor"]["containers"][0].update(port=1)),
        ("inferenceservice.yaml", lambda d: d["spec"]["predictor"].update(volume=[])),
        ("servingruntime.yaml", lambda d: d["spec"].update(protocolVersions=["v9"])),
    ],
)  # fmt: skip
def test_broken_kserve_manifests_are_refused(path: str, change: Any) -> None:
    document = copy.deepcopy(load(KSERVE / path))
    change(document)
    with pytest.raises((jsonschema.ValidationError, kubernetes.ValidationError, AssertionError)):
        validate(document)


def test_the_services_speak_the_open_inference_protocol_v2() -> None:
    custom = load(KSERVE / "inferenceservice.yaml")["spec"]["predictor"]["containers"][0]
    assert {"name": "PROTOCOL", "value": "v2"} in custom["env"]
    model = load(KSERVE / "inferenceservice-runtime.yaml")["spec"]["predictor"]["model"]
    runtime = load(KSERVE / "servingruntime.yaml")
    assert model["protocolVersion"] == "v2"
    assert model["runtime"] == runtime["metadata"]["name"]
    assert "v2" in runtime["spec"]["protocolVersions"]
    formats = {entry["name"] for entry in runtime["spec"]["supportedModelFormats"]}
    assert model["modelFormat"]["name"] in formats


def test_probes_and_settings_are_the_apps() -> None:
    paths = set(create_app(Settings()).openapi()["paths"])
    settings = {f"MNIST_{name.upper()}" for name in Settings.model_fields}
    containers = [
        load(KSERVE / "inferenceservice.yaml")["spec"]["predictor"]["containers"][0],
        load(KSERVE / "servingruntime.yaml")["spec"]["containers"][0],
    ]
    for container in containers:
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] in paths
        names = {entry["name"] for entry in container["env"] if entry["name"].startswith("MNIST_")}
        assert names <= settings
