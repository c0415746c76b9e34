"""Test-side Kafka plumbing: start workers through `jwtgen`, publish, send, collect answers.

Shared by the integration tests and the benchmark; it talks to the worker only
through the wire contract (docs/contract.md: topics and JSON), as an upstream
orchestrator would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.support import processes
from tests.support.processes import JWTGEN, REPO

# The JSON Schema (schemas/<name>.schema.json) of the events on each answer topic.
SCHEMA_OF_TOPIC = {"true": "success", "failure": "failure", "deadletter": "deadletter"}


def load_schemas() -> dict[str, Any]:
    return {p.name.split(".")[0]: orjson.loads(p.read_bytes()) for p in (REPO / "schemas").glob("*.schema.json")}


def check_answer(schemas: dict[str, Any], kind: str, body: dict[str, Any]) -> None:
    """`body`, read from answer topic `kind` (true, failure, deadletter), matches that topic's schema."""
    jsonschema.validate(body, schemas[SCHEMA_OF_TOPIC[kind]])


def unique_prefix(name: str) -> str:
    return f"t-{name}-{uuid.uuid4().hex[:8]}"


@dataclass
class WorkerProcess:
    prefix: str
    bootstrap: str
    web_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 90.0) -> WorkerProcess:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "JWTGEN_TOPIC_PREFIX": self.prefix,
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        command = [*JWTGEN, "worker", "--web-port", str(self.web_port), "--web-host", "127.0.0.1"]
        self.proc = processes.spawn(command, self.log_path, cwd=REPO, env=env)
        try:
            processes.wait_ready(self.proc, self.serving, self.log_path, "worker", timeout, every=0.3)
        except RuntimeError:
            self.stop()
            raise
        return self

    def serving(self) -> bool:
        return self.health()[0] == 200 and self.assigned()

    def assigned(self) -> bool:
        # The worker has joined the group once Faust logs its assignment.
        return "Assigned" in self.log() or ("assigned" in self.log() and "partitions" in self.log())

    def log(self) -> str:
        return processes.read_log(self.log_path)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=2) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except OSError:
            return 0, b""

    def health(self) -> tuple[int, bytes]:
        return self.get("/healthz")

    def metrics(self) -> str:
        status, body = self.get("/metrics")
        assert status == 200, status
        return body.decode()

    def stop(self, timeout: float = 30.0) -> None:
        processes.stop(self.proc, timeout)


class KafkaIO:
    """Publishes configs and requests on one prefix and collects every answer by key."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        # The loop runs in its own thread all the time, so the clients'
        # background fetches and connections stay alive while a test blocks
        # (say, on starting a worker), as they would in a real orchestrator.
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="kafkaio", daemon=True)
        self._thread.start()
        self.answers: dict[str, list[tuple[str, dict[str, Any], list[tuple[str, bytes]]]]] = {}
        self.partitions: dict[str, list[tuple[int, int]]] = {}  # key -> (partition, partitions of its topic)
        self.partition_counts: dict[str, int] = {}
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        # Built once: jsonschema.validate re-checks the schema on every call (~15 ms).
        self.validators = {name: jsonschema.Draft202012Validator(schema) for name, schema in load_schemas().items()}

    def topic(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def open(self) -> KafkaIO:
        async def start() -> None:
            self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
            await self.producer.start()
            self.consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
            )
            await self.consumer.start()
            tps = []
            for name in ("true", "failure", "deadletter"):
                topic = self.topic(name)
                parts = None
                for _ in range(100):
                    await self.consumer._client.force_metadata_update()
                    parts = self.consumer.partitions_for_topic(topic)
                    if parts:
                        break
                    await asyncio.sleep(0.1)
                assert parts, f"topic {topic} was not created by the worker"
                self.partition_counts[topic] = len(parts)
                tps += [TopicPartition(topic, p) for p in parts]
            self.consumer.assign(tps)
            await self.consumer.seek_to_beginning(*tps)

        self.run(start())
        return self

    def close(self) -> None:
        async def stop() -> None:
            if self.producer:
                await self.producer.stop()
            if self.consumer:
                await self.consumer.stop()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def put_config(self, config: dict[str, Any] | None, config_id: str | None = None) -> None:
        """Publish one config under its id, or a tombstone for `config_id`."""
        key = config_id or (config or {})["id"]
        value = None if config is None else orjson.dumps(config)
        self.send_raw("configs", key.encode(), value)

    def put_configs(self, configs: list[dict[str, Any]]) -> None:
        """Publish many configs at once, each under its id."""
        self._send_all("configs", [(c["id"], c) for c in configs])

    def send_raw(
        self, name: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        assert self.producer is not None
        self.run(self.producer.send_and_wait(self.topic(name), key=key, value=value, headers=headers))

    def send_requests(self, requests: list[dict[str, Any]]) -> None:
        """Send many requests at once, each keyed by its execution id."""
        self._send_all("requests", [(r["execution_id"], r) for r in requests])

    def _send_all(self, name: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        async def send_all() -> None:
            assert self.producer is not None
            futures = [
                await self.producer.send(self.topic(name), key=key.encode(), value=orjson.dumps(value))
                for key, value in records
            ]
            await asyncio.gather(*futures)

        self.run(send_all())

    def send_request(self, request: dict[str, Any], headers: list[tuple[str, bytes]] | None = None) -> None:
        self.send_raw("requests", str(request["execution_id"]).encode(), orjson.dumps(request), headers)

    def _poll(self, timeout_ms: int = 200) -> None:
        assert self.consumer is not None
        batches = self.run(self.consumer.getmany(timeout_ms=timeout_ms))
        for tp, records in batches.items():
            kind = tp.topic.rsplit(".", 1)[1]
            for record in records:
                # A dead letter keeps the request's key, which need not be UTF-8.
                key = record.key.decode(errors="replace") if record.key is not None else ""
                headers = [(k, v) for k, v in (record.headers or ())]
                body = orjson.loads(record.value)
                # Every event the worker emits must match its JSON Schema.
                self.validators[SCHEMA_OF_TOPIC[kind]].validate(body)
                self.answers.setdefault(key, []).append((kind, body, headers))
                self.partitions.setdefault(key, []).append((tp.partition, self.partition_counts[tp.topic]))

    def wait_for(self, keys: list[str], timeout: float = 30.0) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every key's first answer as (kind, body); fails the test if one is missing."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(k in self.answers for k in keys):
            self._poll()
        missing = [k for k in keys if k not in self.answers]
        assert not missing, f"no answer for {len(missing)} of {len(keys)} keys, e.g. {missing[:3]}"
        return {k: (self.answers[k][0][0], self.answers[k][0][1]) for k in keys}

    def answer(self, key: str, timeout: float = 30.0) -> tuple[str, dict[str, Any]]:
        return self.wait_for([key], timeout)[key]

    def deadletters(self, timeout: float = 15.0, count: int = 1) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [body for answers in self.answers.values() for kind, body, _ in answers if kind == "deadletter"]
            if len(found) >= count:
                return found
            self._poll()
        raise AssertionError(f"fewer than {count} dead letters within {timeout}s")
