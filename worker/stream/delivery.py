"""Fetched records to the agent's channel: what Faust's conductor does per record, in a few plain calls.

Faust's conductor (faust/transport/conductor.py, `on_message`) takes a lock
to find the partition's handler, awaits flow control and the producer
buffer, decodes the record through its topic's schema and builds the event:
per record, about a fifth of the worker's time per request (py-spy, HS256
drained). For the requests topic, whose records go as raw bytes to the one
channel of the agent, this does the same steps directly:

- flow control (a rebalance suspends it) and Faust's producer buffer are
  awaited only when they would wait (the worker never fills that buffer: its
  answers go through its own sink);
- the record counts one reference (one channel), as Faust counts one per channel;
- the event holds the record's key, value and headers as they are (raw: nothing
  to decode), and goes on the channel's queue with the same back-pressure
  callbacks (pause the partition when the buffer is under pressure, resume it
  when it drains).

Anything else goes through Faust's own handler: a record of another topic or
without a key or value, a partition with no or several subscribers, a full
queue (Faust waits for room, and tells its sensors).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from faust.types import TP

PressureCallbacks = tuple[Callable[[], None], Callable[[], None]]


class Delivery:
    def __init__(self, consumer: Any, raw_topics: Collection[str]) -> None:
        app = consumer.app
        self._faust = consumer.callback  # the conductor's on_message
        self._raw_topics = raw_topics
        self._subscribers = app.topics._tp_index  # partition -> channels, rebuilt at each assignment
        self._flow = app.flow_control
        self._producer_buffer = buffer = app.producer.buffer
        # Read once what Faust reads from its settings per record (`buffer.size`,
        # `app.create_event`): a settings lookup is ~0.7 µs. The buffer's queue is
        # `pending` for the app's life unless the producer runs in a thread of its own.
        self._buffer_queue = None if app.conf.producer_threaded else buffer.pending
        self._event = app.conf.Event
        self._app = app
        self._consumer = consumer
        self._sensors = app.sensors
        self._pressure: dict[TP, PressureCallbacks] = {}

    async def __call__(self, message: Any) -> None:
        if message.topic not in self._raw_topics or message.key is None or message.value is None:
            return await self._faust(message)
        tp = message.tp
        channels = self._subscribers.get(tp)
        if channels is None or len(channels) != 1:
            return await self._faust(message)
        (channel,) = channels
        queue = channel.queue
        if queue.full():
            return await self._faust(message)
        if not self._flow.is_active():
            await self._flow.acquire()
        buffer = self._producer_buffer
        waiting = self._buffer_queue.qsize() if self._buffer_queue is not None else buffer.size
        if waiting > buffer.max_messages:
            await buffer.wait_until_ebb()
        message.incref(1)
        event = self._event(self._app, message.key, message.value, message.headers, message)  # app.create_event
        on_high, on_drop = self._pressure.get(tp) or self._pressure_callbacks(tp)
        queue.put_nowait_enhanced(event, on_pressure_high=on_high, on_pressure_drop=on_drop)
        return None

    def _pressure_callbacks(self, record_tp: Any) -> PressureCallbacks:
        """What the conductor does when a partition's records fill the buffer, and when it drains."""
        consumer, sensors = self._consumer, self._sensors
        # Faust's own TP: a record's `tp` may be aiokafka's TopicPartition, equal to it but
        # refused by the consumer's bookkeeping of active partitions (an assertion, in the fetch loop).
        tp = TP(record_tp.topic, record_tp.partition)

        def on_pressure_high() -> None:
            sensors.on_topic_buffer_full(tp)
            consumer.on_buffer_full(tp)

        def on_pressure_drop() -> None:
            consumer.on_buffer_drop(tp)

        callbacks = self._pressure[record_tp] = (on_pressure_high, on_pressure_drop)
        return callbacks
