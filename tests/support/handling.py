"""The pure handler driven the way the Faust agent drives it: one record, one answer (worker.core.handler)."""

from __future__ import annotations

from typing import Any

import orjson

from tests.support.configs import request_for
from worker.core import events
from worker.core.configtable import ConfigTable
from worker.core.handler import Answer, RecordRef, answer


def record(value: bytes | None, key: bytes | None = b"k", timestamp: float | None = 1764355200.5) -> RecordRef:
    return RecordRef("p.requests", 3, 41, timestamp, key, value)


def request(
    config_id: str = "login-token", version: int | None = 3, execution_id: str = "exec-1", **fields: Any
) -> dict[str, Any]:
    """The event the handler tests start from: execution id "exec-1", the contract example's config."""
    return request_for(config_id, version, execution_id=execution_id, **fields)


def table_with(*configs: dict[str, Any]) -> ConfigTable:
    table = ConfigTable()
    for config in configs:
        table.apply(config["id"].encode(), orjson.dumps(config))
    return table


def run(table: ConfigTable, value: bytes | None, key: bytes | None = b"k") -> tuple[Answer, dict[str, Any]]:
    rec = record(value, key)
    result = answer(rec, events.parse_request(value), table)
    return result, orjson.loads(result.value)
