"""The operations assets (Dockerfile, docker-compose.yml, deploy/) read as data."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import REPO
from worker.stream.settings import ENVIRONMENT, SECRET_VARIABLES

COMPOSE = REPO / "docker-compose.yml"
COMPOSE_SASL = REPO / "deploy" / "compose" / "kafka-sasl.yml"
DOCKERFILE = REPO / "Dockerfile"
PROMETHEUS = REPO / "deploy" / "prometheus"
ALERTS_FILE = PROMETHEUS / "alerts.yml"
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "jwtgen.json"
K8S = REPO / "deploy" / "k8s"
WEB_PORT = 6066
JOB = "jwtgen"  # the Prometheus job the alert rules and the dashboard select the workers by


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def settings_env_names() -> set[str]:
    """The environment variables the worker reads (worker/stream/settings.py)."""
    names = {variable for variable, _ in ENVIRONMENT.values()} | set(SECRET_VARIABLES)
    assert {"KAFKA_BOOTSTRAP_SERVERS", "JWTGEN_TOPIC_PREFIX", "JWTGEN_KEK", "KAFKA_SASL_PASSWORD"} <= names, names
    return names


def dashboard() -> dict[str, Any]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return board


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS_FILE)["groups"] for rule in group["rules"]]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each Dockerfile line, continuation lines joined."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def run(cmd: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """A tool (promtool, docker-compose) run on the assets, output captured."""
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
