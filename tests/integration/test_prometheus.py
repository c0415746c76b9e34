"""A real Prometheus scrapes a real worker, loads our alert rules and runs the dashboard's queries.

Needs the `prometheus` binary (Debian's prometheus package, which `./dev test`
installs when run as root). Without it this test fails rather than skips: the
operations assets would otherwise go unchecked in CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kafkaio import REPO, KafkaIO, WorkerProcess, free_port, unique_prefix
from worker.core.errors import ErrorCode

pytestmark = pytest.mark.integration

JOB = "jwtgen"  # deploy/prometheus/alerts.yml selects the workers by this job name
ALERTS_FILE = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "jwtgen.json"
SECRET = "TOP-SECRET-hmac-key-for-prometheus-test-0123"  # >= 32 bytes for HS256
# Grafana's variables, as the dashboard would substitute them.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "15s", "$instance": ".*"}


class PrometheusServer:
    """One `prometheus` process on a free port with its own config and TSDB in a temp dir."""

    def __init__(self, binary: str, workdir: Path, target: str) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS_FILE)],
            "scrape_configs": [
                {"job_name": JOB, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
            ],
        }
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")

    def start(self, timeout: float = 60.0) -> PrometheusServer:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready within {timeout}s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as err:  # a bad query answers 400 with the reason
            body = json.loads(err.read())
        assert body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_until(self, what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Polls `check` until it returns something truthy; fails with its last value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(0.5)
        raise AssertionError(f"{what}: not within {timeout}s (last: {last})\nprometheus log:\n{self.log()[-3000:]}")

    def wait_value(self, expr: str, expected: float, timeout: float = 60.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            result = self.query(expr)
            return result[0] if len(result) == 1 and float(result[0]["value"][1]) == expected else None

        found: dict[str, Any] = self.wait_until(f"{expr} == {expected}", check, timeout)
        return found

    def alerts(self) -> dict[str, list[dict[str, Any]]]:
        by_name: dict[str, list[dict[str, Any]]] = {}
        for alert in self.api("alerts")["alerts"]:
            by_name.setdefault(alert["labels"]["alertname"], []).append(alert)
        return by_name


def hs256_config(config_id: str) -> dict[str, Any]:
    return {
        "id": config_id,
        "version": 1,
        "ttl": 600,
        "claims": {
            "issuer": "https://idp.example.com",
            "subject": "{{user.id}}",
            "custom": [{"key": "email", "value": "{{user.email}}", "type": "String"}],
        },
        "signature": {"type": "symmetric", "kid": "hs-1", "alg": "HS256", "password": SECRET},
        "encryption": None,
        "store": {"variable": "jwt", "attributes": ["token"]},
    }


def request_for(config_id: str, store: dict[str, Any]) -> dict[str, Any]:
    return {
        "execution_id": str(uuid.uuid4()),
        "flow": {"id": "checkout", "type": "Authentication", "run_id": "r-1"},
        "node": {"id": "jwt-1"},
        "config": {"id": config_id, "version": 1},
        "store": store,
        "issued_at": 1764355200,
    }


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = []
    for panel in board["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in GRAFANA_VARS.items():
                expr = expr.replace(name, value)
            assert "$" not in expr, f"unsubstituted Grafana variable in {target['expr']}"
            queries.append(expr)
    return queries


def healthcheck_command(web_port: int) -> list[str]:
    """The Dockerfile's HEALTHCHECK command, pointed at this worker's port."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.strip().startswith("HEALTHCHECK")]
    command: list[str] = json.loads(line.split(" CMD ", 1)[1])
    assert command[0] == "python"
    return [shutil.which("python3") or "python3", *[part.replace(":6066/", f":{web_port}/") for part in command[1:]]]


