"""deploy/k8s autoscaling: KEDA's ScaledObject and the HPA fallback, against the schemas and the worker's settings.

Kubernetes kinds are checked with kubernetes-validate (the API's JSON schemas,
strict: no unknown field); KEDA's kinds with cloudcoil's models generated from
KEDA's CRDs, where a manifest must read back unchanged (an unknown field would
be dropped). On top of the schemas: the scaler points at the worker's group
and requests topic, and never scales beyond the topic's partitions.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication

from tests.support.deploy import K8S, load_yaml
from tests.support.processes import REPO
from worker.stream.settings import Settings
from worker.stream.topics import TopicNames

KUBERNETES_VERSION = "1.30"  # the oldest Kubernetes KEDA 2.16 supports
KEDA_MODELS = {"ScaledObject": ScaledObject, "TriggerAuthentication": TriggerAuthentication}
KUSTOMIZE_KINDS = {"Kustomization", "Component"}


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return found


def by_kind(kind: str) -> dict[str, Any]:
    [doc] = [doc for _, doc in manifests() if doc["kind"] == kind]
    return doc


def worker_env() -> dict[str, str]:
    data: dict[str, str] = load_yaml(K8S / "configmap.yaml")["data"]
    return data


def partitions() -> int:
    return int(worker_env().get("JWTGEN_REQUEST_PARTITIONS", Settings.request_partitions))


@pytest.mark.parametrize(("path", "doc"), manifests(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_manifest_matches_its_schema(path: Path, doc: dict[str, Any]) -> None:
    kind = doc["kind"]
    if kind in KUSTOMIZE_KINDS:
        assert doc["apiVersion"].startswith("kustomize.config.k8s.io/")
        return
    if kind in KEDA_MODELS:
        assert doc["apiVersion"] == "keda.sh/v1alpha1"
        model = KEDA_MODELS[kind].model_validate(doc)
        assert model.model_dump(by_alias=True, exclude_unset=True, mode="json") == doc, f"{path}: unknown fields"
        return
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_schema_checks_can_fail() -> None:
    scaled = by_kind("ScaledObject")
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 2000  # KEDA wants strings
    with pytest.raises(ValueError, match="lagThreshold"):
        ScaledObject.model_validate(scaled)
    hpa = by_kind("HorizontalPodAutoscaler")
    hpa["spec"]["maxReplica"] = 8
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hpa, KUBERNETES_VERSION, strict=True)


def test_scaled_object_scales_the_worker_group_on_the_requests_topic() -> None:
    scaled = by_kind("ScaledObject")
    deployment = by_kind("Deployment")
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert spec["minReplicaCount"] == 1
    assert spec["maxReplicaCount"] == partitions(), "KEDA would add workers that get no partition"
    [trigger] = spec["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    env = worker_env()
    # The Kafka variables name files mounted from Secrets in the pod; the rest is read as the worker reads it.
    settings = Settings.from_mapping({k: v for k, v in env.items() if not k.startswith("KAFKA_")})
    assert metadata["bootstrapServers"] == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert metadata["consumerGroup"] == settings.group_id
    assert metadata["topic"] == TopicNames(settings.topic_prefix).requests  # never unset (KEDA could stall)
    assert metadata["allowIdleConsumers"] == "false"
    # The scaler reaches Kafka the way the workers do: with credentials when the workers need them.
    if env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") != "PLAINTEXT":
        auth = by_kind("TriggerAuthentication")
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
        parameters = {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
        assert {"sasl", "username", "password", "tls", "ca"} <= parameters
    # The lag of a group without commits counts from where the workers start.
    assert metadata["offsetResetPolicy"] == "earliest"
    assert 'consumer_auto_offset_reset="earliest"' in (REPO / "worker" / "stream" / "app.py").read_text()
    threshold = int(metadata["lagThreshold"])
    assert threshold > 0
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"lagThreshold[^\n]*{threshold}", readme), "the README explains the lag threshold"


def test_hpa_fallback_matches_the_scaled_object() -> None:
    hpa = by_kind("HorizontalPodAutoscaler")["spec"]
    scaled = by_kind("ScaledObject")["spec"]
    assert hpa["scaleTargetRef"] == scaled["scaleTargetRef"]
    assert hpa["minReplicas"] == 1 and hpa["maxReplicas"] == partitions()
    [metric] = hpa["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["target"] == {
        "type": "AverageValue",
        "averageValue": scaled["triggers"][0]["metadata"]["lagThreshold"],
    }
    name = metric["external"]["metric"]["name"]
    rule = (K8S / "hpa" / "hpa.yaml").read_text(encoding="utf-8")
    assert f'name: {{as: "{name}"}}' in rule and "kafka_consumergroup_lag" in rule  # the adapter rule it needs


@pytest.mark.parametrize("component", ["keda", "hpa"])
def test_components_add_the_scaler_and_free_the_replica_count(component: str, tmp_path: Path) -> None:
    directory = K8S / component
    config = load_yaml(directory / "kustomization.yaml")
    assert config["kind"] == "Component"
    for resource in config["resources"]:
        assert (directory / resource).is_file(), resource
    [patch] = config["patches"]
    assert (
        patch["target"]["kind"] == "Deployment" and patch["target"]["name"] == by_kind("Deployment")["metadata"]["name"]
    )
    assert yaml.safe_load(patch["patch"]) == [{"op": "remove", "path": "/spec/replicas"}]
    base = (K8S / "kustomization.yaml").read_text(encoding="utf-8")
    assert f"#   - {component}" in base, "the base tells how to enable it"
    if shutil.which("kubectl") is None:
        return
    # An overlay as an operator writes one; kustomize wants relative paths.
    root = os.path.relpath(K8S, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [root], "components": [f"{root}/{component}"]}), encoding="utf-8"
    )
    built = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(built.stdout) if doc}
    assert "replicas" not in docs["Deployment"]["spec"]
    assert {
        "ScaledObject" if component == "keda" else "HorizontalPodAutoscaler",
        "ConfigMap",
        "PodDisruptionBudget",
    } <= set(docs)
