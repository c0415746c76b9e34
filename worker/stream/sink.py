"""Answers out in record batches: one BatchBuilder per topic-partition per agent batch.

Sending record by record costs a future, a queue hop and a coroutine per
answer; appending to a batch is a plain call, and the batch is handed to the
producer with one await that only enqueues it. Partitions are chosen like the
Java client (murmur2 of the key), so answers land where any consumer expects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

Headers = Sequence[tuple[str, bytes]]
Outgoing = tuple[str, bytes | None, bytes, Headers]  # topic, key, value, headers


class BatchSink:
    def __init__(self, producer: Callable[[], AIOKafkaProducer], on_failure: Callable[[BaseException], None]) -> None:
        self._producer = producer
        self._on_failure = on_failure
        self._partitions: dict[str, list[int]] = {}
        self._partitioner = DefaultPartitioner()

    async def _partitions_of(self, producer: AIOKafkaProducer, topic: str) -> list[int]:
        known = self._partitions.get(topic)
        if known is None:
            found = await producer.partitions_for(topic)
            known = self._partitions[topic] = sorted(found)
        return known

    async def send(self, outgoing: Sequence[Outgoing]) -> None:
        producer = self._producer()
        builders: dict[tuple[str, int], Any] = {}
        for topic, key, value, headers in outgoing:
            partitions = self._partitions.get(topic) or await self._partitions_of(producer, topic)
            partition = self._partitioner(key, partitions, partitions)
            builder = builders.get((topic, partition))
            if builder is None:
                builder = builders[(topic, partition)] = producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None, headers=list(headers)) is None:
                # Full: hand it over and start the next one for this partition.
                await self._submit(producer, builder, topic, partition)
                builder = builders[(topic, partition)] = producer.create_batch()
                builder.append(key=key, value=value, timestamp=None, headers=list(headers))
        for (topic, partition), builder in builders.items():
            await self._submit(producer, builder, topic, partition)

    async def _submit(self, producer: AIOKafkaProducer, builder: Any, topic: str, partition: int) -> None:
        delivery = await producer.send_batch(builder, topic, partition=partition)
        delivery.add_done_callback(self._check_delivery)

    def _check_delivery(self, delivery: Any) -> None:
        if delivery.cancelled():
            return
        error = delivery.exception()
        if error is not None:
            # aiokafka has retried already; the owner stops the worker before
            # the offsets of the requests these answered are committed.
            self._on_failure(error)
