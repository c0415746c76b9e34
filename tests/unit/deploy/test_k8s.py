"""deploy/k8s: the manifests agree with the image, the worker's settings and each other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy import K8S, WEB_PORT, dockerfile_instructions, settings_env_names
from worker.stream.settings import SECRET_VARIABLES, Settings


def k8s_docs() -> dict[str, dict[str, Any]]:
    """The manifests by kind; Secrets (there are several) as "Secret/<name>"."""
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                kind = f"Secret/{doc['metadata']['name']}" if doc["kind"] == "Secret" else doc["kind"]
                assert kind not in docs, f"two {kind} documents"
                docs[kind] = doc | {"__file__": path.name}
    return docs


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    [found] = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return int(found)


def test_k8s_manifests() -> None:
    docs = k8s_docs()
    assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Kustomization"} <= set(docs)
    assert {"Secret/jwtgen-kek", "Secret/jwtgen-kafka"} <= set(docs)
    for kind, doc in docs.items():
        assert "namespace" not in doc.get("metadata", {}), f"{kind} must be namespace-less"
    kustomization = docs["Kustomization"]
    assert "namespace" not in kustomization
    for secret_doc in (docs["Secret/jwtgen-kek"], docs["Secret/jwtgen-kafka"]):
        assert secret_doc["__file__"] not in kustomization["resources"], "the example Secrets are not applied"
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource

    deployment = docs["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]
    pod_labels = pod["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    [container] = pod["spec"]["containers"]
    assert resolve_port(container, "metrics") == WEB_PORT

    # Probes: ready once the config table caught up (/healthz), alive while the web server answers.
    ready = container["readinessProbe"]["httpGet"]
    assert ready["path"] == "/healthz" and resolve_port(container, ready["port"]) == WEB_PORT
    alive = container["livenessProbe"]["httpGet"]
    assert alive["path"] == "/livez" and resolve_port(container, alive["port"]) == WEB_PORT

    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"memory"} <= set(container["resources"]["limits"])

    # Non-root, read-only root filesystem; the Dockerfile's user and writable working dir.
    instructions = dockerfile_instructions()
    uid = int([args for name, args in instructions if name == "USER"][-1].split(":")[0])
    workdir = [args for name, args in instructions if name == "WORKDIR"][-1]
    pod_security = pod["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] == uid
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounted = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert workdir in mounted, "Faust writes its data dir into the working directory"
    assert "/tmp" in mounted

    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(WEB_PORT)
    assert annotations["prometheus.io/path"] == "/metrics"

    # Environment: the ConfigMap by name, holding only variables the worker reads.
    configmap = docs["ConfigMap"]
    [source] = container["envFrom"]
    assert source["configMapRef"]["name"] == configmap["metadata"]["name"]
    known_env = settings_env_names()
    assert {"KAFKA_BOOTSTRAP_SERVERS", "JWTGEN_TOPIC_PREFIX"} <= set(configmap["data"]) <= known_env
    assert all(isinstance(value, str) for value in configmap["data"].values())
    partitions = int(configmap["data"].get("JWTGEN_REQUEST_PARTITIONS", Settings.request_partitions))
    assert spec["replicas"] <= partitions, "replicas beyond the requests topic's partitions would idle"
    assert "replicas <=" in (K8S / deployment["__file__"]).read_text(encoding="utf-8")

    # The KEK comes from the (optional) Secret; the example holds an obvious placeholder.
    secret = docs["Secret/jwtgen-kek"]
    [kek] = [e for e in container["env"] if e["name"] == "JWTGEN_KEK"]
    ref = kek["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"] and ref["optional"] is True
    placeholder = secret["stringData"][ref["key"]]
    assert "PLACEHOLDER" in placeholder
    with pytest.raises(json.JSONDecodeError):
        json.loads(placeholder)  # not a JWK, so nobody runs with it by mistake

    check_kafka_credentials(container, pod["spec"]["volumes"], configmap["data"], docs["Secret/jwtgen-kafka"])

    service = docs["Service"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [port] = service["spec"]["ports"]
    assert port["port"] == WEB_PORT and resolve_port(container, port["targetPort"]) == WEB_PORT

    pdb = docs["PodDisruptionBudget"]
    assert pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    if "maxUnavailable" in pdb["spec"]:
        assert 1 <= pdb["spec"]["maxUnavailable"] < spec["replicas"]
    else:
        assert 1 <= pdb["spec"]["minAvailable"] < spec["replicas"]


def check_kafka_credentials(
    container: dict[str, Any], volumes: list[dict[str, Any]], configmap: dict[str, str], secret: dict[str, Any]
) -> None:
    """Kafka's password reaches the worker from a Secret only, as a file; the ConfigMap holds no secret."""
    assert not set(configmap) & set(SECRET_VARIABLES), "a secret variable in the ConfigMap"
    env = {entry["name"]: entry for entry in container["env"]}
    assert "KAFKA_SASL_PASSWORD" not in env, "the password as a file, not an environment value"
    secret_mounts = {
        mount["mountPath"]: volume["secret"]["secretName"]
        for mount in container["volumeMounts"]
        for volume in volumes
        if volume["name"] == mount["name"] and "secret" in volume
    }
    for name, entry in env.items():
        if name in SECRET_VARIABLES:
            if "valueFrom" in entry:
                assert set(entry["valueFrom"]) == {"secretKeyRef"}, name
            else:
                assert name.endswith("_FILE"), f"{name}: a literal secret value"
    password_file = Path(env["KAFKA_SASL_PASSWORD_FILE"]["value"])
    ca_file = Path(configmap["KAFKA_SSL_CA_FILE"])
    for path in (password_file, ca_file):
        assert str(path.parent) in secret_mounts, f"{path} is not in a mounted Secret"
        assert secret_mounts[str(path.parent)] == secret["metadata"]["name"]
        assert "PLACEHOLDER" in secret["stringData"][path.name]
    # The ConfigMap's Kafka settings are a combination the worker accepts.
    kafka = {k: v for k, v in configmap.items() if k.startswith("KAFKA_")}
    assert kafka["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and kafka["KAFKA_SASL_USERNAME"]
    assert kafka["KAFKA_SASL_MECHANISM"] in {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}


def worker_container() -> tuple[dict, dict]:
    deployment = k8s_docs()["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    return pod, container


def budget(probe: dict) -> int:
    return int(probe.get("initialDelaySeconds", 0)) + int(probe["periodSeconds"]) * int(probe["failureThreshold"])


def test_probes_readiness_on_kafka_and_configs_liveness_on_the_process_only() -> None:
    _, container = worker_container()
    for name, path in (("readinessProbe", "/healthz"), ("livenessProbe", "/livez"), ("startupProbe", "/livez")):
        probe = container[name]["httpGet"]
        assert probe["path"] == path, name
        assert resolve_port(container, probe["port"]) == WEB_PORT, name
    # A start that waits for Kafka (no web server yet) is not killed by liveness meanwhile.
    assert budget(container["startupProbe"]) > Settings().startup_wait_seconds + 30


def test_a_stop_fits_the_grace_period() -> None:
    pod, _ = worker_container()
    assert Settings().shutdown_timeout_seconds + 10 <= pod["terminationGracePeriodSeconds"]


def test_static_membership_uses_the_pod_name() -> None:
    _, container = worker_container()
    [instance] = [e for e in container["env"] if e["name"] == "JWTGEN_GROUP_INSTANCE_ID"]
    assert instance["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
