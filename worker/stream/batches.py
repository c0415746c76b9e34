"""Batches of events for the requests agent, taken from its Faust channel a batch at a time.

Faust's `Stream.take_events(max_, within)` moves every event through the
stream's iterator in a background task: a yield to the event loop per event
(`await sleep(0)` in faust/_cython/streams.pyx), the stream's processors and
four sensor calls, and then hands over a batch when `max_` are buffered or
`within` seconds after the agent came back for more, a wait that at a steady
rate is dead time on every batch. Here the agent takes what its channel's
queue holds (the queue Faust's conductor fills from the consumer), doing per
event what the stream's iterator does that matters: drop events of an older
consumer generation (a rebalance happened since they were fetched), and track
each event taken as unacknowledged, so offset commits and a rebalance's
`wait_empty` wait for its answer. Events are acked, as by take_events, once
the agent asks for the next batch: a request's offset is committed only once
its answer is with the producer.

When the agent comes back for more and events are waiting, it takes them at
once (up to `max_`): they waited while the previous batch was answered. When
none are, it waits for the first, then `linger` seconds for more, so a
trickle is answered in small batches without a timer firing on an idle worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from faust.types import EventT


async def take_events(stream: Any, max_: int, linger: float) -> AsyncGenerator[list[EventT], None]:
    """Batches of at most `max_` events from the agent's stream `stream`, acked after each batch."""
    app = stream.app
    queue = stream.channel.queue
    consumer = app.consumer
    acking_topics = app.topics._acking_topics
    unacked = consumer._unacked_messages
    flow_control = app.flow_control
    while not stream.should_stop:
        try:
            if queue.empty():
                first = await queue.get()  # idle: wait for a request, without a timer
                if linger > 0:
                    await asyncio.sleep(linger)  # and a moment for the ones right behind it
                values = [first]
            else:
                values = [queue.get_nowait()]
            while len(values) < max_ and not queue.empty():
                values.append(queue.get_nowait())
            if queue._errors:
                raise queue._errors.popleft()
        except StopAsyncIteration:
            # Faust stopping the agent throws this into its channel (Actor.cancel). Raised
            # inside an async generator it would become a RuntimeError: the stream ends here.
            return
        generation = app.consumer_generation_id
        active = flow_control.is_active()
        batch: list[EventT] = []
        for event in values:
            message = event.message
            if not active or message.generation_id != generation:
                continue  # fetched before a rebalance: fetched again from the committed offset
            if message.topic in acking_topics and not message.tracked:
                message.tracked = True
                unacked.add(message)
            batch.append(event)
        if not batch:
            continue
        # Faust's livelock detector reads when each partition's stream last took an event.
        for event in {event.message.tp: event for event in batch}.values():
            message = event.message
            stream._on_stream_event_in(message.tp, message.offset, stream, event)
        yield batch
        # The agent asked for the next batch: this one is answered.
        _ack(stream, batch)


def _ack(stream: Any, batch: list[EventT]) -> None:
    """`await stream.ack(event)` for each event, without a coroutine per event (Stream.ack awaits nothing)."""
    on_event_out = stream._on_stream_event_out
    on_message_out = stream._on_message_out
    for event in batch:
        last_stream_to_ack = event.ack()
        message = event.message
        on_event_out(message.tp, message.offset, stream, event)
        if last_stream_to_ack:
            on_message_out(message.tp, message.offset, message)
