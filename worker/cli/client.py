"""A small Kafka client for operators and tests: publish configs, send requests, await answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from worker.stream.connection import KafkaConnection
from worker.stream.topics import TopicNames


async def publish_config(
    kafka: KafkaConnection | str, names: TopicNames, config: dict[str, Any] | None, config_id: str
) -> None:
    """Publish a config (or, with None, its tombstone) keyed by its id."""
    producer = AIOKafkaProducer(**KafkaConnection.of(kafka).client_options(), acks="all")
    try:
        await producer.start()
        value = None if config is None else orjson.dumps(config)
        await producer.send_and_wait(names.configs, key=config_id.encode(), value=value)
    finally:
        await producer.stop()


async def request_and_wait(
    kafka: KafkaConnection | str,
    names: TopicNames,
    request: dict[str, Any],
    timeout: float = 30.0,
    headers: list[tuple[str, bytes]] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Send one node-execution event and return (topic, answer) once it is answered."""
    execution_id = str(request["execution_id"]).encode()
    options = KafkaConnection.of(kafka).client_options()
    consumer = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False)
    try:
        await consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in (names.true, names.failure)
            for p in await _partitions(consumer, topic)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # fix the start position before sending
            await consumer.position(tp)
        producer = AIOKafkaProducer(**options, acks="all")
        try:
            await producer.start()
            await producer.send_and_wait(names.requests, key=execution_id, value=orjson.dumps(request), headers=headers)
        finally:
            await producer.stop()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for tp, records in batches.items():
                for record in records:
                    if record.key == execution_id and record.value is not None:
                        return tp.topic, orjson.loads(record.value)
        raise TimeoutError(f"no answer for execution {execution_id.decode()} within {timeout:.0f}s")
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str, timeout: float = 10.0) -> list[int]:
    """The topic's partitions, refreshing metadata until the topic is known."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        await asyncio.sleep(0.2)
    raise TimeoutError(f"topic {topic} does not exist: start a worker first, it creates the topics")
