"""Worker throughput against a bare aiokafka loop doing the same work.

Both sides read the same requests from their own copy of the requests topic,
answer each one with the same pure handler (parse, resolve config, build
claims, sign) and produce the answers; the bare loop is the floor of what
Faust costs on top. Figures from one run are comparable with each other;
absolute numbers on a shared 2-core machine are not.

    .venv/bin/python -m bench.throughput                 # starts its own broker
    .venv/bin/python -m bench.throughput --bootstrap 127.0.0.1:9092 -n 20000 --alg RS256
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.kafkaio import WorkerProcess
from tests.support.processes import JWTGEN, REPO, free_port
from worker.core import events, handler, keygen
from worker.core.configtable import ConfigTable
from worker.stream.sink import BatchSink, Outgoing
from worker.stream.topics import TopicNames, ensure_topics


def config_for(alg: str) -> dict[str, Any]:
    if alg.startswith("HS"):
        signature: dict[str, Any] = {"type": "symmetric", "alg": alg, "kid": "bench", "password": "b" * 64}
    else:
        kty = "RSA" if alg[:2] in ("RS", "PS") else "EC"
        private, _ = keygen.generate_keypair(kty, None, None, alg, "bench")  # type: ignore[arg-type]
        signature = {"type": "asymmetric", "key_type": kty, "alg": alg, "kid": "bench", "private_key": private}
    return {
        "id": "bench",
        "version": 1,
        "ttl": 600,
        "claims": {
            "issuer": "https://idp.example.com",
            "subject": "{{user.id}}",
            "jti": True,
            "custom": [
                {"key": "email", "value": "{{user.email}}", "type": "String"},
                {"key": "roles", "value": "{{user.roles}}", "type": "Array"},
            ],
        },
        "signature": signature,
        "store": {"variable": "jwt", "attributes": ["token", "exp"]},
    }


def request_values(n: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        eid = f"bench-{i}-{uuid.uuid4().hex[:6]}"
        req = {
            "execution_id": eid,
            "flow": {"id": "bench", "type": "API"},
            "node": {"id": "jwt"},
            "config": {"id": "bench", "version": 1},
            "store": {"user": {"id": f"u-{i}", "email": f"u{i}@example.com", "roles": ["a", "b"]}},
            "issued_at": 1764355200,
        }
        out.append((eid.encode(), orjson.dumps(req)))
    return out


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v) for k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def count_answers(bootstrap: str, topics: list[str], n: int, timeout: float) -> float:
    """Wait until n answers are on `topics`; returns the seconds between the first and the last.

    Measured on the answers' own timestamps (set by the producer that sent
    them), so start-up and the polling of this counter do not count.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = []
        for topic in topics:
            for _ in range(100):
                await consumer._client.force_metadata_update()
                if consumer.partitions_for_topic(topic):
                    break
                await asyncio.sleep(0.1)
            tps += [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        first, last = float("inf"), 0.0
        deadline = time.monotonic() + timeout
        while seen < n and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                seen += len(records)
                for record in records:
                    first, last = min(first, record.timestamp), max(last, record.timestamp)
        if seen < n:
            raise TimeoutError(f"only {seen} of {n} answers within {timeout}s")
        return (last - first) / 1000
    finally:
        await consumer.stop()


async def bare_loop(bootstrap: str, names: TopicNames, config: dict[str, Any], n: int, batch: int) -> None:
    """The same work as the worker's agent, with nothing but aiokafka around it."""
    table = ConfigTable()
    table.apply(b"bench", orjson.dumps(config))
    consumer = AIOKafkaConsumer(
        names.requests,
        bootstrap_servers=bootstrap,
        group_id=f"{names.prefix}.bare",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all", max_batch_size=512 * 1024)
    await consumer.start()
    await producer.start()
    routes = {
        handler.Route.TRUE: names.true,
        handler.Route.FAILURE: names.failure,
        handler.Route.DEADLETTER: names.deadletter,
    }
    sink = BatchSink(lambda: producer, lambda exc: None)
    try:
        done = 0
        while done < n:
            batches = await consumer.getmany(timeout_ms=100, max_records=batch)
            outgoing: list[Outgoing] = []
            for records in batches.values():
                for rec in records:
                    ref = handler.RecordRef(
                        rec.topic, rec.partition, rec.offset, rec.timestamp / 1000, rec.key, rec.value
                    )
                    result = handler.answer(ref, events.parse_request(rec.value), table)
                    outgoing.append((routes[result.route], result.key, result.value, rec.headers))
            if outgoing:
                # The same sink as the worker; then flush and commit, as Faust does.
                await sink.send(outgoing)
                await producer.flush()
                await consumer.commit()
                done += len(outgoing)
    finally:
        await consumer.stop()
        await producer.stop()


async def run_side(
    bootstrap: str, side: str, config: dict[str, Any], values: list[tuple[bytes, bytes]], batch: int, tmp: Path
) -> float:
    names = TopicNames(f"bench-{side}-{uuid.uuid4().hex[:6]}")
    await ensure_topics(bootstrap, names, 8, 1)
    await produce(bootstrap, names.configs, [(b"bench", orjson.dumps(config))])
    # A backlog drained from the start: the producer of the requests is not measured.
    await produce(bootstrap, names.requests, values)  # type: ignore[arg-type]
    worker = None
    bare: asyncio.Task[None] | None = None
    if side == "worker":
        worker = WorkerProcess(
            names.prefix, bootstrap, free_port(), tmp / f"{names.prefix}.log", {"JWTGEN_BATCH_MAX": str(batch)}
        )
        await asyncio.to_thread(worker.start)
    else:
        bare = asyncio.create_task(bare_loop(bootstrap, names, config, len(values), batch))
    try:
        return await count_answers(bootstrap, [names.true], len(values), timeout=600)
    finally:
        if worker is not None:
            worker.stop()
        if bare is not None:
            bare.cancel()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.delete_topics([names.configs, names.requests, names.true, names.failure, names.deadletter])
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="use a running broker instead of starting one")
    parser.add_argument("-n", type=int, default=20000, help="requests per side")
    parser.add_argument("--alg", default="HS256", help="signing algorithm of the config")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jwtgen-bench-"))
    data_dir = tmp / "broker"
    bootstrap = args.bootstrap
    if bootstrap is None:
        port = free_port()
        subprocess.run(
            [*JWTGEN, "broker", "start", "--port", str(port), "--data-dir", str(data_dir)], cwd=REPO, check=True
        )
        bootstrap = f"127.0.0.1:{port}"
    try:
        config = config_for(args.alg)
        values = request_values(args.n)
        print(f"{args.n} requests, {args.alg}, batch {args.batch}, broker {bootstrap}", flush=True)
        results = {}
        for side in ("bare", "worker"):
            seconds = asyncio.run(run_side(bootstrap, side, config, values, args.batch, tmp))
            results[side] = args.n / seconds
            print(f"  {side:7s} {seconds:7.2f} s  {results[side]:9.0f} req/s", flush=True)
        # Pure engine cost, for scale: the same handler without Kafka.
        table = ConfigTable()
        table.apply(b"bench", orjson.dumps(config))
        started = time.perf_counter()
        for key, value in values:
            handler.answer(handler.RecordRef("t", 0, 0, 0.0, key, value), events.parse_request(value), table)
        pure = args.n / (time.perf_counter() - started)
        print(f"  engine  {pure:9.0f} req/s without Kafka (parse, claims, sign, answer)")
        print(f"worker/bare ratio: {results['worker'] / results['bare']:.2f}")
    finally:
        if args.bootstrap is None:
            subprocess.run([*JWTGEN, "broker", "stop", "--data-dir", str(data_dir)], cwd=REPO, check=False)


if __name__ == "__main__":
    sys.exit(main())
