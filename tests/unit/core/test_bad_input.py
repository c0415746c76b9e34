"""The last edge cases of bad input: deep nesting, lone surrogates, answers over the size limit, invalid configs."""

from __future__ import annotations

import json
import logging
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.configs import base_config
from tests.support.handling import record, request, table_with
from tests.support.kafkaio import load_schemas
from worker.core import events, jsonio
from worker.core.config import ConfigInvalid, parse_config
from worker.core.configtable import ConfigTable, arrival_problems
from worker.core.handler import Route, answer

SCHEMAS = load_schemas()


def run(table: ConfigTable, value: bytes | None, max_bytes: int = 1_000_000) -> tuple[Any, dict[str, Any]]:
    result = answer(record(value), events.parse_request(value), table, max_bytes)
    body = orjson.loads(result.value)
    schema = {Route.TRUE: "success", Route.FAILURE: "failure", Route.DEADLETTER: "deadletter"}[result.route]
    jsonschema.validate(body, SCHEMAS[schema])
    return result, body


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def with_member(name: str, raw: bytes, **overrides: Any) -> bytes:
    """A valid request with one more top-level member whose JSON text is `raw`."""
    return orjson.dumps(request(**overrides))[:-1] + f', "{name}": '.encode() + raw + b"}"


# ------------------------------------------------------------------ deep nesting


@pytest.mark.parametrize("levels", [1025, 5000, 100_000])
def test_nesting_beyond_every_parser_with_a_usable_execution_id_is_malformed(levels: int) -> None:
    value = with_member("store", b'{"deep": ' + nested(levels) + b"}")
    result, body = run(table_with(base_config()), value)
    assert result.route is Route.FAILURE and result.code == "MALFORMED_EVENT"
    assert body["execution_id"] == "exec-1"
    assert body["error"]["message"] == "store: nested deeper than 1024 levels"
    # The shallow parts of the request are echoed as usual.
    assert body["flow"] == request()["flow"] and body["config"] == {"id": "login-token", "version": 3}


def test_a_deep_flow_is_not_echoed() -> None:
    value = b'{"execution_id": "e-1", "config": {"id": "c"}, "flow": {"type": "API", "x": ' + nested(3000) + b"}}"
    result, body = run(ConfigTable(), value)
    assert result.code == "MALFORMED_EVENT" and body["error"]["message"].startswith("flow: nested deeper")
    assert body["flow"] == {} and body["config"] == {"id": "c", "version": None}


def test_nesting_beyond_every_parser_without_an_execution_id_is_a_dead_letter() -> None:
    for value in (nested(3000), b'{"store": ' + nested(3000) + b"}", b'{"execution_id": ' + nested(3000) + b"}"):
        result, body = run(ConfigTable(), value)
        assert result.route is Route.DEADLETTER, value[:40]
        assert "not valid JSON" in body["reason"]


def test_nesting_that_orjson_refuses_but_python_reads_is_answered_as_before() -> None:
    # 1000 levels: within orjson's limit, so read normally and answered.
    value = with_member("extra", nested(1000))
    result, _ = run(table_with(base_config()), value)
    assert result.route is Route.TRUE


def test_prune_counts_brackets_outside_strings_only() -> None:
    text = b'{"a": "[[[{{{\\"]]]", "b": [[[1]]], "c": {"d": [2]}}'
    assert jsonio.prune(text, 4) is None  # nothing deeper than 4 once strings are skipped
    pruned = jsonio.prune(text, 2)
    assert pruned is not None
    assert orjson.loads(pruned) == {"a": '[[[{{{"]]]', "b": [jsonio.PRUNED], "c": {"d": jsonio.PRUNED}}


def test_prune_is_linear_on_long_strings() -> None:
    text = b'{"s": "' + b"x" * 2_000_000 + b'", "n": ' + nested(2000) + b"}"
    pruned = jsonio.prune(text, 4)
    assert pruned is not None and len(pruned) < len(text)


# ------------------------------------------------------------------ lone surrogates


def test_a_lone_surrogate_execution_id_is_a_dead_letter_without_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    value = b'{"execution_id": "\\ud800", "flow": {"type": "API"}, "config": {"id": "login-token"}}'
    result, body = run(table_with(base_config()), value)
    assert result.route is Route.DEADLETTER
    assert body["reason"] == "value is not valid Unicode: execution_id: not valid Unicode (a lone surrogate escape)"
    assert not caplog.records


