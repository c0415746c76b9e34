"""The operations assets agree with the worker and with each other.

Dockerfile, docker-compose.yml, deploy/prometheus, deploy/grafana and deploy/k8s
are read as data: the worker's environment, port and probes, and every metric
name, label name and label value that a dashboard panel or alert rule uses must
exist in the worker's own exposition (worker/stream/metrics.py). Where the tools are
installed (`./dev test` installs Debian's prometheus package as root), this
also runs `docker-compose config`, `promtool check config|rules` and
`promtool test rules` on alert scenarios; without them the data checks stand.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from worker.core.errors import ErrorCode
from worker.core.handler import Route
from worker.stream import metrics
from worker.stream.settings import ENVIRONMENT, KEK_VARIABLES, Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
PROMETHEUS = REPO / "deploy" / "prometheus"
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "jwtgen.json"
K8S = REPO / "deploy" / "k8s"
WEB_PORT = 6066
JOB = "jwtgen"
ALERTS = {
    "JwtgenWorkerDown",
    "JwtgenConfigTableNotReady",
    "JwtgenDeadLetters",
    "JwtgenFailureRatioHigh",
    "JwtgenInternalErrors",
}
# Labels Prometheus adds to every scraped series, and the histogram bucket label.
TARGET_LABELS = {"job", "instance", "le"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def settings_env_names() -> set[str]:
    """The environment variables the worker reads (worker/stream/settings.py)."""
    names = {variable for variable, _ in ENVIRONMENT.values()} | set(KEK_VARIABLES)
    assert {"KAFKA_BOOTSTRAP_SERVERS", "JWTGEN_TOPIC_PREFIX", "JWTGEN_KEK"} <= names, names
    return names


def exposed_series() -> set[str]:
    """Every series name the worker exposes: counters as *_total, histograms as *_bucket/_sum/_count."""
    names: set[str] = set()
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def exposed_families() -> set[str]:
    return {family.name for family in text_string_to_metric_families(metrics.exposition().decode())}


def metric_label_names() -> set[str]:
    found: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            found.update(getattr(value, "_labelnames", ()))
    return found


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
    exprs += [var["definition"] for var in board["templating"]["list"] if var.get("type") == "query"]
    return exprs


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]]


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def k8s_docs() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                assert doc["kind"] not in docs, f"two {doc['kind']} documents"
                docs[doc["kind"]] = doc | {"__file__": path.name}
    return docs


def run(cmd: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


# --------------------------------------------------------------------- Dockerfile


def test_dockerfile_runs_the_worker_as_non_root_with_a_healthcheck() -> None:
    instructions = dockerfile_instructions()
    by_name: dict[str, list[str]] = {}
    for name, args in instructions:
        by_name.setdefault(name, []).append(args)
    assert by_name["FROM"] == ["python:3.11-slim"]
    assert any("pip install ." in args for args in by_name["RUN"])
    user = by_name["USER"][-1]
    assert user.split(":")[0] not in {"root", "0"}
    assert by_name["EXPOSE"] == [str(WEB_PORT)]
    assert json.loads(by_name["ENTRYPOINT"][-1]) == ["jwtgen"]
    assert json.loads(by_name["CMD"][-1]) == ["worker"]
    [healthcheck] = by_name["HEALTHCHECK"]
    assert f"127.0.0.1:{WEB_PORT}/healthz" in healthcheck and "urllib.request" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck  # neither is in the slim image


# --------------------------------------------------------------------- docker-compose


def compose_workers(services: dict[str, Any]) -> dict[str, Any]:
    return {name: svc for name, svc in services.items() if "build" in svc}


def test_compose_stack() -> None:
    compose = load_yaml(COMPOSE)
    services = compose["services"]
    assert {"kafka", "prometheus", "grafana"} <= set(services)

    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    for name, value in env.items():
        if name.endswith(("REPLICATION_FACTOR", "MIN_ISR")):
            assert str(value) == "1", name
    assert "kafka-broker-api-versions" in " ".join(kafka["healthcheck"]["test"])

    workers = compose_workers(services)
    assert len(workers) >= 2, "the stack shows scaling out: at least two workers"
    published = []
    known_env = settings_env_names()
    for name, worker in workers.items():
        assert worker["build"] in (".", {"context": "."}), name
        assert worker["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert set(worker["environment"]) <= known_env, f"{name}: variables the worker does not read"
        assert worker["depends_on"]["kafka"]["condition"] == "service_healthy", name
        for port in worker["ports"]:
            host, container = str(port).rsplit(":", 1)
            assert int(container) == WEB_PORT, name
            published.append(int(host))
    assert len(set(published)) == len(published), f"workers publish the same host port: {published}"

    # Prometheus scrapes exactly the compose workers, on the worker's web port.
    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == JOB]
    targets = {t for static in job["static_configs"] for t in static["targets"]}
    assert targets == {f"{name}:{WEB_PORT}" for name in workers}
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert config["rule_files"] == ["alerts.yml"]  # relative to the config file: /etc/prometheus/alerts.yml

    # Grafana: provisioning and dashboards mounted where the provider looks for them.
    grafana = services["grafana"]
    mounts = dict(volume.rsplit(":", 1)[0].split(":", 1) for volume in grafana["volumes"] if volume.startswith("./"))
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = load_yaml(GRAFANA / "provisioning" / "dashboards" / "jwtgen.yml")["providers"][0]
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    for source in mounts:
        assert (REPO / source).is_dir(), source
    [datasource] = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    used = {json.dumps(panel["datasource"], sort_keys=True) for panel in board["panels"]}
    assert used == {json.dumps({"type": "prometheus", "uid": datasource["uid"]}, sort_keys=True)}

    # The real parser, where it is installed (Debian's docker-compose 1.29 here).
    if shutil.which("docker-compose"):
        done = run(["docker-compose", "-f", str(COMPOSE), "config", "-q"])
        assert done.returncode == 0, done.stderr
    if shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        done = run(["docker", "compose", "-f", str(COMPOSE), "config", "-q"])
        assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------- Kubernetes


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    [found] = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return int(found)


def test_k8s_manifests() -> None:
    docs = k8s_docs()
    assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Secret", "Kustomization"} <= set(docs)
    for kind, doc in docs.items():
        assert "namespace" not in doc.get("metadata", {}), f"{kind} must be namespace-less"
    kustomization = docs["Kustomization"]
    assert "namespace" not in kustomization
    assert docs["Secret"]["__file__"] not in kustomization["resources"], "the example Secret is not applied"
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
    secret = docs["Secret"]
    [kek] = [e for e in container["env"] if e["name"] == "JWTGEN_KEK"]
    ref = kek["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"] and ref["optional"] is True
    placeholder = secret["stringData"][ref["key"]]
    assert "PLACEHOLDER" in placeholder
    with pytest.raises(json.JSONDecodeError):
        json.loads(placeholder)  # not a JWK, so nobody runs with it by mistake

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


# --------------------------------------------------------------------- metric names


def selector_labels(expr: str) -> list[tuple[str, str, str]]:
    """(label, operator, value) of every matcher inside {...} of a PromQL expression."""
    found = []
    for body in re.findall(r"\{([^{}]*)\}", expr):
        found += re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', body)
    return found


def grouping_labels(expr: str) -> list[str]:
    return [
        label.strip() for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr) for label in group.split(",")
    ]


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_and_label_used_exists(source: str) -> None:
    exprs = dashboard_exprs() if source == "dashboard" else [rule["expr"] for rule in alert_rules()]
    assert exprs
    series = exposed_series()
    labels = metric_label_names() | TARGET_LABELS
    values = {"outcome": {route.value for route in Route}, "code": {code.value for code in ErrorCode} | {""}}
    assert {"outcome", "code"} <= labels
    for expr in exprs:
        for name in re.findall(r"\b(jwtgen_[a-z0-9_]+)\b", expr):
            assert name in series, f"{source}: {name} is not exposed by the worker ({expr})"
        for label, op, value in selector_labels(expr):
            assert label in labels, f"{source}: no label {label!r} ({expr})"
            if label in values and op in {"=", "=~"}:
                alternatives = value.split("|") if op == "=~" else [value]
                unknown = [v for v in alternatives if v != ".*" and v not in values[label]]
                assert not unknown, f"{source}: {label} is never {unknown} ({expr})"
        for label in grouping_labels(expr):
            assert label in labels, f"{source}: grouping by unknown label {label!r} ({expr})"
        if "up{" in expr or "up ==" in expr:
            assert f'job="{JOB}"' in expr, f"{source}: up without the jwtgen job ({expr})"


def test_dashboard_covers_every_metric() -> None:
    text = " ".join(dashboard_exprs())
    missing = [family for family in exposed_families() if family not in text]
    assert not missing, f"metrics not on the dashboard: {missing}"
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert board["uid"] == "jwtgen"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    titles = " | ".join(panel["title"] for panel in board["panels"])
    for wanted in ("by outcome", "by code", "Dead letters", "p50", "p99", "Batch size", "invalid", "waits", "ready"):
        assert wanted in titles, wanted


# --------------------------------------------------------------------- Prometheus config and rules


def test_prometheus_config() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS / rule_file).is_file(), rule_file
    assert [j["job_name"] for j in config["scrape_configs"]] == [JOB]
    if shutil.which("promtool"):
        done = run(["promtool", "check", "config", "prometheus.yml"], cwd=PROMETHEUS)
        assert done.returncode == 0, done.stdout + done.stderr


def answers(instance: str, outcome: str, code: str = "") -> str:
    """An answer-counter series of job jwtgen, as promtool's input_series spells it."""
    extra = f', code="{code}"' if code else ""
    return f'jwtgen_answers_total{{job="jwtgen", instance="{instance}", outcome="{outcome}"{extra}}}'


