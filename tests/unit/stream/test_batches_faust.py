"""worker/stream/batches.py and delivery.py on Faust's own objects: the steps they copy still match Faust's."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from worker.stream import batches

TOPIC = "p.requests"


def ack_with(ack: Any) -> tuple[list[bool], dict[TP, list[int]], list[tuple[str, TP, int]]]:
    """What acking two events does, on a real Faust app, stream, events and consumer's bookkeeping."""

    async def main() -> tuple[list[bool], dict[TP, list[int]], list[tuple[str, TP, int]]]:
        app = faust.App("ack-test", broker="kafka://127.0.0.1:1", store="memory://")
        stream = app.stream(app.topic(TOPIC, value_serializer="raw"))
        app.topics._acking_topics.add(TOPIC)
        seen: list[tuple[str, TP, int]] = []
        stream._on_stream_event_out = lambda tp, offset, _stream, _event: seen.append(("event out", tp, offset))
        stream._on_message_out = lambda tp, offset, _message: seen.append(("message out", tp, offset))
        messages = [ConsumerMessage(TOPIC, 0, offset, 0.0, 0, [], b"k", b"v", None) for offset in (3, 4)]
        events = []
        for message in messages:
            message.incref(1)  # one channel, as the delivery counts it
            events.append(app.create_event(message.key, message.value, message.headers, message))
        await ack(stream, events)
        return [m.acked for m in messages], {tp: list(offsets) for tp, offsets in app.consumer._acked.items()}, seen

    return asyncio.run(main())


def test_acking_a_batch_does_what_fausts_stream_ack_does_for_each_event() -> None:
    async def faust_ack(stream: Any, events: list[Any]) -> None:
        for event in events:
            await stream.ack(event)

    async def batch_ack(stream: Any, events: list[Any]) -> None:
        batches._ack(stream, events)

    expected = ack_with(faust_ack)
    assert expected == (
        [True, True],
        {TP(TOPIC, 0): [3, 4]},
        [(step, TP(TOPIC, 0), offset) for offset in (3, 4) for step in ("event out", "message out")],
    )
    assert ack_with(batch_ack) == expected


def test_what_delivery_reads_once_is_what_faust_reads_per_record() -> None:
    # delivery.Delivery reads the producer buffer's queue and the event class once, not per record.
    app = faust.App("delivery-test", broker="kafka://127.0.0.1:1", store="memory://")
    assert app.conf.producer_threaded is False  # so the buffer's queue is `pending` (ProducerBuffer.size)
    buffer = app.producer.buffer
    buffer.pending.put_nowait(object())
    assert buffer.size == buffer.pending.qsize() == 1
    message = ConsumerMessage(TOPIC, 0, 1, 0.0, 0, [], b"k", b"v", None)
    event = app.create_event(b"k", b"v", [], message)
    assert type(event) is app.conf.Event
