"""Faust's aiokafka transport, with what an operator expects of rebalances, outages and shutdowns.

- **Commit on revocation.** Faust forgets the acks of revoked partitions
  before its own revocation handler commits (faust-streaming#502), so every
  request answered since the last timer commit was answered again by the next
  owner on every clean join or leave. Here the consumer first stops taking
  new records, lets the batch in flight finish and commits everything
  answered, then hands over to Faust.
- **Bounded consumer stop.** The consumer service's stop waited mode's 60 s
  default when the broker was gone: aiokafka's fetcher lets a CancelledError
  escape, so mode never heard the service finish. Here that error is caught,
  and the wait is bounded by `consumer_stop_seconds` anyway.
- **Static membership that still leaves.** With a group instance id aiokafka
  sends no LeaveGroup on stop (KIP-345), so a stopped worker's partitions
  would stand still for the session timeout; a clean stop here leaves the
  group anyway (as Kafka 4.1's Java client can, KIP-1092), and only a crash
  keeps the member's place for a quick restart.
- **No consumer thread.** Faust runs aiokafka's consumer in a thread of its
  own, with its own event loop: every fetch is a call into that thread and a
  result back (two wake-ups across threads and a mode method queue per
  cycle), and the two threads take turns on the GIL. Paced at half the peak,
  that hop was most of a request's wait before the agent saw it. Here the
  same consumer service runs as a task of the app's event loop: Faust's
  calls "into the thread" are plain awaits, and rebalance callbacks go
  through Faust's main-loop queue as before.
- **Reconnect backoff** on the consumer's and the producer's clients (backoff.py).
- **One wait per fetched batch**, not per record, in the fetch loop (fetchloop.py),
  and the records of raw topics handed to their agent's channel directly (delivery.py).
- **Flush means everything sent**: the producer's flush (before every offset
  commit) first runs the app's `before_flush` hooks, so answers the sink still
  holds (sink.py) reach the producer before the offsets of their requests are
  committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

from worker.stream import delivery, fetchloop
from worker.stream.backoff import add_reconnect_backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaTuning:
    reconnect_backoff_max_seconds: float = 1.0
    consumer_stop_seconds: float = 5.0
    revoke_commit_seconds: float = 7.5  # well inside the rebalance timeout
    leave_group_on_stop: bool = True


class TunedApp(faust.App):
    """A faust.App whose transport is the one below, tuned by `tuning`."""

    tuning: KafkaTuning = KafkaTuning()
    # Awaited by the producer's flush before it flushes (answers a sink still holds).
    before_flush: list[Callable[[], Awaitable[None]]]
    # Topics read as raw bytes by one agent: their records skip Faust's conductor (delivery.py).
    raw_topics: set[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.before_flush = []
        self.raw_topics = set()
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> Any:
        return Transport(self.conf.broker_producer, self)


def _tuning(app: Any) -> KafkaTuning:
    return getattr(app, "tuning", KafkaTuning())


class OnTheLoop:
    """Stands in for mode's WorkerThread: the service serves as a task of the loop it is started from."""

    def __init__(self, service: Any) -> None:
        self.service = service
        # Held here: the event loop keeps only a weak reference to a task.
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        # mode's _serve: start the service, tell start() it runs, wait for stop(), shut down.
        self.task = asyncio.ensure_future(self.service._serve())

    def stop(self) -> None:
        # mode joins its thread here, once the service has shut down (stop() waited for
        # that, within its timeout); what is left of the task ends on its own.
        pass


class LoopConsumerThread(driver.AIOKafkaConsumerThread):
    """Faust's consumer "thread", run on the app's own event loop (see the module's docstring)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.shutdown_timeout = _tuning(self.app).consumer_stop_seconds

    def _create_worker_consumer(self, transport: driver.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        add_reconnect_backoff(consumer._client, _tuning(self.app).reconnect_backoff_max_seconds)
        return consumer

    async def on_thread_stop(self) -> None:
        consumer = self._consumer
        if consumer is not None and _tuning(self.app).leave_group_on_stop:
            # aiokafka skips LeaveGroup when a group instance id is set; without
            # it, it sends one for this member id, which frees the partitions now.
            consumer._coordinator._group_instance_id = None
        try:
            await super().on_thread_stop()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # really cancelled
            # aiokafka's fetcher, closing, re-raises the CancelledError of the
            # fetch it cancelled (aiokafka#983): the consumer has stopped all the
            # same. Swallowed, the service ends cleanly instead of making mode
            # wait out its timeout; the connections are closed here instead.
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await consumer._client.close()

    async def call_thread(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        result = fun(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    async def _gather_remaining_tasks(self) -> None:
        # mode cancels every task left on the thread's loop when the thread ends: this
        # loop is the app's. The consumer's own tasks end with the consumer's stop.
        pass


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return LoopConsumerThread(self, loop=self.loop, thread_loop=self.loop, Worker=OnTheLoop, beacon=self.beacon)

    _drained: asyncio.Event | None = None

    async def _drain_messages(self, fetcher: Any) -> None:
        self._drained = asyncio.Event()
        deliver = delivery.Delivery(self, getattr(self.app, "raw_topics", ()))
        await fetchloop.drain(self, fetcher, self._drained, deliver)

    def on_buffer_drop(self, tp: TP) -> None:
        super().on_buffer_drop(tp)
        if self._drained is not None:
            self._drained.set()

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        await self._commit_answered()
        await super().on_partitions_revoked(revoked)

    async def _commit_answered(self) -> None:
        """Stop taking records, let the batch in flight finish, commit every answered request."""
        app = self.app
        assignment = self.assignment()
        if app.should_stop or not assignment:
            return
        limit = _tuning(app).revoke_commit_seconds
        try:
            async with asyncio.timeout(limit):
                self.stop_flow()
                app.flow_control.suspend()
                self.pause_partitions(assignment)
                app.flow_control.clear()
                # Waits for every record taken to be acked (answered), committing
                # as it goes; commits flush the producer first.
                await self.wait_empty()
        except TimeoutError:
            log.warning(
                "partitions revoked: what was answered could not be committed within %.0fs; "
                "the next owner answers it again",
                limit,
            )
        except Exception as exc:
            log.warning("partitions revoked: commit failed (%s); the next owner answers again", type(exc).__name__)


class Producer(driver.Producer):
    async def flush(self) -> None:
        for before in getattr(self.app, "before_flush", ()):
            await before()
        await super().flush()

    def _new_producer(self, transactional_id: str | None = None) -> aiokafka.AIOKafkaProducer:
        producer = super()._new_producer(transactional_id)
        add_reconnect_backoff(producer.client, _tuning(self.app).reconnect_backoff_max_seconds)
        return cast(aiokafka.AIOKafkaProducer, producer)


class Transport(driver.Transport):
    Consumer = Consumer
    Producer = Producer
