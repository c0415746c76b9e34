"""worker/stream/fetchloop.py: Faust's fetch loop with one wait per fetched batch, on a fake consumer."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import mode
from faust.types import TP

from worker.stream import fetchloop

TOPIC = "p.requests"


class Message:
    def __init__(self, partition: int, offset: int) -> None:
        self.topic, self.partition, self.offset = TOPIC, partition, offset
        self.generation_id = 0  # set from the consumer's generation as Faust builds the message


class Diag:
    def set_flag(self, flag: str) -> None: ...
    def unset_flag(self, flag: str) -> None: ...


class Acks:
    def acks_enabled_for(self, topic: str) -> bool:
        return True


class FakeApp:
    should_stop = False
    topics = Acks()
    consumer_generation_id = 0


class InOrder:
    """Faust's scheduler takes the partitions in turn; the fake's fetches are already in the order to deliver."""

    def iterate(self, records: list[Message]) -> Iterator[tuple[TP, Message]]:
        for message in records:
            yield TP(TOPIC, message.partition), message


class FakeConsumer(mode.Service):
    """What fetchloop.drain uses of Faust's Consumer; `fetches` are the batches its fetches return, in turn."""

    consumer_stopped_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, fetches: list[list[Message]], commit_every: int | None = None, partitions: int = 2) -> None:
        super().__init__()
        self.fetches = fetches
        self._commit_every = commit_every
        self._n_acked = 0
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self.diag = Diag()
        self.app = FakeApp()
        self.transport = self
        self.suspend_flow = asyncio.Event()
        self.flow_active = True
        self.assigned = {TP(TOPIC, p) for p in range(partitions)}
        self.active = set(self.assigned)
        self.delivered: list[tuple[int, int]] = []
        self.commits: list[tuple[int, int]] = []  # records delivered when each commit began, and when it ended
        self.committing = 0
        self.overlapped = False
        self.commit_seconds = 0.0
        self.fetch_seconds = 0.0
        self.fetches_cancelled = 0
        self.timeouts: list[float] = []
        self.gaps: list[tuple[TP, int, int]] = []
        self.on_deliver: Any = None
        self.scheduler = InOrder()
        self._buffered_partitions: set[TP] = set()
        self.seeks = 0

    def assignment(self) -> set[TP]:
        return self.assigned

    def _get_active_partitions(self) -> set[TP]:
        return self.active

    async def _wait_next_records(self, timeout: float) -> tuple[list[Message] | None, set[TP]]:
        self.timeouts.append(timeout)
        while self.suspend_flow.is_set():  # Faust waits for the flow to resume before it fetches
            await asyncio.sleep(0.005)
        try:
            await asyncio.sleep(self.fetch_seconds)  # the fetch: a round trip to the broker
        except asyncio.CancelledError:
            self.fetches_cancelled += 1
            raise
        if not self.fetches:
            await asyncio.sleep(0.05)  # let a commit under way finish
            self._stopped.set()  # the fake's end: stop the loop
            return None, self.active
        return self.fetches.pop(0), self.active

    def _to_message(self, tp: TP, record: Message) -> Message:
        record.generation_id = self.app.consumer_generation_id
        return record

    async def perform_seek(self) -> None:
        self.seeks += 1

    async def callback(self, message: Message) -> None:
        self.delivered.append((message.partition, message.offset))
        self._n_acked += 1  # as if the stream took and answered it at once
        if self.on_deliver is not None:
            self.on_deliver(self)

    async def commit(self) -> bool:
        self.overlapped |= self.committing > 0
        self.committing += 1
        began = len(self.delivered)
        await asyncio.sleep(self.commit_seconds)  # a flush and a round trip to the broker
        self.committing -= 1
        self.commits.append((began, len(self.delivered)))
        return True

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        self.gaps.append((tp, offset_from, offset_to))


def run(consumer: FakeConsumer, drained: asyncio.Event | None = None) -> None:
    async def main() -> None:
        fetcher = mode.Service()
        await asyncio.wait_for(fetchloop.drain(consumer, fetcher, drained or asyncio.Event()), 10)

    asyncio.run(main())


def run_beside(consumer: FakeConsumer, meanwhile: Callable[[], Awaitable[None]]) -> None:
    """The fetch loop until the fake's fetches run out, with `meanwhile` (a rebalance, say) running beside it."""

    async def main() -> None:
        beside = asyncio.ensure_future(meanwhile())
        await asyncio.wait_for(fetchloop.drain(consumer, mode.Service(), asyncio.Event()), 10)
        await beside

    asyncio.run(main())


def batch(partition: int, offsets: range) -> list[Message]:
    return [Message(partition, offset) for offset in offsets]


def test_every_record_is_delivered_in_order_and_read_offsets_follow() -> None:
    consumer = FakeConsumer([batch(0, range(0, 250)) + batch(1, range(0, 10)), batch(0, range(250, 260))])
    run(consumer)
    assert consumer.delivered == [(0, o) for o in range(250)] + [(1, o) for o in range(10)] + [
        (0, o) for o in range(250, 260)
    ]
    assert consumer._read_offset[TP(TOPIC, 0)] == 259 and consumer._read_offset[TP(TOPIC, 1)] == 9
    assert consumer.timeouts[0] == fetchloop.FETCH_SECONDS


