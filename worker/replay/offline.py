"""The replay without Kafka: the recording's requests through the pure handler, epoch by epoch.

The same `handler.answer` and `ConfigTable` the worker runs, fed in the
order the Kafka replay publishes, so both replays give the same verdicts.
"""

from __future__ import annotations

from collections.abc import Callable

from joserfc.jwk import Key

from worker.core import events, handler
from worker.core.configtable import ConfigTable
from worker.replay.plan import Plan
from worker.replay.recording import Record

ROUTE_TOPICS = {handler.Route.TRUE: "true", handler.Route.FAILURE: "failure", handler.Route.DEADLETTER: "deadletter"}
# Dead letters name the request's topic with its prefix; the comparison looks only at the part after it.
OFFLINE_PREFIX = "offline"


def answer_offline(
    plan: Plan,
    *,
    kek: Key | None = None,
    max_bytes: int = handler.DEFAULT_MAX_ANSWER_BYTES,
    on_answer: Callable[[int], None] | None = None,
) -> dict[int, Record]:
    """The answer to each exchange of the plan (by index), as the worker would give it."""
    table = ConfigTable(kek=kek)
    answers: dict[int, Record] = {}
    for epoch in plan.epochs:
        for config in epoch.configs:
            table.apply(config.key, config.value)
        for exchange in epoch.exchanges:
            request = exchange.request
            seconds = None if request.timestamp is None else request.timestamp / 1000.0
            ref = handler.RecordRef(
                f"{OFFLINE_PREFIX}.requests", request.partition, request.offset, seconds, request.key, request.value
            )
            result = handler.answer(ref, events.parse_request(request.value), table, max_bytes)
            answers[exchange.index] = Record(
                ROUTE_TOPICS[result.route], 0, exchange.index, None, None, result.key, result.value, request.headers
            )
            if on_answer is not None:
                on_answer(len(answers))
    return answers
