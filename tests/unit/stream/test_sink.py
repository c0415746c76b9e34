"""worker/stream/sink.py: answers appended at once and handed to the producer in the background, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, ProducerClosed
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from worker.stream.sink import BatchSink, murmur2, partition_for


class Builder:
    def __init__(self, capacity: int) -> None:
        self.records: list[tuple[bytes | None, bytes]] = []
        self.capacity = capacity
        self.closed = False

    def append(self, *, key: bytes | None, value: bytes, timestamp: None, headers: list[Any]) -> object | None:
        assert not self.closed
        if len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return object()

    def close(self) -> None:
        self.closed = True

    def record_count(self) -> int:
        return len(self.records)


class Producer:
    """aiokafka's rule: a batch for a partition is taken only once the previous one for it has left."""

    def __init__(self, partitions: int = 1, capacity: int = 1000) -> None:
        self.partitions = partitions
        self.capacity = capacity
        self.queued: dict[int, asyncio.Event] = {}  # partition -> set when its queued batch leaves
        self.sent: list[tuple[int, list[bytes]]] = []
        self.fail_with: BaseException | None = None
        self.delivery_error: BaseException | None = None

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> Builder:
        return Builder(self.capacity)

    async def send_batch(self, builder: Builder, topic: str, partition: int) -> asyncio.Future[None]:
        if self.fail_with is not None:
            raise self.fail_with
        assert builder.closed
        while partition in self.queued:
            await self.queued[partition].wait()
        self.queued[partition] = asyncio.Event()
        self.sent.append((partition, [value for _, value in builder.records]))
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.delivery_error is not None:
            delivery.set_exception(self.delivery_error)
        else:
            delivery.set_result(None)
        return delivery

    def leave(self, partition: int) -> None:
        """The sender took the partition's queued batch into a request."""
        self.queued.pop(partition).set()


def answers(*values: str) -> list[tuple[str, bytes, bytes, list[Any]]]:
    return [("t", b"k", value.encode(), []) for value in values]


def test_send_does_not_wait_for_the_producer_and_answers_gather_while_the_partition_is_busy() -> None:
    async def main() -> None:
        producer = Producer()
        failures: list[BaseException] = []
        sink = BatchSink(lambda: producer, failures.append)  # type: ignore[arg-type, return-value]
        await sink.send(answers("a1", "a2"))
        await asyncio.sleep(0)
        assert producer.sent == [(0, [b"a1", b"a2"])]
        # The first batch is still queued: sends return at once; b1's batch waits its turn, and
        # what comes meanwhile gathers in the next one.
        await asyncio.wait_for(sink.send(answers("b1")), 0.1)
        await asyncio.sleep(0.01)
        await asyncio.wait_for(sink.send(answers("c1", "c2")), 0.1)
        await asyncio.wait_for(sink.send(answers("d1")), 0.1)
        await asyncio.sleep(0.01)
        assert len(producer.sent) == 1 and sink.pending == 4
        draining = asyncio.ensure_future(sink.drain())
        await asyncio.sleep(0.01)
        assert not draining.done()
        producer.leave(0)
        await asyncio.sleep(0.01)
        assert not draining.done()  # c1, c2, d1 wait for b1's batch to leave
        producer.leave(0)
        await asyncio.wait_for(draining, 1)
        assert producer.sent == [(0, [b"a1", b"a2"]), (0, [b"b1"]), (0, [b"c1", b"c2", b"d1"])]
        assert sink.pending == 0 and failures == []

    asyncio.run(main())


def test_a_full_batch_goes_as_it_is_and_order_holds() -> None:
    async def main() -> None:
        producer = Producer(capacity=2)
        sink = BatchSink(lambda: producer, lambda exc: None)  # type: ignore[arg-type, return-value]
        await sink.send(answers("1", "2", "3", "4", "5"))

        async def sender() -> None:
            while len(producer.sent) < 3 or producer.queued:
                await asyncio.sleep(0.001)
                for partition in list(producer.queued):
                    producer.leave(partition)

        await asyncio.wait_for(asyncio.gather(sink.drain(), sender()), 1)
        assert [values for _, values in producer.sent] == [[b"1", b"2"], [b"3", b"4"], [b"5"]]

    asyncio.run(main())


def test_too_many_answers_waiting_make_send_wait() -> None:
    async def main() -> None:
        producer = Producer()
        sink = BatchSink(lambda: producer, lambda exc: None, max_pending=3)  # type: ignore[arg-type, return-value]
        await sink.send(answers("1"))
        await asyncio.sleep(0)  # handed over, queued
        sending = asyncio.ensure_future(sink.send(answers("2", "3", "4", "5")))
        await asyncio.sleep(0.01)
        assert not sending.done()  # 4 answers wait behind a queued batch
        producer.leave(0)
        await asyncio.wait_for(sending, 1)

    asyncio.run(main())


@pytest.mark.parametrize("error", [KafkaTimeoutError(), ValueError("broken")])
def test_a_hand_over_or_delivery_that_fails_is_reported(error: BaseException) -> None:
    async def main() -> list[BaseException]:
        failures: list[BaseException] = []
        producer = Producer()
        producer.fail_with = error
        sink = BatchSink(lambda: producer, failures.append)  # type: ignore[arg-type, return-value]
        await sink.send(answers("x"))
        await sink.drain()
        producer.fail_with, producer.delivery_error = None, error
        await sink.send(answers("y"))
        await sink.drain()
        await asyncio.sleep(0)
        return failures

    assert asyncio.run(main()) == [error, error]


def test_a_producer_closed_while_stopping_is_not_a_failure() -> None:
    async def main() -> list[BaseException]:
        failures: list[BaseException] = []
        producer = Producer()
        producer.fail_with = ProducerClosed()
        sink = BatchSink(lambda: producer, failures.append)  # type: ignore[arg-type, return-value]
        await sink.send(answers("x"))
        await sink.drain()
        return failures

    assert asyncio.run(main()) == []


@given(st.binary(max_size=200))
def test_murmur2_is_the_java_clients_as_aiokafka_computes_it(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@pytest.mark.parametrize("count", [1, 3, 8, 12])
def test_answers_land_where_the_java_default_partitioner_puts_their_key(count: int) -> None:
    partitions = list(range(count))
    keys = [f"exec-{i}".encode() for i in range(300)] + [b"", "é-ü".encode()]
    java = DefaultPartitioner()
    assert [partition_for(k, partitions) for k in keys] == [java(k, partitions, partitions) for k in keys]


# Kafka's own test vectors (clients' UtilsTest.testMurmur2), as Java's signed ints.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("key", list(JAVA_MURMUR2))
def test_murmur2_gives_the_java_clients_values(key: bytes) -> None:
    assert murmur2(key) - (1 << 32 if murmur2(key) >= 1 << 31 else 0) == JAVA_MURMUR2[key]