def test_a_commit_every_commit_every_acks_runs_beside_the_delivery_one_at_a_time() -> None:
    fetches = [batch(i % 2, range(i // 2 * 100, i // 2 * 100 + 100)) for i in range(8)]
    consumer = FakeConsumer(fetches, commit_every=100)
    consumer.commit_seconds = 0.003
    consumer.fetch_seconds = 0.002

    run(consumer)
    assert len(consumer.delivered) == 800
    assert len(consumer.commits) >= 2 and not consumer.overlapped
    # Records kept flowing while a commit waited on the broker.
    assert any(ended > began for began, ended in consumer.commits)


def test_records_read_before_are_dropped_and_gaps_recorded() -> None:
    consumer = FakeConsumer([batch(0, range(5, 8)), [Message(0, 6), Message(0, 12)]])
    consumer._read_offset[TP(TOPIC, 0)] = 5
    run(consumer)
    assert consumer.delivered == [(0, 5), (0, 6), (0, 7), (0, 12)]
    assert consumer.gaps == [(TP(TOPIC, 0), 8, 12)]


def test_a_suspended_flow_stops_the_delivery_of_the_batch() -> None:
    consumer = FakeConsumer([batch(0, range(0, 300)), batch(1, range(0, 5))])

    def suspend_at_50(c: FakeConsumer) -> None:
        if len(c.delivered) == 50:
            c.suspend_flow.set()
            asyncio.get_running_loop().call_later(0.01, c.suspend_flow.clear)  # resumed after the rebalance

    consumer.on_deliver = suspend_at_50
    run(consumer)
    # The rest of the batch is not delivered (Faust fetches it again); the next fetch is, once resumed.
    assert consumer.delivered == [(0, o) for o in range(50)] + [(1, o) for o in range(5)]


def test_a_new_consumer_generation_stops_the_delivery_of_the_batch() -> None:
    consumer = FakeConsumer([batch(0, range(0, 300)), batch(1, range(0, 5))])

    def rebalanced_at_50(c: FakeConsumer) -> None:
        if len(c.delivered) == 50:
            c.app.consumer_generation_id = 1

    consumer.on_deliver = rebalanced_at_50
    run(consumer)
    # Records fetched in the old generation are fetched again; the next fetch, in the new one, is delivered.
    assert consumer.delivered == [(0, o) for o in range(50)] + [(1, o) for o in range(5)]


def test_a_fetch_that_returns_while_the_flow_is_stopped_is_dropped_and_the_partitions_seek_back() -> None:
    consumer = FakeConsumer([batch(0, range(0, 5)), batch(0, range(0, 8))])
    consumer.fetch_seconds = 0.04

    async def rebalance() -> None:
        await asyncio.sleep(0.02)  # in the middle of the first fetch
        consumer.flow_active = False  # Faust's stop_flow
        consumer.suspend_flow.set()
        await asyncio.sleep(0.05)
        consumer.flow_active = True
        consumer.suspend_flow.clear()

    run_beside(consumer, rebalance)
    assert consumer.seeks == 1
    assert consumer.delivered == [(0, o) for o in range(8)]  # only what was fetched after the seek


def test_records_of_partitions_paused_since_the_fetch_began_are_left_for_later() -> None:
    # As Faust's getmany: only partitions still active (or buffered) when the fetch returns are delivered.
    consumer = FakeConsumer([batch(0, range(0, 3)) + batch(1, range(0, 3))])
    consumer.active = {TP(TOPIC, 0)}
    consumer._buffered_partitions = set()
    run(consumer)
    assert consumer.delivered == [(0, 0), (0, 1), (0, 2)]


def test_a_rebalance_during_a_fetch_never_cancels_the_fetch() -> None:
    # A fetch given up still moves the positions past what it read (it runs in another thread):
    # cancelled after the rebalance's seek, its records would be skipped and committed over.
    consumer = FakeConsumer([batch(0, range(0, 5)), batch(0, range(5, 10))])
    consumer.fetch_seconds = 0.05

    async def suspend_then_resume() -> None:
        await asyncio.sleep(0.02)  # in the middle of the first fetch
        consumer.suspend_flow.set()
        await asyncio.sleep(0.01)
        consumer.suspend_flow.clear()

    run_beside(consumer, suspend_then_resume)
    assert consumer.fetches_cancelled == 0
    assert consumer.delivered == [(0, o) for o in range(10)]


def test_paused_partitions_are_asked_for_again_soon() -> None:
    consumer = FakeConsumer([batch(0, range(0, 3)), batch(0, range(3, 6))])
    consumer.active = {TP(TOPIC, 0)}  # partition 1 paused by back-pressure
    run(consumer)
    assert consumer.timeouts[0] == fetchloop.FETCH_SECONDS_WHILE_PAUSED


def test_with_every_partition_paused_the_loop_goes_on_when_the_buffer_drains() -> None:
    consumer = FakeConsumer([batch(0, range(0, 3))])
    consumer.active = set()
    drained = asyncio.Event()

    async def main() -> float:
        async def resume() -> None:
            await asyncio.sleep(0.05)
            consumer.active = set(consumer.assigned)
            drained.set()

        started = asyncio.get_running_loop().time()
        await asyncio.gather(fetchloop.drain(consumer, mode.Service(), drained), resume())
        return asyncio.get_running_loop().time() - started

    took = asyncio.run(main())
    assert consumer.delivered == [(0, 0), (0, 1), (0, 2)]
    assert took < fetchloop.FETCH_SECONDS / 2  # not Faust's whole-second sleep
