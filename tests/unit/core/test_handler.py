"""worker.core.handler: the node's decision per record, without Kafka.

Parsing, routing, config versions and the compiled-once key cache (worker.core.configtable).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import jsonschema
import orjson
import pytest

from tests.support.configs import base_config
from tests.support.handling import record, request, run, table_with
from worker.core import events
from worker.core.configtable import ConfigTable
from worker.core.handler import Route, answer


def test_success_answer_carries_token_info_and_store_delta() -> None:
    result, body = run(table_with(base_config()), orjson.dumps(request()))
    assert result.route is Route.TRUE and result.key == b"k"
    assert body["outcome"] == "True"
    assert body["config"] == {"id": "login-token", "version": 3}
    assert body["token_info"]["iat"] == 1764355200 and body["token_info"]["exp"] == 1764355200 + 3600
    assert body["store_delta"][0]["variable"] == "jwt"
    assert set(body["store_delta"][0]["values"]) == {"token", "exp"}


def test_iat_falls_back_to_the_record_timestamp() -> None:
    req = request()
    del req["issued_at"]
    _, body = run(table_with(base_config()), orjson.dumps(req))
    assert body["token_info"]["iat"] == 1764355200  # floor of the record's 1764355200.5


def test_answer_key_is_the_execution_id_when_the_record_has_none() -> None:
    result, _ = run(table_with(base_config()), orjson.dumps(request()), key=None)
    assert result.key == b"exec-1"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"\x00\x01garbage", "not valid JSON"),
        (b"[1, 2]", "not an object"),
        (orjson.dumps({"flow": {"type": "API"}}), "execution_id"),
        (orjson.dumps({"execution_id": "   "}), "execution_id"),
        (orjson.dumps({"execution_id": 42}), "execution_id"),
    ],
)
def test_unanswerable_records_become_dead_letters(value: bytes | None, reason: str) -> None:
    result, body = run(ConfigTable(), value, key=b"orig")
    assert result.route is Route.DEADLETTER and result.key == b"orig"
    assert reason in body["reason"]
    assert (body["topic"], body["partition"], body["offset"]) == ("p.requests", 3, 41)
    assert body["key_b64"] == base64.b64encode(b"orig").decode()
    assert body["value_b64"] == (None if value is None else base64.b64encode(value).decode())


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"flow": {"type": "Checkout"}}, "FLOW_TYPE_NOT_SUPPORTED", "flow.type"),
        ({"flow": None}, "MALFORMED_EVENT", "flow"),
        ({"config": {"version": 2}}, "MALFORMED_EVENT", "config.id"),
        ({"config": {"id": "login-token", "version": 0}}, "MALFORMED_EVENT", "config.version"),
        ({"config": {"id": "login-token", "version": True}}, "MALFORMED_EVENT", "config.version"),
        ({"store": "user=1"}, "MALFORMED_EVENT", "store"),
        ({"issued_at": -5}, "MALFORMED_EVENT", "issued_at"),
        ({"node": []}, "MALFORMED_EVENT", "node"),
    ],
)
def test_malformed_requests_fail_naming_the_field(
    overrides: dict[str, Any], code: str, field: str, schemas: dict[str, Any]
) -> None:
    result, body = run(table_with(base_config()), orjson.dumps(request(**overrides)))
    assert result.route is Route.FAILURE and result.code == code
    jsonschema.validate(body, schemas["failure"])  # the echo too: a version 0 is not echoed
    assert body["error"]["code"] == code and body["error"]["retryable"] is False
    assert body["error"]["message"].startswith(field)
    assert body["execution_id"] == "exec-1"


def test_missing_store_is_an_empty_store() -> None:
    config = base_config(claims={"iss": False, "sub": False})
    req = request()
    del req["store"]
    result, _ = run(table_with(config), orjson.dumps(req))
    assert result.route is Route.TRUE


def test_config_versions() -> None:
    table = table_with(base_config(version=3))
    assert run(table, orjson.dumps(request(version=None)))[0].route is Route.TRUE
    newer = run(table, orjson.dumps(request(version=4)))[1]["error"]
    assert newer["code"] == "CONFIG_NOT_FOUND" and newer["retryable"] is True
    older = run(table, orjson.dumps(request(version=2)))[1]["error"]
    assert older["code"] == "CONFIG_VERSION_MISMATCH" and older["retryable"] is False
    assert table.needs_newer("login-token", 4) and not table.needs_newer("login-token", 3)
    assert table.needs_newer("other", None)


def test_unknown_config_is_not_found() -> None:
    _, body = run(ConfigTable(), orjson.dumps(request()))
    assert body["error"]["code"] == "CONFIG_NOT_FOUND"
    assert body["config"] == {"id": "login-token", "version": 3}


def test_config_record_problems_are_config_invalid() -> None:
    table = ConfigTable()
    table.apply(b"bad-json", b"{nope")
    table.apply(b"not-object", b"[]")
    table.apply(b"wrong-id", orjson.dumps(base_config(id="other")))
    for config_id in ("bad-json", "not-object", "wrong-id"):
        _, body = run(table, orjson.dumps(request(config_id, version=None)))
        assert body["error"]["code"] == "CONFIG_INVALID", config_id
    assert table.summary() == (3, 3)


def test_key_is_parsed_once_per_config_version_and_replaced_by_a_new_one() -> None:
    table = table_with(base_config(version=1))
    for _ in range(5):
        assert run(table, orjson.dumps(request(version=1)))[0].route is Route.TRUE
    assert table.compilations == 1
    table.apply(b"login-token", orjson.dumps(base_config(version=2)))
    for _ in range(3):
        assert run(table, orjson.dumps(request(version=2)))[0].route is Route.TRUE
    assert table.compilations == 2


def test_invalid_config_is_compiled_once_and_fails_every_request() -> None:
    config = base_config()
    config["signature"]["password"] = "TOP-SECRET"  # far too short for HS256
    table = table_with(config)
    for _ in range(3):
        result, body = run(table, orjson.dumps(request()))
        assert result.code == "CONFIG_INVALID"
        assert "signature.password" in body["error"]["message"]
        assert "TOP-SECRET" not in result.value.decode()
    assert table.compilations == 0  # found when it arrived: never compiled


def test_tombstone_removes_the_config() -> None:
    table = table_with(base_config())
    table.apply(b"login-token", None)
    assert "login-token" not in table
    assert table.apply(None, b"{}") is None  # a keyless record cannot be addressed


def test_an_engine_bug_is_an_internal_failure_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.core import engine

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("-----BEGIN PRIVATE KEY----- secret material")

    monkeypatch.setattr(engine, "generate", explode)
    result, body = run(table_with(base_config()), orjson.dumps(request()))
    assert result.route is Route.FAILURE and result.code == "INTERNAL"
    assert "BEGIN PRIVATE KEY" not in body["error"]["message"]
    assert "RuntimeError" in body["error"]["message"]


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "overrides",
    [
        {"flow": {"type": "API", "x": deep(300)}},  # parses, but orjson cannot write it back
        {"flow": {"type": "Checkout", "x": deep(300)}},  # the same on the Malformed path
        {"node": {"x": deep(300)}, "config": {"id": "absent"}},
    ],
)
def test_an_answer_that_cannot_echo_the_request_still_answers(overrides: dict[str, Any]) -> None:
    value = json.dumps(request(**overrides)).encode()  # orjson itself cannot write this
    result = answer(record(value), events.parse_request(value), table_with(base_config()))
    body = orjson.loads(result.value)
    assert result.route in (Route.TRUE, Route.FAILURE)
    assert body["execution_id"] == "exec-1"


def test_json_that_orjson_refuses_is_still_answered() -> None:
    # 1e400 is valid JSON (beyond float range); orjson refuses it.
    value = b'{"execution_id": "exec-1", "flow": {"type": "API"}, "config": {"id": "x"}, "store": {"n": 1e400}}'
    result, body = run(ConfigTable(), value)
    assert result.route is Route.FAILURE and body["error"]["code"] == "CONFIG_NOT_FOUND"


def test_an_unwritable_execution_id_becomes_a_dead_letter() -> None:
    value = b'{"execution_id": "\\ud800", "flow": {"type": "API"}, "config": {"id": "x"}}'
    result = answer(record(value), events.parse_request(value), ConfigTable())
    assert result.route in (Route.FAILURE, Route.DEADLETTER)
    orjson.loads(result.value)


def test_issued_at_beyond_2_pow_53_is_malformed() -> None:
    result, body = run(table_with(base_config()), orjson.dumps(request(issued_at=2**60)))
    assert result.code == "MALFORMED_EVENT" and body["error"]["message"].startswith("issued_at")


def test_answers_over_the_size_limit_are_replaced_by_a_small_failure() -> None:
    config = base_config(
        claims={"iss": False, "sub": False, "custom": [{"key": "blob", "value": "{{user.blob}}", "type": "String"}]},
        store={"variable": "jwt", "attributes": ["token", "claims"]},
    )
    value = orjson.dumps(request(store={"user": {"blob": "x" * 600_000}}))
    result = answer(record(value), events.parse_request(value), table_with(config), max_bytes=1_000_000)
    body = orjson.loads(result.value)
    assert result.route is Route.FAILURE and len(result.value) < 2000
    assert body["error"]["code"] == "ANSWER_TOO_LARGE" and "over the 1000000-byte limit" in body["error"]["message"]


def test_dead_letters_over_the_size_limit_leave_the_value_in_its_topic() -> None:
    value = b"\xff" * 900_000  # not JSON; base64 would make it 1.2 MB
    result = answer(record(value), events.parse_request(value), ConfigTable(), max_bytes=1_000_000)
    body = orjson.loads(result.value)
    assert result.route is Route.DEADLETTER and body["value_b64"] is None
    assert "not copied" in body["reason"] and (body["partition"], body["offset"]) == (3, 41)
