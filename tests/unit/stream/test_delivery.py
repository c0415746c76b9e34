"""worker/stream/delivery.py: records of a raw topic straight onto its one channel's queue, anything else to Faust."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from aiokafka import TopicPartition
from faust.types import TP
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from worker.stream.delivery import Delivery

RAW = "p.requests"


class Message:
    def __init__(self, topic: str = RAW, partition: int = 0, key: bytes | None = b"k", value: bytes | None = b"v"):
        self.topic, self.partition, self.key, self.value = topic, partition, key, value
        self.headers = [("h", b"1")]
        self.tp = TopicPartition(topic, partition)  # as aiokafka gives it: equal to Faust's TP, not one
        self.refcount = 0

    def incref(self, n: int = 1) -> None:
        self.refcount += n


class Event:
    def __init__(self, app: Any, key: Any, value: Any, headers: Any, message: Message) -> None:
        self.app, self.key, self.value, self.headers, self.message = app, key, value, headers, message


class Channel:
    def __init__(self, flow: FlowControlEvent, maxsize: int = 100) -> None:
        self.queue: ThrowableQueue[Event] = ThrowableQueue(maxsize=maxsize, flow_control=flow)


class Buffer:
    max_messages = 100

    def __init__(self) -> None:
        self.pending: asyncio.Queue[Any] = asyncio.Queue()  # Faust's ProducerBuffer.size is its length


class Producer:
    def __init__(self) -> None:
        self.buffer = Buffer()


class Sensors:
    def __init__(self) -> None:
        self.full: list[TP] = []

    def on_topic_buffer_full(self, tp: TP) -> None:
        self.full.append(tp)


class App:
    def __init__(self) -> None:
        self.flow_control = FlowControlEvent(initially_suspended=False)
        self.topics = type("Conductor", (), {})()
        self.topics._tp_index = defaultdict(set)
        self.producer = Producer()
        self.sensors = Sensors()
        self.conf = type("Settings", (), {"producer_threaded": False, "Event": Event})()


class Consumer:
    def __init__(self) -> None:
        self.app = App()
        self.by_faust: list[Message] = []
        self.paused: list[TP] = []
        self.resumed: list[TP] = []

    async def callback(self, message: Message) -> None:
        self.by_faust.append(message)

    def on_buffer_full(self, tp: TP) -> None:
        self.paused.append(tp)

    def on_buffer_drop(self, tp: TP) -> None:
        self.resumed.append(tp)


def subscribe(consumer: Consumer, tp: TP, n: int = 1, maxsize: int = 100) -> list[Channel]:
    channels = [Channel(consumer.app.flow_control, maxsize) for _ in range(n)]
    consumer.app.topics._tp_index[tp].update(channels)
    return channels


def test_a_raw_record_becomes_an_event_on_its_channels_queue_as_it_is() -> None:
    consumer = Consumer()
    (channel,) = subscribe(consumer, TP(RAW, 0))
    message = Message()
    asyncio.run(Delivery(consumer, {RAW})(message))
    event = channel.queue.get_nowait()
    assert (event.key, event.value, event.headers, event.message) == (b"k", b"v", [("h", b"1")], message)
    assert message.refcount == 1 and consumer.by_faust == []


def test_anything_else_goes_through_faust() -> None:
    consumer = Consumer()
    subscribe(consumer, TP(RAW, 1), n=2)
    subscribe(consumer, TP(RAW, 2), maxsize=1)[0].queue.force_put_nowait(object())  # full
    subscribe(consumer, TP("other", 0))
    others = [
        Message(topic="other"),
        Message(key=None),
        Message(value=None),
        Message(partition=1),  # two subscribers
        Message(partition=2),  # its queue is full
        Message(partition=3),  # nobody subscribes (not assigned)
    ]
    deliver = Delivery(consumer, {RAW})

    async def main() -> None:
        for message in others:
            await deliver(message)

    asyncio.run(main())
    assert consumer.by_faust == others
    assert all(m.refcount == 0 for m in others)  # Faust counts its own


def test_a_buffer_under_pressure_pauses_its_partition_and_resumes_it_once_drained() -> None:
    consumer = Consumer()
    tp = TP(RAW, 0)
    (channel,) = subscribe(consumer, tp, maxsize=10)  # pressure at 8, drained at 4
    deliver = Delivery(consumer, {RAW})

    async def main() -> None:
        for _ in range(9):
            await deliver(Message())
        assert consumer.paused == [tp] and consumer.app.sensors.full == [tp]
        while not channel.queue.empty():
            channel.queue.get_nowait()
        assert consumer.resumed == [tp]
        # Faust's consumer asserts that every partition it pauses or resumes is its own TP type.
        assert all(type(t) is TP for t in consumer.paused + consumer.resumed + consumer.app.sensors.full)

    asyncio.run(main())


def test_a_suspended_flow_holds_the_record_until_it_resumes() -> None:
    consumer = Consumer()
    (channel,) = subscribe(consumer, TP(RAW, 0))
    flow = consumer.app.flow_control

    async def main() -> None:
        flow.suspend()
        delivering = asyncio.ensure_future(Delivery(consumer, {RAW})(Message()))
        await asyncio.sleep(0.01)
        assert not delivering.done() and channel.queue.empty()
        flow.resume()
        await delivering
        assert channel.queue.qsize() == 1

    asyncio.run(main())
