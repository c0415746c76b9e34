"""Node-execution events in, answers and dead letters out (docs/contract.md §3-§5).

Pure functions over bytes and dicts: the Kafka layer hands records in and
sends what comes out.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from worker.core import jsonio
from worker.core.errors import ErrorCode, NodeError

# The node's "Available in" list (docs/node.md).
FLOW_TYPES = frozenset(
    {"Authentication", "Admin", "Self Service", "API", "Consent", "Library", "Custom", "User Defined"}
)


class Request(NamedTuple):
    """A node-execution event whose fields have been checked.

    A NamedTuple, like every value made per request (handler.RecordRef, Answer,
    engine.Generated): as immutable as a frozen dataclass, whose `__init__`
    costs three times as much (an `object.__setattr__` per field).
    """

    execution_id: str
    flow: dict[str, Any]
    node: dict[str, Any]
    config_id: str
    config_version: int | None
    store: dict[str, Any]
    issued_at: int | None


@dataclass(frozen=True)
class Unanswerable:
    """A record that cannot be answered: it becomes a dead letter."""

    reason: str


@dataclass(frozen=True)
class Malformed:
    """A request with a usable execution id but otherwise broken: answered as Failure."""

    execution_id: str
    error: NodeError
    echo: dict[str, Any] = field(default_factory=dict)


# Times beyond 2^53 cannot be read exactly by JSON consumers that use doubles.
MAX_EPOCH_SECONDS = jsonio.MAX_SAFE_INT


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_request(value: bytes | None) -> Request | Malformed | Unanswerable:
    """Check a request record's value: a Request, or why it cannot be one."""
    if value is None:
        return Unanswerable("value is empty (a tombstone or null record)")
    try:
        event = jsonio.loads(value)
    except jsonio.NotUnicode as exc:
        # Answerable only when the execution id itself can be written back.
        return _malformed_beyond_json(exc.value, exc.path, str(exc), _not_unicode) or Unanswerable(
            f"value is not valid Unicode: {exc}"
        )
    except ValueError as exc:
        return _too_deep(value) or Unanswerable(f"value is not valid JSON: {exc}")
    if not isinstance(event, dict):
        return Unanswerable(f"value is JSON {type(event).__name__}, not an object")
    execution_id = event.get("execution_id")
    if not isinstance(execution_id, str) or not execution_id.strip():
        return Unanswerable("execution_id is missing or not a non-empty string")

    def malformed(message: str, code: ErrorCode = ErrorCode.MALFORMED_EVENT) -> Malformed:
        return Malformed(execution_id, NodeError(code, message), _echo(event))

    flow = event.get("flow")
    if not isinstance(flow, dict):
        return malformed("flow: must be an object with a 'type'")
    flow_type = flow.get("type")
    if not isinstance(flow_type, str):
        return malformed("flow.type: must be a string")
    node = event.get("node")
    if node is None:  # absent or null: no node details
        node = {}
    if not isinstance(node, dict):
        return malformed("node: must be an object")
    config = event.get("config")
    if not isinstance(config, dict):
        return malformed("config: must be an object with an 'id'")
    config_id = config.get("id")
    if not isinstance(config_id, str) or not config_id:
        return malformed("config.id: must be a non-empty string")
    version = config.get("version")
    if version is not None and (not jsonio.is_int(version) or version < 1):
        return malformed("config.version: must be an integer >= 1 when given")
    store = event.get("store", {})
    if store is None:
        store = {}
    if not isinstance(store, dict):
        return malformed("store: must be an object (the flow store)")
    issued_at = event.get("issued_at")
    if issued_at is not None and (not jsonio.is_int(issued_at) or not 0 <= issued_at <= MAX_EPOCH_SECONDS):
        return malformed("issued_at: must be epoch seconds (an integer from 0 to 2^53 - 1) when given")
    if flow_type not in FLOW_TYPES:
        return malformed(
            f"flow.type: '{flow_type}' is not one of {', '.join(sorted(FLOW_TYPES))}", ErrorCode.FLOW_TYPE_NOT_SUPPORTED
        )
    return Request(execution_id, flow, node, config_id, version, store, issued_at)