@pytest.mark.parametrize(
    ("member", "path"),
    [
        ('{"user": {"id": "\\udc00"}}', "store.user.id"),
        ('{"user": {"\\ud800": 1}}', "store.user.\\ud800"),
        ('{"list": ["ok", "\\ud83d"]}', "store.list[1]"),
    ],
)
def test_a_lone_surrogate_elsewhere_is_malformed_naming_the_field(
    member: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    value = orjson.dumps(request())[:-1].replace(b'"store":', b'"store_was":') + b', "store": ' + member.encode() + b"}"
    result, body = run(table_with(base_config()), value)
    assert result.code == "MALFORMED_EVENT"
    assert body["error"]["message"] == f"{path}: not valid Unicode (a lone surrogate escape)"
    assert body["flow"] == request()["flow"]
    assert not caplog.records


def test_a_lone_surrogate_in_the_flow_is_not_echoed() -> None:
    value = b'{"execution_id": "e-2", "flow": {"type": "API", "x": "\\ud800"}, "config": {"id": "c", "version": 2}}'
    result, body = run(ConfigTable(), value)
    assert result.code == "MALFORMED_EVENT" and body["flow"] == {}
    assert body["config"] == {"id": "c", "version": 2}


def test_surrogate_pairs_are_text_not_faults() -> None:
    value = orjson.dumps(request())[:-1] + b', "emoji": "\\ud83d\\ude00"}'
    result, _ = run(table_with(base_config()), value)
    assert result.route is Route.TRUE


# ------------------------------------------------------------------ answers over the size limit


def big_claims_config() -> dict[str, Any]:
    return base_config(
        claims={"iss": False, "sub": False, "custom": [{"key": "blob", "value": "{{user.blob}}", "type": "String"}]},
        store={"variable": "jwt", "attributes": ["token", "claims"]},
    )


def test_an_answer_over_the_limit_is_answer_too_large_with_the_usual_echo() -> None:
    value = orjson.dumps(request(store={"user": {"blob": "x" * 600_000}}))
    result, body = run(table_with(big_claims_config()), value)
    assert result.route is Route.FAILURE and result.code == "ANSWER_TOO_LARGE"
    assert body["error"]["retryable"] is False
    assert body["flow"] == request()["flow"] and body["node"] == request()["node"]
    assert body["config"] == {"id": "login-token", "version": 3}
    assert len(result.value) < 2000


def test_when_even_the_echo_is_too_large_it_is_left_out() -> None:
    value = orjson.dumps(request(flow={"type": "API", "pad": "p" * 3000}, store={"user": {"blob": "x" * 9000}}))
    result, body = run(table_with(big_claims_config()), value, max_bytes=2500)
    assert result.code == "ANSWER_TOO_LARGE" and body["flow"] == {}
    assert len(result.value) <= 2500


def test_a_too_large_malformed_answer_is_answer_too_large_too() -> None:
    value = orjson.dumps(request(flow={"type": "Checkout", "pad": "p" * 5000}))
    result, body = run(ConfigTable(), value, max_bytes=3000)
    assert result.code == "ANSWER_TOO_LARGE" and body["execution_id"] == "exec-1"


def test_an_execution_id_over_the_limit_is_a_dead_letter() -> None:
    value = orjson.dumps(request(execution_id="e" * 5000, flow={"type": "Checkout"}))
    result, body = run(ConfigTable(), value, max_bytes=3000)
    assert result.route is Route.DEADLETTER and body["value_b64"] is None
    assert "over the 3000-byte limit" in body["reason"]


def test_answer_too_large_is_a_code_of_the_failure_schema() -> None:
    codes = SCHEMAS["failure"]["properties"]["error"]["properties"]["code"]["enum"]
    assert "ANSWER_TOO_LARGE" in codes


# ------------------------------------------------------------------ configs checked on arrival


def test_configs_are_found_invalid_on_arrival_whatever_the_requests() -> None:
    records = {
        "ok": base_config(id="ok"),
        "short": base_config(id="short", signature={"type": "symmetric", "alg": "HS256", "password": "short"}),
        "template": base_config(id="template", claims={"issuer": "i", "subject": "{{}}"}),
        "unknown": base_config(id="unknown", colour="blue"),
    }
    quiet, busy = ConfigTable(), ConfigTable()
    for table in (quiet, busy):
        for config_id, config in records.items():
            table.apply(config_id.encode(), orjson.dumps(config))
    for config_id in records:  # only `busy` gets requests
        answer(record(b""), events.parse_request(orjson.dumps(request(config_id, None))), busy)
    assert quiet.summary() == busy.summary() == (4, 3)
    assert quiet.compilations == 0
    assert quiet.problems_of("short")[0].startswith("signature.password")
    assert quiet.problems_of("ok") == []


def rsa_config(private_key: object, **signature: Any) -> dict[str, Any]:
    return base_config(
        signature={"type": "asymmetric", "alg": "RS256", "key_type": "RSA", "private_key": private_key, **signature}
    )


def test_an_rsa_private_key_is_left_for_the_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.core import keys

    def no_import(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an RSA private key was imported on arrival")

    monkeypatch.setattr(keys, "load_private", no_import)
    table = ConfigTable()
    table.apply(b"login-token", orjson.dumps(rsa_config("-----BEGIN PRIVATE KEY-----garbage")))
    table.apply(b"other", orjson.dumps(rsa_config("garbage", key_size="big") | {"id": "other", "ttl": 0}))
    assert table.summary() == (2, 1)  # `other` has a ttl problem besides its key
    assert table.problems_of("other") == ["ttl: must be an integer from 1 to 2^53 - 1, got 0"]


def test_an_rsa_key_problem_is_still_a_config_invalid_answer() -> None:
    table = table_with(rsa_config("garbage"))
    _, body = run(table, orjson.dumps(request()))
    assert body["error"]["code"] == "CONFIG_INVALID" and "signature.private_key" in body["error"]["message"]
    assert table.summary() == (1, 0)  # found at first use: not in the gauge, which must agree across workers


MUTATIONS = st.sampled_from(
    [
        ("ttl", -1),
        ("ttl", "x"),
        ("version", 0),
        ("claims", []),
        ("claims", {"issuer": 3}),
        ("claims", {"issuer": "i", "subject": "{{}}"}),
        ("signature", None),
        ("signature", {"type": "symmetric", "alg": "HS256", "password": "short"}),
        ("signature", {"type": "asymmetric", "alg": "RS256", "key_type": "RSA", "private_key": "garbage"}),
        ("signature", {"type": "asymmetric", "alg": "ES256", "key_type": "EC", "private_key": "garbage"}),
        ("signature", {"type": "asymmetric", "alg": "RS256", "key_type": "EC", "private_key": "garbage"}),
        ("signature", {"type": "asymmetric", "alg": "RS256", "private_key": "garbage"}),
        ("encryption", {"type": "symmetric", "alg": "dir", "enc": "A256GCM", "password": "p" * 32}),
        ("store", {"variable": "jwt", "attributes": ["public_jwk"]}),
        ("id", "renamed"),
        ("extra", 1),
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(MUTATIONS, max_size=4))
def test_what_arrival_finds_invalid_is_invalid(mutations: list[tuple[str, Any]]) -> None:
    config = base_config()
    for name, value in mutations:
        config[name] = value
    found = arrival_problems(config, "login-token")
    try:
        parse_config(config)
    except ConfigInvalid as exc:
        full = list(exc.problems)
    else:
        full = []
    # Never stricter than the full validation; as strict unless an RSA key was left for later.
    if found:
        assert full or config.get("id") != "login-token", found
    signature = config.get("signature")
    deferred = isinstance(signature, dict) and signature.get("key_type") not in ("EC", "OKP")
    if not deferred:
        assert set(found) == set(full) | ({found[0]} if config.get("id") != "login-token" else set())


def test_json_module_reads_what_the_fallback_reads() -> None:
    # The fallback parser is the standard library's: prune's output is plain JSON to it as well.
    pruned = jsonio.prune(b'{"a": [[[[1]]]]}', 2)
    assert pruned is not None and json.loads(pruned) == {"a": [jsonio.PRUNED]}


def test_a_version_the_schema_forbids_is_not_echoed() -> None:
    for version in (0, -3):
        result, body = run(table_with(base_config()), orjson.dumps(request(version=version)))
        assert result.code == "MALFORMED_EVENT" and body["config"] == {"id": "login-token", "version": None}
