"""The deployment agrees with the worker's outage and shutdown behaviour; ANSWER_TOO_LARGE pages nobody."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.unit.test_deploy import PROMETHEUS, WEB_PORT, answers, k8s_docs, load_yaml, resolve_port, run
from worker.core.errors import ErrorCode
from worker.stream.settings import Settings


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


def test_answer_too_large_does_not_fire_the_internal_alert(tmp_path: Path) -> None:
    [internal] = [
        r for g in load_yaml(PROMETHEUS / "alerts.yml")["groups"] for r in g["rules"] if "INTERNAL" in r["expr"]
    ]
    assert 'code="INTERNAL"' in internal["expr"] and ErrorCode.ANSWER_TOO_LARGE.value not in internal["expr"]
    if not shutil.which("promtool"):  # ./dev test installs it; the expression check above stands without
        return
    stripped = load_yaml(PROMETHEUS / "alerts.yml")
    for group in stripped["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(stripped), encoding="utf-8")
    scenario = {
        "name": "answers over the size limit are the request's fault, not a bug",
        "interval": "1m",
        "input_series": [
            {"series": answers("w1", "Failure", "ANSWER_TOO_LARGE"), "values": "0 1 5 9 20x10"},
            {"series": answers("w1", "Failure", "INTERNAL"), "values": "0x14"},
        ],
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": "JwtgenInternalErrors", "exp_alerts": []},
            {"eval_time": "12m", "alertname": "JwtgenInternalErrors", "exp_alerts": []},
        ],
    }
    tests = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": [scenario]}
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(tests, sort_keys=False), encoding="utf-8")
    done = run(["promtool", "test", "rules", "alerts_test.yml"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
