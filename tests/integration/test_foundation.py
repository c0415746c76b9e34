"""The worker on a real broker: True answers checked by jwcrypto, each failure code, dead letters."""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from jwcrypto import jwt

from tests.support.configs import TOP_SECRET, hs256_config, request_for
from tests.support.kafkaio import KafkaIO, WorkerProcess, check_answer
from tests.support.keys import oct_jwk

pytestmark = pytest.mark.integration


def failure_of(io: KafkaIO, schemas: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    io.send_request(request)
    kind, body = io.answer(request["execution_id"])
    check_answer(schemas, kind, body)
    assert kind == "failure", body
    assert body["outcome"] == "Failure"
    assert TOP_SECRET not in orjson.dumps(body).decode()
    return body["error"]


def test_true_answer_verified_by_jwcrypto(io: KafkaIO, schemas: dict[str, Any]) -> None:
    io.put_config(hs256_config("login"))
    request = request_for("login", 1)
    io.send_request(request, headers=[("traceparent", b"00-abc-def-01")])
    kind, body = io.answer(request["execution_id"])
    check_answer(schemas, kind, body)
    assert kind == "true", body
    assert body["config"] == {"id": "login", "version": 1}
    assert body["token_info"] == {"alg": "HS256", "enc": None, "kid": "hs-1", "iat": 1764355200, "exp": 1764355800}
    [delta] = body["store_delta"]
    assert delta["variable"] == "jwt" and delta["frontend"] is True
    assert set(delta["values"]) == {"token", "exp"}

    token = jwt.JWT(jwt=delta["values"]["token"], key=oct_jwk(TOP_SECRET), algs=["HS256"], check_claims=False)
    claims = orjson.loads(token.claims)
    assert claims == {
        "iat": 1764355200,
        "exp": 1764355800,
        "iss": "https://idp.example.com",
        "sub": "u-42",
        "email": "ada@example.com",
        "roles": ["admin", "ops"],
        "level": 2,
    }
    header = orjson.loads(token.header)
    assert header == {"alg": "HS256", "typ": "JWT", "kid": "hs-1"}
    # Headers of the request travel with its answer.
    [(_, _, headers)] = io.answers[request["execution_id"]]
    assert ("traceparent", b"00-abc-def-01") in headers


def test_kafka_timestamp_is_iat_without_issued_at(io: KafkaIO) -> None:
    io.put_config(hs256_config("clock"))
    request = request_for("clock")
    del request["issued_at"]
    before = int(time.time())
    io.send_request(request)
    kind, body = io.answer(request["execution_id"])
    assert kind == "true", body
    assert before - 1 <= body["token_info"]["iat"] <= int(time.time()) + 1
    assert body["token_info"]["exp"] == body["token_info"]["iat"] + 600


def test_config_not_found_is_retryable(io: KafkaIO, schemas: dict[str, Any]) -> None:
    error = failure_of(io, schemas, request_for("never-published"))
    assert error["code"] == "CONFIG_NOT_FOUND" and error["retryable"] is True
    assert "never-published" in error["message"]


def test_newer_version_waits_then_fails(io: KafkaIO, schemas: dict[str, Any]) -> None:
    io.put_config(hs256_config("versions", version=2))
    error = failure_of(io, schemas, request_for("versions", 3))
    assert error["code"] == "CONFIG_NOT_FOUND" and error["retryable"] is True
    error = failure_of(io, schemas, request_for("versions", 1))
    assert error["code"] == "CONFIG_VERSION_MISMATCH" and error["retryable"] is False


def test_request_for_a_newer_version_waits_briefly_for_it(io: KafkaIO) -> None:
    io.put_config(hs256_config("rolling", version=1))
    request = request_for("rolling", 2)
    io.send_request(request)
    time.sleep(0.5)  # the orchestrator saw version 2 a moment before the worker
    io.put_config(hs256_config("rolling", version=2))
    kind, body = io.answer(request["execution_id"])
    assert kind == "true", body
    assert body["config"]["version"] == 2


def test_config_published_right_before_request_is_used(io: KafkaIO) -> None:
    # The request can overtake the config on its way to the worker; the
    # worker reads the configs topic to its end before it gives up.
    for version in (1, 2, 3):
        io.put_config(hs256_config("fresh", version=version))
        request = request_for("fresh", version)
        io.send_request(request)
        kind, body = io.answer(request["execution_id"])
        assert kind == "true", body
        assert body["config"]["version"] == version


def test_config_invalid_names_the_field_and_hides_the_secret(io: KafkaIO, schemas: dict[str, Any]) -> None:
    weak = hs256_config("weak")
    weak["signature"] = {"type": "symmetric", "alg": "HS512", "password": "TOP-SECRET-short"}
    io.put_config(weak)
    error = failure_of(io, schemas, request_for("weak"))
    assert error["code"] == "CONFIG_INVALID"
    assert "signature.password" in error["message"]
    assert "TOP-SECRET-short" not in error["message"]


def test_unparseable_config_record_is_invalid(io: KafkaIO, schemas: dict[str, Any]) -> None:
    io.send_raw("configs", b"garbled", b"{not json")
    error = failure_of(io, schemas, request_for("garbled"))
    assert error["code"] == "CONFIG_INVALID"


def test_tombstone_deletes_a_config(io: KafkaIO, schemas: dict[str, Any]) -> None:
    io.put_config(hs256_config("doomed"))
    request = request_for("doomed")
    io.send_request(request)
    assert io.answer(request["execution_id"])[0] == "true"
    io.put_config(None, "doomed")
    error = failure_of(io, schemas, request_for("doomed"))
    assert error["code"] == "CONFIG_NOT_FOUND"


def test_flow_type_not_supported(io: KafkaIO, schemas: dict[str, Any]) -> None:
    io.put_config(hs256_config("flows"))
    error = failure_of(io, schemas, request_for("flows", flow={"id": "x", "type": "Registration"}))
    assert error["code"] == "FLOW_TYPE_NOT_SUPPORTED"
    assert "flow.type" in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"config": {"version": 1}}, "config.id"),
        ({"store": ["not", "an", "object"]}, "store"),
        ({"flow": "Authentication"}, "flow"),
        ({"issued_at": "yesterday"}, "issued_at"),
    ],
)
def test_malformed_event(io: KafkaIO, schemas: dict[str, Any], change: dict[str, Any], field: str) -> None:
    error = failure_of(io, schemas, request_for("flows", **change))
    assert error["code"] == "MALFORMED_EVENT"
    assert error["message"].startswith(field)


