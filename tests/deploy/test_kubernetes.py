"""deploy/kubernetes and deploy/kserve: valid against the Kubernetes schemas, and true to the app.

Everything is offline: kubernetes-validate ships the Kubernetes JSON schemas, and `kubectl
kustomize` renders the kustomizations (.ci/run installs Debian's kubernetes-client).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kubernetes

from app.config import Settings
from app.main import create_app

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
KUSTOMIZATIONS = [KUBERNETES / "base", KUBERNETES / "overlays" / "pvc"]
# The oldest release kubernetes-validate knows, and the newest.
VERSIONS = ["1.25.0", kubernetes.latest_version()]
# Settings another branch adds (the graceful drain); read by the server once merged.

Document = dict[str, Any]


def load_all(path: Path) -> list[Document]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path) -> list[Document]:
    """``kubectl kustomize`` of a directory (skipped, with the reason, where kubectl is absent)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (.ci/run installs Debian's kubernetes-client)")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(documents: list[Document], kind: str) -> Document:
    (found,) = [doc for doc in documents if doc["kind"] == kind]
    return found


def app_paths() -> set[str]:
    return set(create_app(Settings()).openapi()["paths"])


def resource_files() -> list[Path]:
    """The base's resources (the overlay's patch is partial: it is checked once rendered)."""
    return [
        *sorted(p for p in (KUBERNETES / "base").glob("*.yaml") if p.name != "kustomization.yaml"),
        KUBERNETES / "overlays" / "pvc" / "pvc.yaml",
    ]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "path", resource_files(), ids=lambda p: p.relative_to(KUBERNETES).as_posix()
)
def test_every_resource_file_is_valid(path: Path, version: str) -> None:
    for document in load_all(path):
        kubernetes.validate(document, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_every_rendered_resource_is_valid(directory: Path, version: str) -> None:
    documents = render(directory)
    assert {doc["kind"] for doc in documents} >= {
        "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"
    }  # fmt: skip
    for document in documents:
        kubernetes.validate(document, version, strict=True)


def test_a_broken_manifest_is_refused() -> None:
    """The validator does fail: a misspelt field and a wrong type are both caught."""
    deployment = by_kind(load_all(KUBERNETES / "base" / "deployment.yaml"), "Deployment")
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes.ValidationError):
        kubernetes.validate(deployment, VERSIONS[-1], strict=True)
    del deployment["spec"]["replica"]
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes.ValidationError):
        kubernetes.validate(deployment, VERSIONS[-1], strict=True)


def server_container(deployment: Document) -> Document:
    server: Document
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    return server


def test_probes_ask_routes_the_app_serves() -> None:
    server = server_container(by_kind(render(KUSTOMIZATIONS[0]), "Deployment"))
    probes = {name: server[name]["httpGet"]["path"] for name in server if name.endswith("Probe")}
    assert probes == {
        "startupProbe": "/health/live",
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
    }
    assert set(probes.values()) <= app_paths()


def test_the_config_map_holds_real_settings() -> None:
    documents = render(KUSTOMIZATIONS[0])
    config = by_kind(documents, "ConfigMap")
    known = {f"MNIST_{name.upper()}" for name in Settings.model_fields}
    assert set(config["data"]) <= known
    # The values parse as the server would parse them.
    Settings.model_validate(
        {key.removeprefix("MNIST_").lower(): value for key, value in config["data"].items()}
    )
    deployment = by_kind(documents, "Deployment")
    references = server_container(deployment)["envFrom"]
    assert references == [{"configMapRef": {"name": config["metadata"]["name"]}}]


def test_pods_run_locked_down_and_drain() -> None:
    deployment = by_kind(render(KUSTOMIZATIONS[0]), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in [*pod["initContainers"], *pod["containers"]]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    (seed,) = pod["initContainers"]
    python, flag, module = seed["command"][:3]
    assert (python, flag) == ("python", "-m")
    assert (REPO / Path(*module.split("."))).with_suffix(".py").is_file()
    server = server_container(deployment)
    # The server drains itself on SIGTERM (no preStop sleep); the kubelet waits for the drain
    # and the shutdown of the requests in flight before its SIGKILL.
    assert "lifecycle" not in server
    config = by_kind(render(KUSTOMIZATIONS[0]), "ConfigMap")["data"]
    settings = Settings.model_validate(
        {key.removeprefix("MNIST_").lower(): value for key, value in config.items()}
    )
    assert float(config["MNIST_DRAIN_SECONDS"]) > 0
    needed = settings.drain_seconds + settings.shutdown_timeout_s
    assert pod["terminationGracePeriodSeconds"] >= needed + 5
    # The read-only root filesystem needs a writable /tmp (uploads, the workers' metrics files).
    assert "/tmp" in {mount["mountPath"] for mount in server["volumeMounts"]}


def test_service_hpa_and_pdb_reach_the_deployments_pods() -> None:
    documents = render(KUSTOMIZATIONS[0])
    deployment = by_kind(documents, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        spec = by_kind(documents, kind)["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"])
        assert selector.items() <= labels.items(), kind
    target = by_kind(documents, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    port = by_kind(documents, "Service")["spec"]["ports"][0]["targetPort"]
    assert port in {p["name"] for p in server_container(deployment)["ports"]}


def test_the_model_repository_is_the_images_by_default_and_a_claim_in_the_overlay() -> None:
    def repository(documents: list[Document]) -> tuple[Document, Document]:
        pod = by_kind(documents, "Deployment")["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == "model-repository"]
        (mount,) = [
            m for m in server_container({"spec": {"template": {"spec": pod}}})["volumeMounts"]
            if m["name"] == "model-repository"
        ]  # fmt: skip
        return volume, mount

    base = render(KUSTOMIZATIONS[0])
    volume, mount = repository(base)
    assert "emptyDir" in volume  # seeded from the image by the init container
    assert mount["mountPath"] == by_kind(base, "ConfigMap")["data"]["MNIST_MODEL_DIR"]
    assert mount["readOnly"] is True

    overlay = render(KUSTOMIZATIONS[1])
    volume, mount = repository(overlay)
    claim = by_kind(overlay, "PersistentVolumeClaim")["metadata"]["name"]
    assert volume == {"name": "model-repository", "persistentVolumeClaim": {"claimName": claim}}
    assert mount["readOnly"] is True
