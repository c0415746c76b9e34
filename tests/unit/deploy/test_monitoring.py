"""deploy/prometheus and deploy/grafana agree with the worker's own metrics.

Every metric name, label name and label value that a dashboard panel or an
alert rule uses must exist in the worker's exposition (worker/stream/metrics.py).
Where promtool is installed (`./dev test` installs Debian's prometheus package
as root), this also runs `promtool check config|rules` and `promtool test rules`
on alert scenarios; without it the data checks stand.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from tests.support.deploy import ALERTS_FILE, JOB, PROMETHEUS, alert_rules, dashboard, load_yaml, run
from worker.core.errors import ErrorCode
from worker.core.handler import Route
from worker.stream import metrics

ALERTS = {
    "JwtgenWorkerDown",
    "JwtgenConfigTableNotReady",
    "JwtgenDeadLetters",
    "JwtgenFailureRatioHigh",
    "JwtgenInternalErrors",
    "JwtgenLagGrowing",
    "JwtgenEndToEndLatencyHigh",
    "JwtgenKeySetUnavailable",
}
# Labels Prometheus adds to every scraped series, and the histogram bucket label.
TARGET_LABELS = {"job", "instance", "le"}


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
    board = dashboard()
    exprs = [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
    exprs += [var["definition"] for var in board["templating"]["list"] if var.get("type") == "query"]
    return exprs


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
    values = {
        "outcome": {route.value for route in Route},
        "code": {code.value for code in ErrorCode} | {""},
        "scope": {"all", "config"},
        "status": {"200", "304", "404"},
    }
    assert {"outcome", "code"} <= labels
    for expr in exprs:
        for name in re.findall(r"\b((?:jwtgen|kafka_consumergroup)_[a-z0-9_]+)\b", expr):
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
    board = dashboard()
    assert board["uid"] == "jwtgen"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    titles = " | ".join(panel["title"] for panel in board["panels"])
    for wanted in (
        *("by outcome", "by code", "Dead letters", "p50", "p99", "Batch size", "invalid", "waits", "ready"),
        *("lag per worker", "lag, total", "End-to-end latency p50 / p95 / p99", "Rebalances", "by algorithm"),
    ):
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
    },
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
        # KEY_UNAVAILABLE is retryable: one blip is not an outage, five minutes of it is.
        "name": "a key set stays unavailable",
        "interval": "1m",
        "input_series": [
            {"series": answers("w1", "Failure", "KEY_UNAVAILABLE"), "values": "_ _ 1+3x20"},
            {"series": answers("w2", "Failure", "KEY_UNAVAILABLE"), "values": "0x20"},
        ],
        "alert_rule_test": [
            {"eval_time": "4m", "alertname": "JwtgenKeySetUnavailable", "exp_alerts": []},  # pending
            {
                "eval_time": "9m",
                "alertname": "JwtgenKeySetUnavailable",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "job": "jwtgen", "instance": "w1"}}],
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


def lag(instance: str, partition: int) -> str:
    """A lag series of worker `instance` for one partition of group p.worker's requests topic."""
    labels = f'consumergroup="p.worker", topic="p.requests", partition="{partition}"'
    return f'kafka_consumergroup_lag{{job="jwtgen", instance="{instance}", {labels}}}'


def end_to_end(le: str) -> str:
    return f'jwtgen_end_to_end_seconds_bucket{{job="jwtgen", instance="w1", le="{le}"}}'


LAG_ALERT = {"severity": "warning", "job": "jwtgen", "consumergroup": "p.worker", "topic": "p.requests"}

RULE_SCENARIOS += [
    {
        "name": "the group's lag keeps growing",
        "interval": "1m",
        "input_series": [
            {"series": lag("w1", 0), "values": "0+100x40"},
            {"series": lag("w2", 1), "values": "0+100x40"},
        ],
        "alert_rule_test": [
            {"eval_time": "12m", "alertname": "JwtgenLagGrowing", "exp_alerts": []},  # pending
            {"eval_time": "25m", "alertname": "JwtgenLagGrowing", "exp_alerts": [{"exp_labels": LAG_ALERT}]},
        ],
    },
    {
        "name": "a partition moves to another worker while the lag grows",
        "interval": "1m",
        "input_series": [
            {"series": lag("w1", 0), "values": "0+100x8 stale"},
            {"series": lag("w2", 0), "values": "_x9 900+100x30"},
            {"series": lag("w2", 1), "values": "0+100x40"},
        ],
        "alert_rule_test": [
            {"eval_time": "30m", "alertname": "JwtgenLagGrowing", "exp_alerts": [{"exp_labels": LAG_ALERT}]},
        ],
    },
    {
        "name": "a large backlog being drained",
        "interval": "1m",
        "input_series": [{"series": lag("w1", 0), "values": "50000-1000x40"}],
        "alert_rule_test": [{"eval_time": "30m", "alertname": "JwtgenLagGrowing", "exp_alerts": []}],
    },
    {
        "name": "a small lag that grows stays under the floor",
        "interval": "1m",
        "input_series": [{"series": lag("w1", 0), "values": "0+20x40"}],
        "alert_rule_test": [{"eval_time": "40m", "alertname": "JwtgenLagGrowing", "exp_alerts": []}],
    },
    {
        # 90 of every 100 requests took 1 to 2.5 s: p99 is above 1 s.
        "name": "slow answers",
        "interval": "1m",
        "input_series": [
            {"series": end_to_end("0.5"), "values": "0+10x20"},
            {"series": end_to_end("1"), "values": "0+10x20"},
            {"series": end_to_end("2.5"), "values": "0+100x20"},
            {"series": end_to_end("+Inf"), "values": "0+100x20"},
        ],
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "JwtgenEndToEndLatencyHigh", "exp_alerts": []},  # pending
            {
                "eval_time": "10m",
                "alertname": "JwtgenEndToEndLatencyHigh",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "job": "jwtgen"}}],
            },
        ],
    },
    {
        "name": "fast answers",
        "interval": "1m",
        "input_series": [
            {"series": end_to_end("0.5"), "values": "0+100x20"},
            {"series": end_to_end("1"), "values": "0+100x20"},
            {"series": end_to_end("+Inf"), "values": "0+100x20"},
        ],
        "alert_rule_test": [{"eval_time": "10m", "alertname": "JwtgenEndToEndLatencyHigh", "exp_alerts": []}],
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
    done = run(["promtool", "check", "rules", str(ALERTS_FILE)])
    assert done.returncode == 0, done.stdout + done.stderr

    stripped = load_yaml(ALERTS_FILE)
    for group in stripped["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(stripped), encoding="utf-8")
    tests = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": RULE_SCENARIOS}
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(tests, sort_keys=False), encoding="utf-8")
    done = run(["promtool", "test", "rules", "alerts_test.yml"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_answer_too_large_is_not_an_internal_error() -> None:
    """The INTERNAL alert selects its code only: an answer over the size limit is the request's fault, not a bug."""
    [internal] = [rule for rule in alert_rules() if rule["alert"] == "JwtgenInternalErrors"]
    assert 'code="INTERNAL"' in internal["expr"] and ErrorCode.ANSWER_TOO_LARGE.value not in internal["expr"]
