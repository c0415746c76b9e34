"""One request record in, one answer out: the node's decision, without Kafka.

The Faust agent calls `answer` for each record of a batch and sends what it
returns; everything here is synchronous and testable on plain bytes.
"""

from __future__ import annotations

import logging
import time
import traceback
from enum import StrEnum
from typing import NamedTuple

from worker.core import audit as auditing
from worker.core import engine, events
from worker.core.configtable import ConfigTable
from worker.core.errors import ErrorCode, NodeError

log = logging.getLogger(__name__)


class Route(StrEnum):
    TRUE = "True"
    FAILURE = "Failure"
    DEADLETTER = "deadletter"


class RecordRef(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp_s: float | None  # the record's Kafka timestamp, epoch seconds
    key: bytes | None
    value: bytes | None


class Answer(NamedTuple):
    route: Route
    key: bytes | None
    value: bytes
    code: str = ""  # the error code of a Failure, the empty string otherwise
    seconds: float = 0.0  # time spent building the token
    alg: str = ""  # the algorithm of a True answer's token (signing alg, or the JWE alg when encryption-only)
    audit: bytes | None = None  # the audit event of a True answer, when asked for (same key)


# Kafka's default message.max.bytes is 1 048 588 for a whole record batch.
DEFAULT_MAX_ANSWER_BYTES = 1_000_000


def answer(
    record: RecordRef,
    parsed: events.Request | events.Malformed | events.Unanswerable,
    table: ConfigTable,
    max_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    audit: bool = False,
) -> Answer:
    """The answer to one parsed request record, at most `max_bytes` long. Never raises.

    Whatever goes wrong building an answer, the request still gets one: a
    Failure, else a Failure without the echoed flow and node, else a dead letter.
    With `audit`, a True answer (and only a True answer) carries its audit event.
    """
    try:
        result = _answer(record, parsed, table, audit)
        if len(result.value) <= max_bytes:
            return result
        return _shrunk(record, parsed, result, max_bytes, table)
    except _Unwritable:  # not a bug: what the request holds cannot be written back
        return _last_resort(record, parsed, "answer could not be written (the execution id cannot be encoded)")
    except Exception as exc:
        _log_internal(exc, parsed)
        return _last_resort(record, parsed, f"answer could not be written ({type(exc).__name__})")


class _Unwritable(Exception):
    """Not even a Failure without the echo can be written for this request."""


def _answer(
    record: RecordRef,
    parsed: events.Request | events.Malformed | events.Unanswerable,
    table: ConfigTable,
    audit: bool = False,
) -> Answer:
    if isinstance(parsed, events.Unanswerable):
        value = events.dead_letter(
            parsed.reason, record.topic, record.partition, record.offset, record.key, record.value
        )
        return Answer(Route.DEADLETTER, record.key, value, "")
    key = _key(record, parsed)
    if isinstance(parsed, events.Malformed):
        return _failure(key, parsed, parsed.error)
    try:
        started = time.perf_counter()
        compiled = table.resolve(parsed.config_id, parsed.config_version)
        iat = parsed.issued_at if parsed.issued_at is not None else _record_seconds(record)
        generated = engine.generate(compiled, store=parsed.store, iat=iat, execution_id=parsed.execution_id)
        seconds = time.perf_counter() - started
        value = events.success(parsed, compiled.version, generated.token_info, generated.store_delta)
        event = auditing.audit_event(parsed, compiled.version, generated) if audit else None
        return Answer(Route.TRUE, key, value, "", seconds, compiled.alg, event)
    except NodeError as error:
        if error.code is ErrorCode.INTERNAL:
            _log_internal(error.__cause__ or error, parsed)
        return _failure(key, parsed, error, table.version_of(parsed.config_id))
    except Exception as exc:
        _log_internal(exc, parsed)
        internal = NodeError(ErrorCode.INTERNAL, f"internal error ({type(exc).__name__}); the worker log has details")
        return _failure(key, parsed, internal, table.version_of(parsed.config_id))


def _shrunk(
    record: RecordRef,
    parsed: events.Request | events.Malformed | events.Unanswerable,
    result: Answer,
    max_bytes: int,
    table: ConfigTable,
) -> Answer:
    """An answer that fits: the request itself stays in its topic for anyone who needs it."""
    size = len(result.value)
    if not isinstance(parsed, events.Unanswerable):
        error = NodeError(
            ErrorCode.ANSWER_TOO_LARGE,
            f"answer: {size} bytes is over the {max_bytes}-byte limit (JWTGEN_MAX_ANSWER_BYTES); "
            "store fewer attributes or smaller claims",
        )
        version = table.version_of(parsed.config_id) if isinstance(parsed, events.Request) else None
        failure = _failure(_key(record, parsed), parsed, error, version)
        if len(failure.value) > max_bytes:  # the echoed flow and node alone are too large
            value = events.failure_without_echo(parsed.execution_id, error)
            failure = Answer(Route.FAILURE, failure.key, value, error.code.value)
        if len(failure.value) <= max_bytes:
            return failure
        why = f"answer of {size} bytes is over the {max_bytes}-byte limit and so is the execution id"
    else:
        why = parsed.reason
    reason = f"{why}; the {len(record.value or b'')}-byte value is not copied (over {max_bytes} bytes)"
    value = events.dead_letter(reason, record.topic, record.partition, record.offset, record.key, None)
    return Answer(Route.DEADLETTER, record.key, value, "")


def _last_resort(
    record: RecordRef, parsed: events.Request | events.Malformed | events.Unanswerable, why: str
) -> Answer:
    if not isinstance(parsed, events.Unanswerable):
        try:
            error = NodeError(ErrorCode.INTERNAL, f"internal error: {why}")
            value = events.failure_without_echo(parsed.execution_id, error)
            return Answer(Route.FAILURE, _key(record, parsed), value, error.code.value)
        except Exception:  # the execution id itself cannot be written: dead letter
            pass
    value = events.dead_letter(why, record.topic, record.partition, record.offset, record.key, None)
    return Answer(Route.DEADLETTER, record.key, value, "")


def _key(record: RecordRef, parsed: events.Request | events.Malformed) -> bytes:
    return record.key if record.key is not None else parsed.execution_id.encode("utf-8", errors="replace")


def _log_internal(exc: BaseException, parsed: object) -> None:
    # Log the type and the stack but never the exception text: a crypto
    # library's message may quote key material.
    # One record per request; the worker's log handler limits how often the
    # same line repeats (worker/stream/logs.py), so a sender cannot flood it.
    stack = "".join(traceback.format_tb(exc.__traceback__))
    execution = str(getattr(parsed, "execution_id", "?")).encode("utf-8", "backslashreplace").decode("utf-8")
    # The ids also travel as fields, for structured logs (JWTGEN_LOG_FORMAT=json).
    ids = {"execution_id": execution[:200], "config_id": getattr(parsed, "config_id", None)}
    log.error("internal error answering execution %s: %s\n%s", execution[:200], type(exc).__name__, stack, extra=ids)


def _failure(
    key: bytes, request: events.Request | events.Malformed, error: NodeError, version: int | None = None
) -> Answer:
    try:
        value = events.failure(request, error, version)
    except ValueError:  # the echoed flow or node cannot be written back: leave them out
        try:
            value = events.failure_without_echo(request.execution_id, error)
        except ValueError:
            raise _Unwritable from None
    return Answer(Route.FAILURE, key, value, error.code.value)


def _record_seconds(record: RecordRef) -> int:
    return int(record.timestamp_s) if record.timestamp_s is not None else int(time.time())
