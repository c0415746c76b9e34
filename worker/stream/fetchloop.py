"""Faust's fetch loop with one wait per fetched batch instead of one per record.

Faust hands each fetched record to the streams under `Service.wait_first`
(the delivery raced against "flow suspended", "stopped" and "crashed"): four
tasks and an `asyncio.wait` per record, the largest per-event cost of a Faust
worker measured with a profiler (a quarter of the event loop's time with a
no-op agent). Here the whole batch from one `getmany` is delivered under one
such wait: a rebalance that suspends the flow still cancels the delivery at
once, and a record not delivered when it did is fetched again from the
committed offset. Everything else is Faust's loop as it is
(faust/transport/consumer.py, `Consumer._drain_messages`): read offsets, gaps
of acked topics, and the commit every `broker_commit_every` acks.

The fetched records come as one list (`fetched`), not from Faust's
`Consumer.getmany` generator: that one asks the consumer for the partition's
end offset for every record, for the Monitor sensor (monitor.py drops it), and
costs a generator step per record: 0.063-0.064 ms of CPU per answer with it,
0.061-0.063 with the list (three alternated pairs at 13,400 req/s,
2026-11-30). The checks it makes between two records (the flow stopped, a
new consumer generation) are made where the waits between records are, in
`_deliver`.

That commit waits for the producer to deliver every answer sent so far (a
flush), then for the broker: Faust awaits it in the fetch loop, which stops
handing records to the streams meanwhile. Here it runs in a task of its own
(one at a time), so requests keep flowing while it waits; what it commits is
what was acknowledged before it began, as in Faust.

A batch delivered at once fills the stream buffer quickly, and Faust pauses
each partition whose records find the buffer under pressure (back-pressure).
Two of Faust's waits then stall a backlog for a second at a time: with every
partition paused, its `getmany` sleeps a whole second, and with some paused,
aiokafka's fetch waits out its timeout for records of the others while the
paused ones hold the records it fetched already (they are not fetched again
until taken). Here the loop waits for the buffer to drain instead (`drained`,
set when Faust resumes a partition), and fetches with a short timeout while
any partition is paused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING

log = logging.getLogger(__name__)

YIELD_EVERY = 100  # records delivered between two yields to the event loop, as Faust does


FETCH_SECONDS = 1.0  # Faust's fetch timeout, and its sleep while every partition is paused (now a bound)
FETCH_SECONDS_WHILE_PAUSED = 0.02  # a resumed partition is asked for again within this


class Commits:
    """A commit every `every` acknowledgements, in a task of its own, one at a time."""

    def __init__(self, consumer: Any, every: int | None) -> None:
        self.consumer = consumer
        self.every = every
        self.task: asyncio.Task[None] | None = None

    def maybe_start(self) -> None:
        if self.every is None or self.consumer._n_acked < self.every:
            return
        if self.task is not None and not self.task.done():
            return  # the next one starts once this one is over
        self.consumer._n_acked = 0
        self.task = asyncio.ensure_future(self._commit())

    async def _commit(self) -> None:
        try:
            await self.consumer.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Faust crashes the consumer on a failed commit; so does this
            log.error("commit failed (%s)", type(exc).__name__)
            await self.consumer.crash(exc)


Deliver = Callable[[Any], Awaitable[None]]


async def drain(consumer: Any, fetcher: Any, drained: asyncio.Event, deliver: Deliver | None = None) -> None:
    """Fetch and deliver until the consumer or the fetcher stops (runs as Faust's fetcher task).

    Each record goes to `deliver` (delivery.py), by default Faust's conductor (`consumer.callback`).
    """
    callback = deliver or consumer.callback
    consumer_should_stop = consumer._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    commits = Commits(consumer, consumer._commit_every)
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            drained.clear()
            assigned = len(consumer.assignment())
            active = len(consumer._get_active_partitions()) if assigned else 0
            if consumer.flow_active and assigned and not active:
                # Every partition paused by back-pressure: go on as soon as one resumes.
                await consumer.wait_first(drained.wait(), timeout=FETCH_SECONDS)
                continue
            consumer.diag.set_flag(CONSUMER_FETCHING)
            # The fetch itself is never cancelled: a fetch whose caller gave up may already
            # have moved the partitions' positions past what it read. Cancelled by a
            # rebalance, the records it returned after the rebalance's seek would be
            # skipped: the next delivery would look like a gap, and Faust commits over gaps.
            records = await fetched(consumer, FETCH_SECONDS if active >= assigned else FETCH_SECONDS_WHILE_PAUSED)
            # A fetch may return at once in a loop: let the event loop run.
            await consumer.sleep(0)
            if records and not consumer.should_stop:
                # Suspended (a rebalance, which seeks to the committed offsets) or stopped:
                # whatever was fetched and not delivered is fetched again.
                await consumer.wait_first(_deliver(consumer, callback, records, commits), consumer.suspend_flow.wait())
            consumer.diag.unset_flag(CONSUMER_FETCHING)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            consumer.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            consumer.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        consumer.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        consumer.diag.unset_flag(CONSUMER_FETCHING)


async def fetched(consumer: Any, timeout: float) -> list[tuple[Any, Any]]:
    """One fetch's records, as Faust's `Consumer.getmany` yields them (partitions taken in turn), in a list."""
    records, active = await consumer._wait_next_records(timeout)
    if records is None or consumer.should_stop:
        return []
    if not consumer.flow_active:
        # As Faust: a fetch that returns while the flow is stopped (a rebalance) is
        # dropped, and the partitions go back to their committed offsets.
        try:
            await consumer.perform_seek()
        except Exception as exc:
            log.warning("seek to the committed offsets failed (%s)", type(exc).__name__)
        return []
    buffered = consumer._buffered_partitions
    to_message = consumer._to_message
    return [
        (tp, to_message(tp, record))
        for tp, record in consumer.scheduler.iterate(records)
        if active is None or tp in active or tp in buffered
    ]


async def _deliver(consumer: Any, callback: Deliver, records: list[tuple[Any, Any]], commits: Commits) -> None:
    """Hand the fetched records to the streams, starting a commit whenever one is due."""
    read_offsets = consumer._read_offset
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    suspended = consumer.suspend_flow.is_set
    app = consumer.app
    since_yield = 0
    for tp, message in records:
        # A rebalance began (it seeks to the committed offsets) or has ended since the
        # fetch (a new generation): the rest is fetched again.
        if suspended() or message.generation_id != app.consumer_generation_id:
            return
        since_yield += 1
        if since_yield > YIELD_EVERY:
            await asyncio.sleep(0)
            since_yield = 0
        offset = message.offset
        read_offset = read_offsets[tp]
        # A record read before is dropped, as Faust drops it.
        if read_offset is None or offset >= read_offset:
            gap = offset - (read_offset or 0)
            if gap > 1 and read_offset and acks_enabled_for(message.topic):
                await consumer._add_gap(tp, read_offset + 1, offset)
            await callback(message)
            read_offsets[tp] = offset
            commits.maybe_start()