def test_variable_not_found_and_type_mismatch(io: KafkaIO, schemas: dict[str, Any]) -> None:
    io.put_config(hs256_config("claims"))
    missing = request_for("claims", store={"user": {"id": "u-1", "roles": []}})
    error = failure_of(io, schemas, missing)
    assert error["code"] == "VARIABLE_NOT_FOUND"
    assert "user.email" in error["message"]
    wrong = request_for("claims", store={"user": {"id": "u-1", "email": "a@b.c", "roles": "admin"}})
    error = failure_of(io, schemas, wrong)
    assert error["code"] == "CLAIM_TYPE_MISMATCH"
    assert "roles" in error["message"]


def test_dead_letters_for_unanswerable_records(io: KafkaIO, schemas: dict[str, Any]) -> None:
    io.send_raw("requests", b"dl-1", b"\xff not json at all")
    io.send_raw("requests", b"dl-2", orjson.dumps({"flow": {"type": "API"}, "config": {"id": "x"}}))
    letters = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(letters) < 2:
        io._poll()
        for key in ("dl-1", "dl-2"):
            for kind, body, _ in io.answers.get(key, []):
                if kind == "deadletter":
                    letters[key] = body
    assert set(letters) == {"dl-1", "dl-2"}
    for key, body in letters.items():
        check_answer(schemas, "deadletter", body)
        assert body["topic"] == io.topic("requests")
        assert base64.b64decode(body["key_b64"]) == key.encode()
    assert base64.b64decode(letters["dl-1"]["value_b64"]) == b"\xff not json at all"
    assert "JSON" in letters["dl-1"]["reason"]
    assert "execution_id" in letters["dl-2"]["reason"]


def test_every_request_answered_exactly_once_in_a_burst(io: KafkaIO, schemas: dict[str, Any]) -> None:
    io.put_config(hs256_config("burst"))
    requests = [request_for("burst") for _ in range(300)]
    io.send_requests(requests)
    answers = io.wait_for([r["execution_id"] for r in requests], timeout=60)
    assert all(kind == "true" for kind, _ in answers.values())
    io._poll(500)
    assert all(len(io.answers[r["execution_id"]]) == 1 for r in requests)
    # Answers are partitioned like the Java client would (murmur2 of the key),
    # so consumers co-partitioned with the requests find them where expected.
    partitioner = DefaultPartitioner()
    for r in requests:
        [(partition, count)] = io.partitions[r["execution_id"]]
        assert count == 8
        assert partition == partitioner(r["execution_id"].encode(), list(range(count)), list(range(count)))


def test_healthz_and_metrics(worker: WorkerProcess, io: KafkaIO) -> None:
    status, body = worker.health()
    assert status == 200
    assert orjson.loads(body)["ready"] is True
    text = worker.metrics()
    assert 'jwtgen_answers_total{code="",outcome="True"}' in text
    assert "jwtgen_config_table_ready 1.0" in text
    assert TOP_SECRET not in text


def test_a_reply_to_header_cannot_make_the_worker_write_elsewhere(io: KafkaIO) -> None:
    # Faust answers agents that yield to the topic a Faust-Ag-ReplyTo header
    # names; ours does not yield, so the header is copied and nothing else.
    io.put_config(hs256_config("replyto"))
    request = request_for("replyto")
    io.send_request(request, headers=[("Faust-Ag-ReplyTo", io.topic("true").encode())])
    kind, _ = io.answer(request["execution_id"])
    assert kind == "true"
    io._poll(1000)
    assert "" not in io.answers, io.answers.get("")  # no keyless Faust reply record
    assert len(io.answers[request["execution_id"]]) == 1
