"""The comparison rules of a replay, on answers made by the real handler."""

from __future__ import annotations

from typing import Any

import orjson
from joserfc.jwk import ECKey

from tests.support.configs import HS256_SECRET, base_config
from worker.core import events, handler
from worker.core.configtable import ConfigTable
from worker.replay.compare import Report, Status, TokenChecker, compare_exchange
from worker.replay.plan import Exchange
from worker.replay.recording import Record
from worker.replay.report import render


def ec_p256() -> dict[str, Any]:
    return dict(ECKey.generate_key("P-256", private=True).as_dict(private=True))


EC_P256 = ec_p256()
STORE = {"user": {"id": "u-1", "email": "a@example.com", "roles": ["x"]}}
HEADERS = (("traceparent", b"00-1"),)


def config_record(config: dict[str, Any]) -> Record:
    return Record("configs", 0, 0, 1000, "CreateTime", config["id"].encode(), orjson.dumps(config))


def answer(config: dict[str, Any], store: dict[str, Any] = STORE, key: bytes = b"e-1", offset: int = 0) -> Record:
    table = ConfigTable()
    table.apply(config["id"].encode(), orjson.dumps(config))
    event = {"execution_id": key.decode(), "flow": {"type": "API"}, "config": {"id": config["id"]}, "store": store}
    value = orjson.dumps(event)
    ref = handler.RecordRef("p.requests", 0, offset, 1764355200.5, key, value)
    result = handler.answer(ref, events.parse_request(value), table)
    topic = {"True": "true", "Failure": "failure", "deadletter": "deadletter"}[result.route.value]
    return Record(topic, 0, offset, None, None, result.key, result.value, HEADERS)


def verdict(recorded: Record | None, replayed: Record | None, config: dict[str, Any] | None = None) -> Any:
    request = Record("requests", 0, 0, 1000, "CreateTime", b"e-1", b"{}")
    exchange = Exchange(0, request, b"e-1", "c", recorded, 0, config_record(config) if config else None)
    return compare_exchange(exchange, replayed, TokenChecker())


def es256(**store: Any) -> dict[str, Any]:
    return base_config(
        signature={"type": "asymmetric", "key_type": "EC", "alg": "ES256", "kid": "es", "private_key": EC_P256},
        store={"variable": "jwt", "attributes": ["token", "header"], **store},
    )


def test_processed_at_is_ignored_and_deterministic_answers_are_identical() -> None:
    config = base_config()
    first, second = answer(config), answer(config)
    assert verdict(first, second, config).status is Status.IDENTICAL


def test_a_deterministic_token_must_be_byte_identical() -> None:
    config = base_config()
    other = base_config(signature={**config["signature"], "password": HS256_SECRET[::-1]})
    result = verdict(answer(config), answer(other), config)
    assert result.status is Status.DIFFERENT
    assert result.path == "$.store_delta[0].values.token" and "HS256 is deterministic" in result.reason


def test_randomized_signatures_are_equivalent_when_header_and_claims_agree() -> None:
    config = es256()
    first, second = answer(config), answer(config)
    assert first.value != second.value  # ES256 signs with a random nonce
    result = verdict(first, second, config)
    assert result.status is Status.EQUIVALENT and not result.header_only


def test_randomized_signatures_with_other_claims_name_the_claim() -> None:
    config = es256()
    other_store = {"user": {**STORE["user"], "email": "b@example.com"}}
    result = verdict(answer(config), answer(config, other_store), config)
    assert result.status is Status.DIFFERENT
    assert result.path == "$.store_delta[0].values.token" and result.reason == "claims differ at $.email"


def test_a_token_the_recorded_config_did_not_sign_does_not_verify() -> None:
    config = es256()
    stranger = es256()
    stranger["signature"]["private_key"] = ec_p256()
    result = verdict(answer(stranger), answer(config), config)
    assert result.status is Status.DIFFERENT and result.path == "$.store_delta[0].values.token"
    assert result.reason == "the recorded token does not verify with the recorded config's key"


def test_jwe_headers_are_compared_without_their_per_token_members() -> None:
    config = base_config(
        signature=None,
        encryption={"type": "symmetric", "alg": "A256GCMKW", "kid": "gk", "jwk": {"kty": "oct", "k": "A" * 42 + "w"}},
        store={"variable": "jwt", "attributes": ["token", "header"]},
    )
    first, second = answer(config), answer(config)
    headers = [orjson.loads(r.value or b"")["store_delta"][0]["values"]["header"] for r in (first, second)]
    assert headers[0]["iv"] != headers[1]["iv"] and headers[0]["tag"] != headers[1]["tag"]
    assert verdict(first, second, config).status is Status.EQUIVALENT


def test_dead_letters_are_compared_by_reason_and_record_not_offset() -> None:
    def letter(reason: str, offset: int) -> Record:
        value = events.dead_letter(reason, "p.requests", 2, offset, b"k", b"[1]")
        return Record("deadletter", 0, offset, None, None, b"k", value, ())

    reason = "value is JSON list, not an object"
    assert verdict(letter(reason, 5), letter(reason, 9)).status is Status.EQUIVALENT
    result = verdict(letter("value is JSON list, not an object", 5), letter("something else", 5))
    assert result.status is Status.DIFFERENT and result.path == "$.reason"


def test_topic_headers_missing_and_extra() -> None:
    config = base_config()
    good = answer(config)
    failure = answer(config, {"user": {"id": "u-1"}})
    assert verdict(good, failure, config).path == "topic"
    assert verdict(good, Record(**{**good.__dict__, "headers": ()}), config).path == "headers"
    assert verdict(good, None, config).status is Status.MISSING
    assert verdict(None, good, config).status is Status.EXTRA
    assert verdict(None, None, config) is None


def test_same_json_in_other_bytes_is_a_difference_for_a_deterministic_answer() -> None:
    config = base_config()
    good = answer(config)
    body = orjson.loads(good.value or b"")
    reordered = {"outcome": body.pop("outcome"), **body}
    result = verdict(good, Record(**{**good.__dict__, "value": orjson.dumps(reordered)}), config)
    assert result.status is Status.DIFFERENT and result.path == "$" and "member order" in result.reason


def test_the_report_never_shows_a_secret() -> None:
    config = base_config()
    other = base_config(signature={**config["signature"], "password": "TOP-SECRET-" + "x" * 30})
    report = Report(requests=1)
    report.verdicts.append(verdict(answer(config), answer(other), config))
    text = render(report, "title")
    assert "FAIL: 1 different" in text and "e-1" in text and "$.store_delta[0].values.token" in text
    assert "TOP-SECRET" not in text and HS256_SECRET not in text and "eyJ" not in text
    assert not report.passed and report.as_json()["differences"][0]["execution_id"] == "e-1"
