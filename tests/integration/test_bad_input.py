"""A storm of malformed requests and configs among valid traffic: every record answered once, workers healthy.

Two workers read the same configs, so the invalid-config gauge must agree
between them whatever requests each one got.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.configs import hs256_config, request_for
from tests.support.kafkaio import KafkaIO, unique_prefix
from tests.support.opsio import health, problem_lines, worker

pytestmark = pytest.mark.integration

COPIES = 25  # of each small malformed kind
DEEP = 2000  # levels: beyond orjson's 1024 and Python's recursion limit


def event(execution_id: str, /, **fields: Any) -> dict[str, Any]:
    base = request_for("storm-ok")
    base["execution_id"] = execution_id
    base.update(fields)
    return base


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


# (name, value for a given execution id, answer kind, failure code)
Kind = tuple[str, Callable[[str], bytes | None], str, str]
KINDS: list[Kind] = [
    ("tombstone", lambda i: None, "deadletter", ""),
    ("empty", lambda i: b"", "deadletter", ""),
    ("not json", lambda i: b"{nope", "deadletter", ""),
    ("array", lambda i: b"[1, 2]", "deadletter", ""),
    ("string", lambda i: b'"text"', "deadletter", ""),
    ("number", lambda i: b"42", "deadletter", ""),
    ("null", lambda i: b"null", "deadletter", ""),
    ("invalid utf-8", lambda i: b'{"execution_id": "\xff\xfe"}', "deadletter", ""),
    ("no execution id", lambda i: dumps({"flow": {"type": "API"}}), "deadletter", ""),
    ("execution id null", lambda i: dumps(event(i, execution_id=None)), "deadletter", ""),
    ("execution id number", lambda i: dumps(event(i, execution_id=7)), "deadletter", ""),
    ("execution id empty", lambda i: dumps(event(i, execution_id="")), "deadletter", ""),
    ("execution id blank", lambda i: dumps(event(i, execution_id="   ")), "deadletter", ""),
    (
        "execution id lone surrogate",
        lambda i: b'{"execution_id": "\\ud800", "flow": {"type": "API"}}',
        "deadletter",
        "",
    ),
    ("deep without execution id", lambda i: b'{"store": ' + deep(DEEP) + b"}", "deadletter", ""),
    ("deep array", lambda i: deep(DEEP), "deadletter", ""),
    ("flow missing", lambda i: dumps({k: v for k, v in event(i).items() if k != "flow"}), "failure", "MALFORMED_EVENT"),
    ("flow string", lambda i: dumps(event(i, flow="x")), "failure", "MALFORMED_EVENT"),
    ("flow type missing", lambda i: dumps(event(i, flow={"id": "f"})), "failure", "MALFORMED_EVENT"),
    ("flow type number", lambda i: dumps(event(i, flow={"type": 3})), "failure", "MALFORMED_EVENT"),
    ("node string", lambda i: dumps(event(i, node="n")), "failure", "MALFORMED_EVENT"),
    (
        "config missing",
        lambda i: dumps({k: v for k, v in event(i).items() if k != "config"}),
        "failure",
        "MALFORMED_EVENT",
    ),
    ("config id missing", lambda i: dumps(event(i, config={"version": 1})), "failure", "MALFORMED_EVENT"),
    ("config id empty", lambda i: dumps(event(i, config={"id": ""})), "failure", "MALFORMED_EVENT"),
    ("version zero", lambda i: dumps(event(i, config={"id": "storm-ok", "version": 0})), "failure", "MALFORMED_EVENT"),
    (
        "version text",
        lambda i: dumps(event(i, config={"id": "storm-ok", "version": "2"})),
        "failure",
        "MALFORMED_EVENT",
    ),
    (
        "version bool",
        lambda i: dumps(event(i, config={"id": "storm-ok", "version": True})),
        "failure",
        "MALFORMED_EVENT",
    ),
    ("store list", lambda i: dumps(event(i, store=[1])), "failure", "MALFORMED_EVENT"),
    ("issued_at negative", lambda i: dumps(event(i, issued_at=-5)), "failure", "MALFORMED_EVENT"),
    ("issued_at huge", lambda i: dumps(event(i, issued_at=2**60)), "failure", "MALFORMED_EVENT"),
    ("issued_at text", lambda i: dumps(event(i, issued_at="now")), "failure", "MALFORMED_EVENT"),
    (
        "deep store",
        lambda i: dumps(event(i))[:-1] + b', "extra": {"x": ' + deep(DEEP) + b"}}",
        "failure",
        "MALFORMED_EVENT",
    ),
    (
        "deep flow",
        lambda i: (
            f'{{"execution_id": "{i}", "config": {{"id": "storm-ok"}}, "flow": {{"type": "API", "x": '.encode()
            + deep(DEEP)
            + b"}}"
        ),
        "failure",
        "MALFORMED_EVENT",
    ),
    (
        "lone surrogate in store",
        lambda i: dumps(event(i))[:-1] + b', "extra": "\\udc00"}',
        "failure",
        "MALFORMED_EVENT",
    ),
    ("flow type unknown", lambda i: dumps(event(i, flow={"type": "Checkout"})), "failure", "FLOW_TYPE_NOT_SUPPORTED"),
    ("unknown config", lambda i: dumps(event(i, config={"id": "storm-none"})), "failure", "CONFIG_NOT_FOUND"),
    (
        "old version",
        lambda i: dumps(event(i, config={"id": "storm-ok", "version": 1})),
        "failure",
        "CONFIG_VERSION_MISMATCH",
    ),
    ("invalid config", lambda i: dumps(event(i, config={"id": "storm-bad-hmac"})), "failure", "CONFIG_INVALID"),
    ("rsa key found late", lambda i: dumps(event(i, config={"id": "storm-bad-rsa"})), "failure", "CONFIG_INVALID"),
    ("variable missing", lambda i: dumps(event(i, store={"user": {"id": "u"}})), "failure", "VARIABLE_NOT_FOUND"),
    (
        "claim type",
        lambda i: dumps(event(i, store={"user": {"id": "u", "email": "e", "roles": "admin"}})),
        "failure",
        "CLAIM_TYPE_MISMATCH",
    ),
    ("1e400", lambda i: dumps(event(i))[:-1] + b', "extra": 1e400}', "true", ""),
    ("big integer", lambda i: dumps(event(i))[:-1] + b', "extra": 1180591620717411303424}', "true", ""),
]
ONCE: list[Kind] = [
    ("900 kB not json", lambda i: b"\xff" * 900_000, "deadletter", ""),
    (
        "answer too large",
        lambda i: dumps(event(i, config={"id": "storm-big"}, store={"user": {"id": "u", "blob": "x" * 600_000}})),
        "failure",
        "ANSWER_TOO_LARGE",
    ),
]

# Config id -> record value; all but the first are invalid, all but the RSA
# one are found so on arrival.
BAD_CONFIGS: dict[str, bytes] = {
    "c-not-json": b"{nope",
    "c-array": b"[]",
    "c-id-mismatch": dumps(hs256_config("other")),
    "c-no-keys": dumps(hs256_config("c-no-keys", signature=None)),
    "c-alg": dumps(hs256_config("c-alg", signature={"type": "symmetric", "alg": "HS999", "password": "x" * 40})),
    "c-none": dumps(hs256_config("c-none", signature={"type": "symmetric", "alg": "none", "password": "x" * 40})),
    "c-template": dumps(hs256_config("c-template", claims={"issuer": "i", "subject": "{{user..id}}"})),
    "c-unknown-field": dumps(hs256_config("c-unknown-field", colour="blue")),
    "c-version": dumps(hs256_config("c-version", version=0)),
    "c-ttl": dumps(hs256_config("c-ttl", ttl=-1)),
    "c-claim-type": dumps(
        hs256_config(
            "c-claim-type",
            claims={"issuer": "i", "subject": "s", "custom": [{"key": "a", "value": "1", "type": "Foo"}]},
        )
    ),
    "c-store": dumps(hs256_config("c-store", store={"variable": "jwt", "attributes": ["bogus"]})),
    "c-sig-type": dumps(hs256_config("c-sig-type", signature={"type": "weird", "alg": "HS256", "password": "x" * 40})),
    "c-claims": dumps(hs256_config("c-claims", claims=[1])),
    "c-ec-key": dumps(
        hs256_config(
            "c-ec-key", signature={"type": "asymmetric", "alg": "ES256", "key_type": "EC", "private_key": "garbage"}
        )
    ),
    "c-enc": dumps(
        hs256_config("c-enc", encryption={"type": "symmetric", "alg": "dir", "enc": "A1GCM", "password": "x" * 32})
    ),
    "storm-bad-hmac": dumps(
        hs256_config("storm-bad-hmac", signature={"type": "symmetric", "alg": "HS256", "password": "short"})
    ),
}
FOUND_LATE = {
    "storm-bad-rsa": dumps(
        hs256_config(
            "storm-bad-rsa",
            signature={"type": "asymmetric", "alg": "RS256", "key_type": "RSA", "private_key": "garbage"},
        )
    )
}


def gauge(text: str, name: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


def test_a_storm_of_bad_input_is_answered_once_per_record_and_leaves_the_workers_healthy(
    kafka: str, tmp_path: Path
) -> None:
    prefix = unique_prefix("storm")
    first = worker(prefix, kafka, tmp_path / "w1.log").start()
    second = worker(prefix, kafka, tmp_path / "w2.log").start()
    io = KafkaIO(kafka, prefix).open()
    unhealthy: list[tuple[int, int]] = []
    storm_over = threading.Event()

    def watch_health() -> None:
        while not storm_over.is_set():
            for proc in (first, second):
                status = proc.health()[0]
                if status != 200:
                    unhealthy.append((proc.web_port, status))
            storm_over.wait(0.5)

    watcher = threading.Thread(target=watch_health)
    try:
        io.put_config(hs256_config("storm-ok", version=2))
        io.put_config(
            hs256_config(
                "storm-big",
                claims={
                    "iss": False,
                    "sub": False,
                    "custom": [{"key": "b", "value": "{{user.blob}}", "type": "String"}],
                },
                store={"variable": "jwt", "attributes": ["token", "claims"]},
            )
        )
        for config_id, value in {**BAD_CONFIGS, **FOUND_LATE}.items():
            io.send_raw("configs", config_id.encode(), value)
        watcher.start()
        expected: dict[str, tuple[str, str, str]] = {}  # record key -> (kind name, answer kind, code)
        records: list[tuple[str, bytes | None]] = []
        for name, make, kind, code in KINDS * COPIES + ONCE:
            key = f"{name.replace(' ', '-')}-{uuid.uuid4().hex[:12]}"
            expected[key] = (name, kind, code)
            records.append((key, make(key)))
        for _ in range(500):
            valid = request_for("storm-ok")
            expected[valid["execution_id"]] = ("valid", "true", "")
            records.append((valid["execution_id"], dumps(valid)))
        records.sort(key=lambda _: uuid.uuid4().int)  # interleaved

        async def send_all() -> None:
            assert io.producer is not None
            futures = [await io.producer.send(io.topic("requests"), key=k.encode(), value=v) for k, v in records]
            for future in futures:
                await future

        io.run(send_all())
        io.wait_for(list(expected), timeout=180)
        storm_over.set()
        watcher.join(10)

        wrong = []
        for key, (name, kind, code) in expected.items():
            answers = io.answers[key]
            got_kind, body, _ = answers[0]
            got_code = body.get("error", {}).get("code", "") if got_kind == "failure" else ""
            if len(answers) != 1 or (got_kind, got_code) != (kind, code):
                wrong.append((name, len(answers), got_kind, got_code))
        assert not wrong, sorted(set(wrong))[:20]
        assert not unhealthy, unhealthy[:10]

        # The same records read, the same gauge on both workers, whoever answered what.
        counts = {gauge(proc.metrics(), "jwtgen_configs_invalid") for proc in (first, second)}
        assert counts == {float(len(BAD_CONFIGS))}, counts
        assert {health(proc)[1]["invalid_configs"] for proc in (first, second)} == {len(BAD_CONFIGS)}

        # A worker started afterwards, which answers nothing, counts the same and
        # sums the invalid configs up in one line instead of one line each.
        late = worker(prefix, kafka, tmp_path / "w3.log").start()
        try:
            assert gauge(late.metrics(), "jwtgen_configs_invalid") == len(BAD_CONFIGS)
            late_problems = problem_lines(late.log())
            summary = [line for line in late_problems if "config table caught up" in line]
            assert len(summary) == 1 and f"{len(BAD_CONFIGS)} invalid" in summary[0], late_problems
            assert not [line for line in late_problems if "is invalid:" in line], late_problems
        finally:
            late.stop()

        for proc in (first, second):
            text = proc.log()
            assert "Traceback" not in text and "internal error" not in text, text[-3000:]
            problems = problem_lines(text)
            # One line per invalid config found after start (or one summary), one
            # per config found invalid at first use; nothing per request.
            assert len(problems) <= len(BAD_CONFIGS) + len(FOUND_LATE) + 5, "\n".join(problems)
        print(f"\nstorm: {len(records)} records, {len(KINDS) + len(ONCE)} kinds, every one answered once")
    finally:
        storm_over.set()
        if watcher.is_alive():
            watcher.join(10)
        io.close()
        first.stop()
        second.stop()