def test_prometheus_scrapes_the_worker_and_loads_the_rules(kafka: str, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "the `prometheus` binary is not on PATH. `./dev test` installs it (Debian's prometheus "
            "package, when run as root); otherwise: apt-get install --no-install-recommends prometheus"
        )
    prefix = unique_prefix("prometheus")
    worker = WorkerProcess(prefix, kafka, free_port(), tmp_path / "worker.log")
    prometheus = PrometheusServer(binary, tmp_path, f"127.0.0.1:{worker.web_port}")
    io: KafkaIO | None = None
    try:
        worker.start()
        # The image's HEALTHCHECK command passes against a healthy worker.
        assert subprocess.run(healthcheck_command(worker.web_port), timeout=30).returncode == 0
        prometheus.start()
        io = KafkaIO(kafka, prefix).open()

        # One True answer, one Failure (VARIABLE_NOT_FOUND), one dead letter.
        io.put_config(hs256_config("prom"))
        good = request_for("prom", {"user": {"id": "u-1", "email": "ada@example.com"}})
        bad = request_for("prom", {"user": {"id": "u-2"}})
        io.send_request(good)
        assert io.answer(good["execution_id"])[0] == "true"
        io.send_request(bad)
        kind, body = io.answer(bad["execution_id"])
        assert kind == "failure" and body["error"]["code"] == "VARIABLE_NOT_FOUND", body
        io.send_raw("requests", b"prom-dead-letter", b"\xff not json")
        io.deadletters()

        instance = f"127.0.0.1:{worker.web_port}"
        up = prometheus.wait_value(f'up{{job="{JOB}"}}', 1)
        assert up["metric"]["instance"] == instance
        answers = f'jwtgen_answers_total{{job="{JOB}"'
        prometheus.wait_value(answers + ', outcome="True"}', 1)
        prometheus.wait_value(answers + ', outcome="Failure", code="VARIABLE_NOT_FOUND"}', 1)
        # Every other code's series exists from the start, at 0.
        others = prometheus.query(answers + ', outcome="Failure", code!="VARIABLE_NOT_FOUND"}')
        assert len(others) == len(ErrorCode) - 1 and all(float(o["value"][1]) == 0 for o in others), others
        prometheus.wait_value(answers + ', outcome="deadletter"}', 1)
        prometheus.wait_value(f'jwtgen_request_seconds_count{{job="{JOB}"}}', 1)
        prometheus.wait_value(f'jwtgen_config_table_ready{{job="{JOB}"}}', 1)
        prometheus.wait_value(f'jwtgen_configs{{job="{JOB}"}}', 1)
        prometheus.wait_value(f'jwtgen_configs_invalid{{job="{JOB}"}}', 0)
        batches = prometheus.query(f'jwtgen_batch_size_count{{job="{JOB}"}}')
        assert len(batches) == 1 and float(batches[0]["value"][1]) >= 1
        series = prometheus.api("label/__name__/values")
        assert not [name for name in series if SECRET in name]

        # The alert rules loaded and evaluate without errors.
        def rules_ok() -> list[dict[str, Any]] | None:
            rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
            return rules if rules and all(rule["health"] == "ok" for rule in rules) else None

        rules = prometheus.wait_until("every alert rule evaluated with health ok", rules_ok)
        expected = {
            rule["alert"] for group in yaml.safe_load(ALERTS_FILE.read_text())["groups"] for rule in group["rules"]
        }
        assert {rule["name"] for rule in rules} == expected
        assert all(rule["type"] == "alerting" for rule in rules)

        # The dead letter fires its alert (its series was born at 1, which increase() alone misses).
        firing = prometheus.wait_until(
            "JwtgenDeadLetters firing",
            lambda: [a for a in prometheus.alerts().get("JwtgenDeadLetters", []) if a["state"] == "firing"],
        )
        assert firing[0]["labels"]["instance"] == instance and firing[0]["labels"]["severity"] == "warning"
        quiet = prometheus.alerts()
        for name in ("JwtgenInternalErrors", "JwtgenWorkerDown", "JwtgenConfigTableNotReady", "JwtgenFailureRatioHigh"):
            assert name not in quiet, f"{name} is {quiet[name][0]['state']} on a healthy worker"

        # Every dashboard query is valid PromQL and finds data for this worker.
        for expr in dashboard_queries():
            prometheus.wait_until(f"dashboard query has data: {expr}", lambda expr=expr: prometheus.query(expr), 30)

        # A stopped worker is seen down, and its alert goes pending (it fires after `for: 2m`).
        worker.stop()
        assert subprocess.run(healthcheck_command(worker.web_port), capture_output=True, timeout=30).returncode != 0
        prometheus.wait_value(f'up{{job="{JOB}"}}', 0, timeout=30)
        pending = prometheus.wait_until("JwtgenWorkerDown pending", lambda: prometheus.alerts().get("JwtgenWorkerDown"))
        assert pending[0]["state"] == "pending" and pending[0]["labels"]["instance"] == instance
    finally:
        prometheus.stop()
        if io is not None:
            io.close()
        worker.stop()
    assert "TOP-SECRET" not in worker.log()
    assert SECRET not in prometheus.log()
