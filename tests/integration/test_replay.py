"""`jwtgen record` and `jwtgen replay` as a user runs them: subprocesses against the session's real broker."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from joserfc.jwk import ECKey

from tests.support.kafkaio import KafkaIO, WorkerProcess
from tests.support.processes import JWTGEN, REPO, free_port
from worker.replay.recording import read_recording, write_lines
from worker.stream.connection import KafkaConnection
from worker.stream.topics import TopicNames, ensure_topics

pytestmark = pytest.mark.integration

GOLDEN_DIR = REPO / "tests" / "golden"
GOLDEN = GOLDEN_DIR / "golden.jsonl"
RECIPIENTS = GOLDEN_DIR / "recipients.json"


@pytest.fixture(scope="module")
def env(kafka: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("JWTGEN_")}
    return {**base, "KAFKA_BOOTSTRAP_SERVERS": kafka, "JWTGEN_KEK": (GOLDEN_DIR / "kek.json").read_text()}


def jwtgen(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JWTGEN, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def replay_json(*args: str, env: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    done = jwtgen("replay", *args, "--json", "--decryption-keys", str(RECIPIENTS), env=env)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def topics_of(kafka: str, prefix: str) -> set[str]:
    async def listing() -> set[str]:
        consumer = AIOKafkaConsumer(**KafkaConnection(kafka).client_options())
        await consumer.start()
        try:
            return {t for t in await consumer.topics() if t.startswith(f"{prefix}.")}
        finally:
            await consumer.stop()

    return asyncio.run(listing())


def test_the_golden_recording_replays_on_kafka_with_no_difference_and_agrees_with_offline(
    kafka: str, env: dict[str, str]
) -> None:
    started = time.monotonic()
    code, report, stderr = replay_json(str(GOLDEN), env=env)
    seconds = time.monotonic() - started
    assert code == 0, report["differences"][:10]
    assert report["passed"] and report["differences"] == []
    summary = report["summary"]
    assert summary["different"] == summary["missing"] == summary["extra"] == 0
    assert summary["identical"] + summary["equivalent"] == report["requests"] >= 250
    assert "starting a worker" in stderr
    # The worker's answers and the pure handler's agree verdict for verdict.
    code, offline, _ = replay_json(str(GOLDEN), "--offline", env=env)
    assert code == 0 and offline["by_topic"] == report["by_topic"] and offline["epochs"] == report["epochs"]
    # The replay's fresh prefix is gone again.
    assert report["prefix"].startswith("jwtgen-replay-") and topics_of(kafka, report["prefix"]) == set()
    print(f"golden replay on Kafka: {seconds:.1f}s")
    assert seconds < 60


def test_a_changed_key_on_kafka_reports_exactly_the_affected_requests(env: dict[str, str], tmp_path: Path) -> None:
    """es256-sec1 version 1 gets a new key in the recording; version 2 (after the update) keeps its own."""
    golden = read_recording(GOLDEN)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    new_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    records = []
    for record in golden.records:
        if record.topic == "configs" and record.key == b"es256-sec1" and record.value:
            config = orjson.loads(record.value)
            if config["version"] == 1:
                config["signature"]["private_key"] = new_key.decode()
                record = replace(record, value=orjson.dumps(config))
        records.append(record)
    changed = tmp_path / "changed.jsonl"
    changed.write_bytes(write_lines(records))
    expected = {
        r.key.decode()
        for r in golden.of("true")
        if r.key is not None and orjson.loads(r.value or b"")["config"] == {"id": "es256-sec1", "version": 1}
    }
    untouched = {
        r.key.decode()
        for r in golden.of("true")
        if r.key is not None and orjson.loads(r.value or b"")["config"] == {"id": "es256-sec1", "version": 2}
    }
    assert expected and untouched

    code, report, _ = replay_json(str(changed), env=env)
    assert code == 1 and not report["passed"]
    assert {d["execution_id"] for d in report["differences"]} == expected
    assert {d["status"] for d in report["differences"]} == {"different"}
    assert {d["reason"] for d in report["differences"]} == {
        "the recorded token does not verify with the recorded config's key"
    }
    assert new_key.decode() not in json.dumps(report)


async def _produce(kafka: str, topic: str, records: list[tuple[bytes | None, bytes | None, list[Any], int]]) -> None:
    producer = AIOKafkaProducer(**KafkaConnection(kafka).client_options(), acks="all")
    await producer.start()
    try:
        for key, value, headers, timestamp in records:
            await producer.send_and_wait(topic, key=key, value=value, headers=headers or None, timestamp_ms=timestamp)
    finally:
        await producer.stop()


async def _count(kafka: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(**KafkaConnection(kafka).client_options())
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert tps
        ends, starts = await consumer.end_offsets(tps), await consumer.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        await consumer.stop()


def test_replay_refuses_a_prefix_that_holds_records_unless_forced(kafka: str, env: dict[str, str]) -> None:
    prefix = f"t-busy-{uuid.uuid4().hex[:8]}"
    names = TopicNames(prefix)
    asyncio.run(ensure_topics(KafkaConnection(kafka), names, 8, 1))
    asyncio.run(_produce(kafka, names.requests, [(b"old", b"{}", [], int(time.time() * 1000))]))
    done = jwtgen("replay", str(GOLDEN), "--prefix", prefix, "--no-worker", env=env)
    assert done.returncode == 2
    assert f"prefix '{prefix}' already holds records ({prefix}.requests)" in done.stderr and "--force" in done.stderr
    assert asyncio.run(_count(kafka, names.requests)) == 1 and asyncio.run(_count(kafka, names.configs)) == 0


def test_record_keeps_every_byte_in_a_private_file_and_warns_once(
    kafka: str, env: dict[str, str], tmp_path: Path
) -> None:
    prefix = f"t-record-{uuid.uuid4().hex[:8]}"
    names = TopicNames(prefix)
    asyncio.run(ensure_topics(KafkaConnection(kafka), names, 8, 1))
    base = int(time.time() * 1000) - 60_000
    plain = {"id": "a", "version": 1, "signature": {"type": "symmetric", "alg": "HS256", "password": "TOP-SECRET-x"}}
    plain_b = {**plain, "id": "b", "encryption": {"type": "symmetric", "alg": "A256KW", "jwk": {"kty": "oct"}}}
    sealed = {**plain, "id": "c", "signature": {**plain["signature"], "password": {"sealed": "a.b.c.d.e"}}}
    configs = [(c["id"].encode(), orjson.dumps(c), [], base + i) for i, c in enumerate([plain, plain_b, sealed])]
    configs.append((b"a", orjson.dumps({**plain, "version": 2}), [], base + 3))
    configs.append((b"b", None, [], base + 4))  # a tombstone
    requests = [
        (
            b"r-1",
            b'{"execution_id": "r-1"}',
            [("traceparent", b"00-1"), ("bin", b"\xff\x00"), ("none", None)],
            base + 10,
        ),
        (b"\xc3\x28", b"\xff\xfe\x80 binary", [], base + 20),
        (None, b'{"execution_id": "r-3"}', [], base + 30_000),
    ]
    answers = [(b"r-1", b'{"execution_id": "r-1", "outcome": "True"}', [("traceparent", b"00-1")], base + 11)]
    asyncio.run(_produce(kafka, names.configs, configs))
    asyncio.run(_produce(kafka, names.requests, requests))
    asyncio.run(_produce(kafka, names.true, answers))

    out = tmp_path / "rec.jsonl"
    done = jwtgen("record", "--out", str(out), "--prefix", prefix, env=env)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "2 recorded config(s) hold plaintext key material" in warnings[0]
    assert "TOP-SECRET" not in done.stderr + done.stdout
    counts = "configs 5, requests 3, true 1, failure 0, deadletter 0"
    assert done.stdout.startswith(f"recorded 9 records ({counts}) of prefix '{prefix}'")
    recording = read_recording(out)
    got = {(r.topic, r.key, r.value, r.headers, r.timestamp) for r in recording.records}
    sent = {
        (topic, key, value, tuple(headers), timestamp)
        for topic, batch in (("configs", configs), ("requests", requests), ("true", answers))
        for key, value, headers, timestamp in batch
    }
    assert got == sent
    assert {r.timestamp_type for r in recording.records} == {"CreateTime"}

    # A window keeps every config up to --until, the requests in it, and only their answers.
    until = str((base + 15) / 1000)
    done = jwtgen("record", "--out", str(out), "--overwrite", "--prefix", prefix, "--until", until, env=env)
    assert done.returncode == 0, done.stderr
    windowed = read_recording(out)
    assert len(windowed.of("configs")) == 5 and [r.key for r in windowed.of("requests")] == [b"r-1"]
    assert [r.key for r in windowed.of("true")] == [b"r-1"]
    done = jwtgen("record", "--out", str(out), "--prefix", prefix, env=env)
    assert done.returncode == 1 and "exists" in done.stderr


def _racing_traffic(io: KafkaIO) -> list[str]:
    """Config updates published while requests for them are in flight, as an orchestrator would."""

    def config(config_id: str, version: int, signature: dict[str, Any]) -> dict[str, Any]:
        claims = {"issuer": "https://idp.example.com", "subject": "{{user.id}}"}
        store = {"variable": "jwt", "attributes": ["token", "kid"]}
        return {
            "id": config_id,
            "version": version,
            "ttl": 300,
            "claims": claims,
            "signature": signature,
            "store": store,
        }

    def requests(config_id: str, count: int, tag: str) -> list[dict[str, Any]]:
        return [
            {
                "execution_id": f"{tag}-{i}",
                "flow": {"type": "API"},
                "config": {"id": config_id},
                "store": {"user": {"id": f"u{i}"}},
            }
            for i in range(count)
        ]

    ec_key = ECKey.generate_key("P-256", private=True).as_dict(private=True)
    io.put_config(config("es", 1, {"type": "asymmetric", "key_type": "EC", "alg": "ES256", "private_key": ec_key}))
    io.put_config(config("hs", 1, {"type": "symmetric", "alg": "HS256", "kid": "hs", "password": "A" * 32}))
    time.sleep(1.0)
    sent: list[str] = []
    for phase in range(4):
        batch = requests("hs", 30, f"hs{phase}") + requests("es", 10, f"es{phase}")
        io.send_requests(batch)
        # The update goes out right behind the batch, and the next batch right behind it.
        signature = {"type": "symmetric", "alg": "HS256", "kid": "hs", "password": f"{phase}" * 32}
        io.put_config(config("hs", phase + 2, signature))
        racing = requests("hs", 30, f"race{phase}")
        io.send_requests(racing)
        sent += [r["execution_id"] for r in batch + racing]
    return sent


def test_record_traffic_with_racing_config_updates_then_replay_it_against_a_canary(
    kafka: str, env: dict[str, str], tmp_path: Path
) -> None:
    """The README's walkthrough on our own traffic: record a prefix, replay into a canary's (--no-worker)."""
    production, canary_prefix = f"t-prod-{uuid.uuid4().hex[:8]}", f"t-canary-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(production, kafka, free_port(), tmp_path / "production.log").start()
    try:
        io = KafkaIO(kafka, production).open()
        try:
            sent = _racing_traffic(io)
            io.wait_for(sent, timeout=60)
        finally:
            io.close()
    finally:
        worker.stop()
    recording = tmp_path / "day.jsonl"
    done = jwtgen("record", "--out", str(recording), "--prefix", production, env=env)
    assert done.returncode == 0, done.stderr
    assert "recorded 566 records (configs 6, requests 280, true 280" in done.stdout

    canary = WorkerProcess(canary_prefix, kafka, free_port(), tmp_path / "canary.log").start()
    try:
        code, report, stderr = replay_json(str(recording), "--prefix", canary_prefix, "--no-worker", env=env)
    finally:
        canary.stop()
    assert code == 0, report["differences"][:5]
    assert report["summary"] == {"identical": 240, "equivalent": 40, "different": 0, "missing": 0, "extra": 0}
    assert "starting a worker" not in stderr
    print(f"requests placed by their recorded answer's config version: {report['placed_by_recorded_answer']}")

    # One key changed in the recording: exactly the requests answered with that version are reported.
    day = read_recording(recording)
    used = {r.key: orjson.loads(r.value or b"")["config"] for r in day.of("true")}
    # The version most answers used (which ones the races let through differs from run to run).
    version = Counter(c["version"] for c in used.values() if c["id"] == "hs").most_common(1)[0][0]
    changed = []
    for record in day.records:
        config = orjson.loads(record.value or b"null") if record.topic == "configs" else None
        if config is not None and config["id"] == "hs" and config["version"] == version:
            config["signature"]["password"] = "Z" * 40
            record = replace(record, value=orjson.dumps(config))
        changed.append(record)
    (tmp_path / "changed.jsonl").write_bytes(write_lines(changed))
    code, report, _ = replay_json(str(tmp_path / "changed.jsonl"), "--offline", env=env)
    expected = {key.decode() for key, c in used.items() if key is not None and c == {"id": "hs", "version": version}}
    assert code == 1 and expected
    assert {d["execution_id"] for d in report["differences"]} == expected
