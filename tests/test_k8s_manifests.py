"""The Kubernetes manifests in deploy/k8s/: valid against Kubernetes' own schemas, and consistent with the service.

The schemas come with the ``kubernetes-validate`` package (no cluster, no
network); strict mode refuses fields Kubernetes does not know. The checks after
that are the ones a schema cannot make: probes on the service's routes, labels
that select the right pods, one writer of the model volume, options that
``ctrkit serve`` accepts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30"
DOCS = [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def of_kind(kind: str) -> list[dict]:
    return [doc for doc in DOCS if doc["kind"] == kind]


def named(kind: str, name: str) -> dict:
    [doc] = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    return doc


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


SERVING = named("Deployment", "ctrkit")
WRITER = named("Deployment", "ctrkit-writer")
CLAIM = named("PersistentVolumeClaim", "ctrkit-models")["metadata"]["name"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_valid_for_kubernetes(doc):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_manifests_hold_what_a_fleet_needs():
    kinds = {doc["kind"] for doc in DOCS}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
            "PersistentVolumeClaim"} <= kinds


def test_serving_pods_probe_the_service_and_run_options_it_accepts():
    from service.cli import settings_from_args
    from service.settings import Settings

    for deployment in (SERVING, WRITER):
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        command = container["args"]
        assert command[:2] == ["ctrkit", "serve"]
        settings = settings_from_args(command[2:])
        port = next(p for p in container["ports"] if p["name"] == "http")
        assert port["containerPort"] == settings.port and str(settings.model_repository) == "/models"
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        for name, variable in env(container).items():
            assert name.startswith("CTR_") and name[4:].lower() in Settings.model_fields, name
            if "value" in variable:
                Settings(**{name[4:].lower(): variable["value"]})  # a value the service accepts
        assert float(env(container)["CTR_POLL_INTERVAL_S"]["value"]) > 0  # it follows the declared state
    [container] = SERVING["spec"]["template"]["spec"]["containers"]
    assert int(env(container)["CTR_WORKERS"]["value"]) >= 1
    assert "CTR_ADMIN_TOKEN" not in env(container)  # serving pods cannot change the declared state
    grace = float(env(container)["CTR_GRACEFUL_TIMEOUT_S"]["value"])
    pause = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert SERVING["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace + pause
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"]  # the autoscaler's utilisation needs a CPU request
    [writer] = WRITER["spec"]["template"]["spec"]["containers"]
    assert env(writer)["CTR_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "token"


def test_the_model_volume_is_shared_read_only_with_one_writer():
    mounting = []
    for deployment in of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod.get("initContainers", []) + pod["containers"]:
            for mount in container.get("volumeMounts", []):
                claim = volumes[mount["name"]].get("persistentVolumeClaim", {})
                if claim.get("claimName") == CLAIM:
                    writable = not (mount.get("readOnly") or claim.get("readOnly"))
                    mounting.append((deployment["metadata"]["name"], container["name"], writable))
    assert ("ctrkit", "ctrkit", False) in mounting
    writers = {name for name, _, writable in mounting if writable}
    assert writers == {"ctrkit-writer"}, mounting
    assert WRITER["spec"]["replicas"] == 1 and WRITER["spec"]["strategy"]["type"] == "Recreate"
    claim = named("PersistentVolumeClaim", CLAIM)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_services_budget_and_autoscaler_select_the_serving_pods():
    serving_labels = SERVING["spec"]["template"]["metadata"]["labels"]
    writer_labels = WRITER["spec"]["template"]["metadata"]["labels"]
    assert selects(SERVING["spec"]["selector"]["matchLabels"], serving_labels)
    prediction = named("Service", "ctrkit")
    assert selects(prediction["spec"]["selector"], serving_labels)
    assert not selects(prediction["spec"]["selector"], writer_labels)
    assert selects(named("Service", "ctrkit-admin")["spec"]["selector"], writer_labels)
    for service in of_kind("Service"):
        assert all(p["targetPort"] == "http" for p in service["spec"]["ports"])
    [budget] = of_kind("PodDisruptionBudget")
    assert selects(budget["spec"]["selector"]["matchLabels"], serving_labels)
    assert not selects(budget["spec"]["selector"]["matchLabels"], writer_labels)
    [hpa] = of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ctrkit"}
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert budget["spec"]["minAvailable"] < hpa["spec"]["minReplicas"] <= SERVING["spec"]["replicas"]