# How deep a document nested beyond every parser's limit is read to find its
# execution id and echo; anything deeper is cut (jsonio.prune).
_PRUNE_DEPTH = 64


def _echo(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "flow": event.get("flow") if isinstance(event.get("flow"), dict) else {},
        "node": event.get("node") if isinstance(event.get("node"), dict) else {},
        "config": _config_echo(event.get("config")),
    }


def _too_deep(value: bytes) -> Malformed | None:
    """A Failure for a JSON object nested deeper than any parser goes, when its execution id is usable."""
    pruned = jsonio.prune(value, _PRUNE_DEPTH)
    if pruned is None:
        return None
    try:
        event = jsonio.loads(pruned)
    except ValueError:
        return None

    return _malformed_beyond_json(event, None, f"nested deeper than {jsonio.MAX_DEPTH} levels", jsonio.holds_pruned)


def _not_unicode(part: Any) -> bool:
    return jsonio.lone_surrogate(part) is not None


def _malformed_beyond_json(
    event: Any, path: str | None, problem: str, fault: Callable[[Any], bool]
) -> Malformed | None:
    """MALFORMED_EVENT for a document read only in part (too deep, not Unicode); None without a usable execution id.

    `fault(part)` tells whether a part of the document is affected: such parts
    are not echoed, and the first top-level member affected names the problem.
    """
    if not isinstance(event, dict):
        return None
    execution_id = event.get("execution_id")
    if not isinstance(execution_id, str) or not execution_id.strip() or fault(execution_id):
        return None
    if path is None:
        path = next((_printable(key) for key, part in event.items() if fault(part)), "value")
    message = problem if problem.startswith(f"{path}:") else f"{path}: {problem}"
    echo = _echo({key: part for key, part in event.items() if not fault(part) and not fault(key)})
    return Malformed(execution_id, NodeError(ErrorCode.MALFORMED_EVENT, message), echo)


def _printable(key: object) -> str:
    return str(key).encode("utf-8", "backslashreplace").decode("utf-8")


def _config_echo(config: object) -> dict[str, Any]:
    if not isinstance(config, dict):
        return {"id": None, "version": None}
    cid = config.get("id")
    version = config.get("version")
    # Only a version that could be valid is echoed (the schema says >= 1, and a
    # consumer reading doubles needs <= 2^53 - 1); anything else is null.
    usable = isinstance(version, int) and not isinstance(version, bool) and 1 <= version <= jsonio.MAX_SAFE_INT
    return {"id": cid if isinstance(cid, str) else None, "version": version if usable else None}


def success(
    request: Request,
    version: int,
    token_info: dict[str, Any],
    store_delta: list[dict[str, Any]],
) -> bytes:
    return jsonio.dumps(
        {
            "execution_id": request.execution_id,
            "flow": request.flow,
            "node": request.node,
            "config": {"id": request.config_id, "version": version},
            "outcome": "True",
            "token_info": token_info,
            "store_delta": store_delta,
            "processed_at": now_ms(),
        }
    )


def failure(request: Request | Malformed, error: NodeError, version: int | None = None) -> bytes:
    if isinstance(request, Request):
        echo: dict[str, Any] = {
            "flow": request.flow,
            "node": request.node,
            "config": {"id": request.config_id, "version": request.config_version or version},
        }
    else:
        echo = request.echo
    return failure_without_echo(request.execution_id, error, echo)


def failure_without_echo(execution_id: str, error: NodeError, echo: dict[str, Any] | None = None) -> bytes:
    """A Failure answer; `echo` (flow, node, config) left out when absent."""
    echo = echo or {"flow": {}, "node": {}, "config": {"id": None, "version": None}}
    return jsonio.dumps(
        {
            "execution_id": execution_id,
            **echo,
            "outcome": "Failure",
            "error": error.as_dict(),
            "processed_at": now_ms(),
        }
    )


def dead_letter(reason: str, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> bytes:
    return jsonio.dumps(
        {
            "reason": reason,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key_b64": None if key is None else base64.b64encode(key).decode(),
            "value_b64": None if value is None else base64.b64encode(value).decode(),
            "at": now_ms(),
        }
    )
