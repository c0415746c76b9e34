"""Prometheus metrics of one worker process.

Labels are outcome and error code only: never a config id, key id or any
value from a request, so no secret and no unbounded cardinality reaches them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

from worker.core.errors import ErrorCode

# The *_created series double what is exposed and no dashboard of ours reads them.
disable_created_metrics()

REGISTRY = CollectorRegistry()

ANSWERS = Counter(
    "jwtgen_answers",
    "Requests answered, by outcome (True, Failure, deadletter) and error code",
    ["outcome", "code"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "jwtgen_batch_size",
    "Requests handled per batch",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "jwtgen_request_seconds",
    "Time to build, sign and encrypt one token (excluding Kafka I/O)",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
    registry=REGISTRY,
)
CONFIGS = Gauge("jwtgen_configs", "Configs held in this worker's table", registry=REGISTRY)
CONFIGS_INVALID = Gauge(
    "jwtgen_configs_invalid",
    "Configs found invalid when they arrived (every rule but the RSA private key's, checked at first use)",
    registry=REGISTRY,
)
KAFKA_REACHABLE = Gauge(
    "jwtgen_kafka_reachable",
    "1 while this worker's probe of Kafka succeeds, 0 while Kafka is unreachable",
    registry=REGISTRY,
)
ASSIGNED_PARTITIONS = Gauge(
    "jwtgen_assigned_partitions", "Partitions of the requests topic assigned to this worker", registry=REGISTRY
)
CONFIG_COMPILATIONS = Counter(
    "jwtgen_config_compilations", "Configs compiled (validated, keys parsed)", registry=REGISTRY
)
CONFIG_TABLE_READY = Gauge(
    "jwtgen_config_table_ready", "1 once the config table has read the configs topic to its end", registry=REGISTRY
)
CONFIG_WAITS = Counter(
    "jwtgen_config_waits", "Batches that waited for the configs topic to catch up", registry=REGISTRY
)

# Every answer series exists from the start at 0, so rate() and increase()
# see the first dead letter or failure of a code instead of a new series at 1.
KAFKA_REACHABLE.set(1)  # the worker starts only once Kafka answered
ANSWERS.labels("True", "")
ANSWERS.labels("deadletter", "")
for _code in ErrorCode:
    ANSWERS.labels("Failure", _code.value)

CONTENT_TYPE = "text/plain; version=0.0.4"


def exposition() -> bytes:
    return generate_latest(REGISTRY)
