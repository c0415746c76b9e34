"""worker.core.audit and the handler's audit events: one per True answer, none otherwise, never a value or a token."""

from __future__ import annotations

import hashlib
from typing import Any

import jsonschema
import orjson

from tests.support.configs import HS256_SECRET, base_config, request_for
from tests.support.kafkaio import load_schemas
from worker.core import events
from worker.core.configtable import ConfigTable
from worker.core.handler import RecordRef, Route, answer

SCHEMA = load_schemas()["audit"]


def table_with(*configs: dict[str, Any]) -> ConfigTable:
    table = ConfigTable()
    for config in configs:
        table.apply(config["id"].encode(), orjson.dumps(config))
    return table


def answer_to(table: ConfigTable, event: dict[str, Any], *, audit: bool = True, max_bytes: int = 1_000_000) -> Any:
    value = orjson.dumps(event)
    rec = RecordRef("p.requests", 0, 7, 1764355200.0, b"key-1", value)
    return answer(rec, events.parse_request(value), table, max_bytes, audit)


def config_with_jti() -> dict[str, Any]:
    config = base_config(store={"variable": "jwt", "attributes": ["token"]})
    config["claims"]["jti"] = True
    config["claims"]["aud"] = ["api", "{{user.id}}"]
    return config


def test_one_event_per_true_answer_with_the_token_hash_and_claim_names_only() -> None:
    result = answer_to(table_with(config_with_jti()), request_for("login-token", 3, execution_id="exec-1"))
    assert result.route is Route.TRUE and result.audit is not None
    event = orjson.loads(result.audit)
    jsonschema.validate(event, SCHEMA)
    body = orjson.loads(result.value)
    token = body["store_delta"][0]["values"]["token"]
    assert event["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    info = body["token_info"]
    assert {k: event[k] for k in ("alg", "enc", "kid", "jti", "iat", "exp")} == {**info, "enc": None}
    assert event["execution_id"] == "exec-1" and event["config"] == {"id": "login-token", "version": 3}
    assert (event["flow_id"], event["node_id"]) == ("checkout", "jwt-1")
    assert event["claims"] == ["iat", "iss", "sub", "aud", "exp", "jti", "email", "roles", "level"]
    text = result.audit.decode()
    for value in ("ada@example.com", "u-42", "https://idp.example.com", HS256_SECRET, token):
        assert value not in text


def test_no_event_for_failures_or_when_off() -> None:
    table = table_with(config_with_jti())
    failure = answer_to(table, request_for("missing", execution_id="exec-2"))
    assert failure.route is Route.FAILURE and failure.audit is None
    assert answer_to(table, request_for("login-token", 3), audit=False).audit is None


def test_no_event_when_the_answer_is_replaced_for_its_size() -> None:
    shrunk = answer_to(table_with(config_with_jti()), request_for("login-token", 3), max_bytes=600)
    assert shrunk.route is Route.FAILURE and shrunk.audit is None


def test_jti_and_exp_null_when_those_claims_are_off() -> None:
    config = base_config()
    config["claims"]["exp"] = False
    event = orjson.loads(answer_to(table_with(config), request_for("login-token", 3, node=None)).audit)
    jsonschema.validate(event, SCHEMA)
    assert event["jti"] is None and event["exp"] is None and event["node_id"] is None
