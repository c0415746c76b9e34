"""worker/stream/sink.py: answers appended at once and handed to the producer in the background, in order."""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError, ProducerClosed
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition as KafkaTopicPartition

from worker.stream.sink import BatchSink, queue_at_once


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


class Batch:
    def __init__(self, builder: Builder, error: BaseException | None) -> None:
        self.builder = builder
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(None)


class Accumulator:
    """aiokafka's MessageAccumulator as the sink sees it: per partition, the batches the sender has not taken."""

    def __init__(self) -> None:
        self._closed = False
        self._exception: BaseException | None = None
        self._batches: defaultdict[KafkaTopicPartition, deque[Batch]] = defaultdict(deque)
        self.sent: list[tuple[int, list[bytes]]] = []
        self.delivery_error: BaseException | None = None
        self.changed = asyncio.Event()

    def _append_batch(self, builder: Builder, tp: KafkaTopicPartition) -> Batch:
        assert builder.closed
        batch = Batch(builder, self.delivery_error)
        self._batches[tp].append(batch)
        self.sent.append((tp.partition, [value for _, value in builder.records]))
        return batch


class Producer:
    """aiokafka's rule: a batch for a partition is taken only once the previous one for it has left."""

    def __init__(self, partitions: int = 1, capacity: int = 1000) -> None:
        self.partitions = partitions
        self.capacity = capacity
        self._message_accumulator = Accumulator()
        self.sent = self._message_accumulator.sent
        self.handed_over_by_task = 0

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> Builder:
        return Builder(self.capacity)

    async def send_batch(self, builder: Builder, topic: str, partition: int) -> asyncio.Future[None]:
        """As aiokafka's: raise when closed or failed, wait while a batch for the partition is queued, then append."""
        accumulator = self._message_accumulator
        self.handed_over_by_task += 1
        if accumulator._closed:
            raise ProducerClosed()
        if accumulator._exception is not None:
            raise accumulator._exception
        tp = KafkaTopicPartition(topic, partition)
        while accumulator._batches.get(tp):
            accumulator.changed.clear()
            await accumulator.changed.wait()
        return accumulator._append_batch(builder, tp).future

    def leave(self, partition: int) -> None:
        """The sender took the partition's queued batch into a request."""
        accumulator = self._message_accumulator
        accumulator._batches[KafkaTopicPartition("t", partition)].popleft()
        accumulator.changed.set()

    @property
    def queued(self) -> list[int]:
        return [tp.partition for tp, batches in self._message_accumulator._batches.items() if batches]


def answers(*values: str) -> list[tuple[str, bytes, bytes, list[Any]]]:
    return [("t", b"k", value.encode(), []) for value in values]


def test_send_does_not_wait_for_the_producer_and_answers_gather_while_the_partition_is_busy() -> None:
    async def main() -> None:
        producer = Producer()
        failures: list[BaseException] = []
        sink = BatchSink(lambda: producer, failures.append)  # type: ignore[arg-type, return-value]
        await sink.send(answers("a1", "a2"))
        # Nothing queued for the partition: handed over within send, without a task.
        assert producer.sent == [(0, [b"a1", b"a2"])] and sink.pending == 0
        assert producer.handed_over_by_task == 0
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
        assert producer.handed_over_by_task == 2  # b1's batch and the one that gathered behind it

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
        accumulator = producer._message_accumulator
        accumulator._exception = error  # the producer has failed: send_batch raises it
        sink = BatchSink(lambda: producer, failures.append)  # type: ignore[arg-type, return-value]
        await sink.send(answers("x"))
        await sink.drain()
        accumulator._exception, accumulator.delivery_error = None, error
        await sink.send(answers("y"))  # handed over at once, and its delivery fails
        await sink.drain()
        await asyncio.sleep(0)
        return failures

    assert asyncio.run(main()) == [error, error]


def test_a_producer_closed_while_stopping_is_not_a_failure() -> None:
    async def main() -> list[BaseException]:
        failures: list[BaseException] = []
        producer = Producer()
        producer._message_accumulator._closed = True
        sink = BatchSink(lambda: producer, failures.append)  # type: ignore[arg-type, return-value]
        await sink.send(answers("x"))
        await sink.drain()
        return failures

    assert asyncio.run(main()) == []


def test_answers_for_other_partitions_go_at_once_while_one_partition_waits() -> None:
    async def main() -> None:
        producer = Producer(partitions=8)
        sink = BatchSink(lambda: producer, lambda exc: None)  # type: ignore[arg-type, return-value]
        keys = [f"exec-{i}".encode() for i in range(40)]
        first = keys[0]
        java = DefaultPartitioner()
        busy = java(first, list(range(8)), list(range(8)))
        await sink.send([("t", first, b"first", [])])
        assert producer.queued == [busy]
        await sink.send([("t", key, key, []) for key in keys[1:]])
        waiting = [key for key in keys[1:] if java(key, list(range(8)), list(range(8))) == busy]
        # Every partition but the busy one has its batch with the producer already.
        assert sink.pending == len(waiting) > 0
        assert sorted(p for p, _ in producer.sent[1:]) == sorted(set(range(8)) - {busy})
        producer.leave(busy)
        await asyncio.wait_for(sink.drain(), 1)
        assert producer.sent[-1] == (busy, waiting) and sink.pending == 0

    asyncio.run(main())


def test_queue_at_once_uses_aiokafkas_accumulator_as_send_batch_does() -> None:
    """The aiokafka internals queue_at_once relies on, on a real (unstarted) producer."""

    async def main() -> None:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")
        accumulator = producer._message_accumulator
        tp0, tp1 = KafkaTopicPartition("t", 0), KafkaTopicPartition("t", 1)
        first, second, other = producer.create_batch(), producer.create_batch(), producer.create_batch()
        for builder in (first, second, other):
            builder.append(key=b"k", value=b"v", timestamp=None, headers=[])
        delivery = queue_at_once(producer, first, tp0)
        assert isinstance(delivery, asyncio.Future) and not delivery.done()
        assert [batch._builder for batch in accumulator._batches[tp0]] == [first]
        # The partition's batch has not left: this one waits, untouched, for send_batch in a task.
        assert queue_at_once(producer, second, tp0) is None
        assert second.append(key=b"k", value=b"more", timestamp=None, headers=[]) is not None  # still open
        assert queue_at_once(producer, other, tp1) is not None
        accumulator._closed = True
        assert queue_at_once(producer, producer.create_batch(), KafkaTopicPartition("t", 2)) is None
        # Closed, a batch is taken as it is: no more appends.
        assert first.append(key=b"k", value=b"late", timestamp=None, headers=[]) is None

    asyncio.run(main())
