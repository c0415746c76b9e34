"""Prometheus metrics of one worker process.

Labels are outcome, error code, algorithm (from the algorithm table) and the
requests topic's partitions: never a config id, key id or any value from a
request, so no secret and no unbounded cardinality reaches them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

from worker.core import algorithms
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
    "Time to build, sign and encrypt one token (excluding Kafka I/O), by algorithm (the signing alg, "
    "or the JWE alg of encryption-only tokens)",
    ["alg"],
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

# ----------------------------------------------------------------- consumer group, latency, key sets
# Lag uses kafka_exporter's names and labels, so its Grafana dashboard (7589)
# and lag rules written for it read the workers' own view unchanged.
CONSUMER_LAG = Gauge(
    "kafka_consumergroup_lag",
    "Records of an assigned requests partition not answered yet: high watermark minus the next offset to answer",
    ["consumergroup", "topic", "partition"],
    registry=REGISTRY,
)
CONSUMER_OFFSET = Gauge(
    "kafka_consumergroup_current_offset",
    "The next offset of an assigned requests partition this worker will answer",
    ["consumergroup", "topic", "partition"],
    registry=REGISTRY,
)
END_TO_END_SECONDS = Histogram(
    "jwtgen_end_to_end_seconds",
    "From a request record's timestamp to its answer being queued for sending",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    registry=REGISTRY,
)
IN_FLIGHT = Gauge("jwtgen_in_flight_requests", "Requests taken from Kafka and not yet answered", registry=REGISTRY)
REBALANCES = Counter(
    "jwtgen_rebalances",
    "Consumer-group rebalances this worker took part in (its first join included)",
    registry=REGISTRY,
)
JWKS_REQUESTS = Counter(
    "jwtgen_jwks_requests",
    "Key-set requests: scope 'all' (/jwks.json) or 'config' (/configs/{id}/jwks.json), and the HTTP status",
    ["scope", "status"],
    registry=REGISTRY,
)
for _scope, _status in (("all", "200"), ("all", "304"), ("config", "200"), ("config", "304"), ("config", "404")):
    JWKS_REQUESTS.labels(_scope, _status)

# What the alg label may be: a name of the algorithm table, nothing else.
ALG_LABELS = frozenset(alg.name for alg in (*algorithms.SIGNING, *algorithms.KEY_MANAGEMENT))


def alg_label(alg: str) -> str:
    return alg if alg in ALG_LABELS else "other"


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """`histogram.observe(v)` for every v, with one lock round per bucket hit rather than two per value.

    A batch of answers is observed at once (the hot path observes hundreds of
    values per batch); the series read exactly as with one observe per value.
    """
    if not values:
        return
    bounds = histogram._upper_bounds
    counts = [0] * len(bounds)
    for value in values:
        # The first bucket whose upper bound is >= value, as Histogram.observe picks it.
        counts[bisect_left(bounds, value)] += 1
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)
    histogram._sum.inc(sum(values))


CONTENT_TYPE = "text/plain; version=0.0.4"


def exposition() -> bytes:
    return generate_latest(REGISTRY)