# promtool unit tests of the alert logic (expressions, `for`, labels), on a copy
# of alerts.yml without annotations so that their wording can change freely.
# Workers w1 and w2 of job jwtgen, sampled every minute.
RULE_SCENARIOS = [
    {
        "name": "a worker stops answering scrapes",
        "interval": "1m",
        "input_series": [
            {"series": 'up{job="jwtgen", instance="w1"}', "values": "1 1 0 0 0 0 0"},
            {"series": 'up{job="jwtgen", instance="w2"}', "values": "1x6"},
        ],
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "JwtgenWorkerDown", "exp_alerts": []},  # pending
            {
                "eval_time": "5m",
                "alertname": "JwtgenWorkerDown",
                "exp_alerts": [{"exp_labels": {"severity": "critical", "job": "jwtgen", "instance": "w1"}}],
            },
        ],
    },
    {
        "name": "no worker is scraped at all",
        "interval": "1m",
        "input_series": [{"series": 'up{job="other", instance="x"}', "values": "1x6"}],
        "alert_rule_test": [
            {
                "eval_time": "5m",
                "alertname": "JwtgenWorkerDown",
                "exp_alerts": [{"exp_labels": {"severity": "critical", "job": "jwtgen"}}],
            }
        ],
    },
    {
        "name": "a worker never catches up with the configs topic",
        "interval": "1m",
        "input_series": [
            {"series": 'jwtgen_config_table_ready{job="jwtgen", instance="w1"}', "values": "0x10"},
            {"series": 'jwtgen_config_table_ready{job="jwtgen", instance="w2"}', "values": "0 0 1x8"},
        ],
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "JwtgenConfigTableNotReady", "exp_alerts": []},
            {
                "eval_time": "7m",
                "alertname": "JwtgenConfigTableNotReady",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "job": "jwtgen", "instance": "w1"}}],
            },
        ],
    },
    {
        # w1's counter series is born with its first dead letter (at 1, minute 3);
        # w2 is first seen with 5 dead letters and gets one more at minute 15.
        "name": "dead letters, including the first one after a start",
        "interval": "1m",
        "input_series": [
            {
                "series": answers("w1", "deadletter"),
                "values": "_ _ _ 1x25",
            },
            {
                "series": answers("w2", "deadletter"),
                "values": "5x14 6x10",
            },
        ],
        "alert_rule_test": [
            {
                # A worker first scraped with dead letters already counted alerts too.
                "eval_time": "2m",
                "alertname": "JwtgenDeadLetters",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "job": "jwtgen", "instance": "w2"}}],
            },
            {
                "eval_time": "4m",
                "alertname": "JwtgenDeadLetters",
                "exp_alerts": [
                    {"exp_labels": {"severity": "warning", "job": "jwtgen", "instance": "w1"}},
                    {"exp_labels": {"severity": "warning", "job": "jwtgen", "instance": "w2"}},
                ],
            },
            {"eval_time": "14m", "alertname": "JwtgenDeadLetters", "exp_alerts": []},
            {
                "eval_time": "16m",
                "alertname": "JwtgenDeadLetters",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "job": "jwtgen", "instance": "w2"}}],
            },
            {"eval_time": "27m", "alertname": "JwtgenDeadLetters", "exp_alerts": []},
        ],
    },
    {
        "name": "INTERNAL errors, not other failure codes",
        "interval": "1m",
        "input_series": [
            {
                "series": answers("w1", "Failure", "INTERNAL"),
                "values": "_ _ 1x10",
            },
            {
                "series": answers("w2", "Failure", "CONFIG_INVALID"),
                "values": "_ _ 1+5x10",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "3m",
                "alertname": "JwtgenInternalErrors",
                "exp_alerts": [{"exp_labels": {"severity": "critical", "job": "jwtgen", "instance": "w1"}}],
            },
        ],
    },
    {
        "name": "a quarter of the answers are failures",
        "interval": "1m",
        "input_series": [
            {"series": answers("w1", "True"), "values": "0+60x40"},
            {
                "series": answers("w1", "Failure", "VARIABLE_NOT_FOUND"),
                "values": "0+20x40",
            },
            # Dead letters are not answers: they do not count in the ratio.
            {"series": answers("w2", "deadletter"), "values": "0+99x40"},
        ],
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": "JwtgenFailureRatioHigh", "exp_alerts": []},  # pending
            {
                "eval_time": "20m",
                "alertname": "JwtgenFailureRatioHigh",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "job": "jwtgen"}}],
            },
        ],
    },
    {
        "name": "few failures",
        "interval": "1m",
        "input_series": [
            {"series": answers("w1", "True"), "values": "0+60x40"},
            {
                "series": answers("w1", "Failure", "CONFIG_NOT_FOUND"),
                "values": "0+2x40",
            },
        ],
        "alert_rule_test": [{"eval_time": "30m", "alertname": "JwtgenFailureRatioHigh", "exp_alerts": []}],
    },
    {
        "name": "a third of the answers fail, but 15 answers in 10 minutes are too few to alert on",
        "interval": "1m",
        "input_series": [
            {"series": answers("w1", "True"), "values": "0+1x40"},
            {
                "series": answers("w1", "Failure", "CONFIG_NOT_FOUND"),
                "values": "0+0.5x40",
            },
        ],
        "alert_rule_test": [{"eval_time": "15m", "alertname": "JwtgenFailureRatioHigh", "exp_alerts": []}],
    },
]


def test_alert_rules(tmp_path: Path) -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
    scenario_alerts = {t["alertname"] for s in RULE_SCENARIOS for t in s["alert_rule_test"]}
    assert scenario_alerts == ALERTS, "every alert has a promtool scenario"
    if not shutil.which("promtool"):
        return
    done = run(["promtool", "check", "rules", str(PROMETHEUS / "alerts.yml")])
    assert done.returncode == 0, done.stdout + done.stderr

    stripped = load_yaml(PROMETHEUS / "alerts.yml")
    for group in stripped["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(stripped), encoding="utf-8")
    tests = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": RULE_SCENARIOS}
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(tests, sort_keys=False), encoding="utf-8")
    done = run(["promtool", "test", "rules", "alerts_test.yml"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
