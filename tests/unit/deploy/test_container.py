"""The container image and the compose stack agree with the worker and with each other.

Dockerfile and docker-compose.yml are read as data: the worker's port, user,
health check and environment. Where docker-compose (or docker compose) is
installed, its own parser checks the file too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.support.deploy import (
    COMPOSE,
    COMPOSE_SASL,
    GRAFANA,
    JOB,
    PROMETHEUS,
    REPO,
    WEB_PORT,
    dashboard,
    dockerfile_instructions,
    load_yaml,
    run,
    settings_env_names,
)
from worker.stream.settings import SECRET_VARIABLES

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
    board = dashboard()
    used = {json.dumps(panel["datasource"], sort_keys=True) for panel in board["panels"]}
    assert used == {json.dumps({"type": "prometheus", "uid": datasource["uid"]}, sort_keys=True)}

    # The real parser, where it is installed (Debian's docker-compose 1.29 here).
    if shutil.which("docker-compose"):
        done = run(["docker-compose", "-f", str(COMPOSE), "config", "-q"])
        assert done.returncode == 0, done.stderr
    if shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        done = run(["docker", "compose", "-f", str(COMPOSE), "config", "-q"])
        assert done.returncode == 0, done.stderr


def test_compose_passes_kafka_credentials_as_secret_files() -> None:
    """deploy/compose/kafka-sasl.yml: the workers' password and CA are compose secrets from git-ignored files."""
    base = compose_workers(load_yaml(COMPOSE)["services"])
    for worker in base.values():
        assert not set(worker["environment"]) & set(SECRET_VARIABLES), "no secret inline in docker-compose.yml"
    override = load_yaml(COMPOSE_SASL)
    assert set(override["services"]) == set(base), "the override covers every compose worker"
    known_env = settings_env_names()
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    for name, service in override["services"].items():
        env = service["environment"]
        assert set(env) <= known_env, name
        assert "KAFKA_SASL_PASSWORD" not in env, f"{name}: the password as a secret file, not a value"
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_USERNAME"], name
        for variable in ("KAFKA_SASL_PASSWORD_FILE", "KAFKA_SSL_CA_FILE"):
            secret = env[variable].removeprefix("/run/secrets/")
            assert env[variable] == f"/run/secrets/{secret}" and secret in service["secrets"], (name, variable)
            source = Path(override["secrets"][secret]["file"])
            assert source.parent.as_posix() == "deploy/compose/secrets", source
            assert "/deploy/compose/secrets/" in ignored, "the secret files must stay out of git"
    assert "deploy/compose/kafka-sasl.yml" in COMPOSE.read_text(encoding="utf-8"), "the base file points to it"
    if shutil.which("docker-compose"):
        done = run(["docker-compose", "-f", str(COMPOSE), "-f", str(COMPOSE_SASL), "config", "-q"])
        assert done.returncode == 0, done.stderr
