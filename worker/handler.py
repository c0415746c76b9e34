"""One request record in, one answer out: the node's decision, without Kafka.

The Faust agent calls `answer` for each record of a batch and sends what it
returns; everything here is synchronous and testable on plain bytes.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from enum import StrEnum

from worker import engine, events
from worker.configtable import ConfigTable
from worker.errors import ErrorCode, NodeError

log = logging.getLogger(__name__)


class Route(StrEnum):
    TRUE = "True"
    FAILURE = "Failure"
    DEADLETTER = "deadletter"


@dataclass(frozen=True)
class RecordRef:
    topic: str
    partition: int
    offset: int
    timestamp_s: float | None  # the record's Kafka timestamp, epoch seconds
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Answer:
    route: Route
    key: bytes | None
    value: bytes
    code: str = ""  # the error code of a Failure, the empty string otherwise
    seconds: float = 0.0  # time spent building the token


def answer(
    record: RecordRef, parsed: events.Request | events.Malformed | events.Unanswerable, table: ConfigTable
) -> Answer:
    """The answer to one parsed request record. Never raises."""
    if isinstance(parsed, events.Unanswerable):
        value = events.dead_letter(
            parsed.reason, record.topic, record.partition, record.offset, record.key, record.value
        )
        return Answer(Route.DEADLETTER, record.key, value, "")
    key = record.key if record.key is not None else parsed.execution_id.encode()
    if isinstance(parsed, events.Malformed):
        return _failure(key, parsed, parsed.error)
    try:
        started = time.perf_counter()
        compiled = table.resolve(parsed.config_id, parsed.config_version)
        iat = parsed.issued_at if parsed.issued_at is not None else _record_seconds(record)
        generated = engine.generate(compiled, store=parsed.store, iat=iat, execution_id=parsed.execution_id)
        seconds = time.perf_counter() - started
        value = events.success(parsed, compiled.version, generated.token_info, generated.store_delta)
        return Answer(Route.TRUE, key, value, "", seconds)
    except NodeError as error:
        return _failure(key, parsed, error, table.version_of(parsed.config_id))
    except Exception as exc:
        # The worker must never die of an event. Log the type and the stack but
        # not the exception text: a crypto library's message may quote key material.
        stack = "".join(traceback.format_tb(exc.__traceback__))
        log.error("internal error answering execution %s: %s\n%s", parsed.execution_id, type(exc).__name__, stack)
        internal = NodeError(ErrorCode.INTERNAL, f"internal error ({type(exc).__name__}); the worker log has details")
        return _failure(key, parsed, internal, table.version_of(parsed.config_id))


def _failure(
    key: bytes, request: events.Request | events.Malformed, error: NodeError, version: int | None = None
) -> Answer:
    return Answer(Route.FAILURE, key, events.failure(request, error, version), error.code.value)


def _record_seconds(record: RecordRef) -> int:
    return int(record.timestamp_s) if record.timestamp_s is not None else int(time.time())
