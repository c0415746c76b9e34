"""worker/stream/batches.py: the agent's batches, taken from its channel's queue, on fakes of Faust's objects."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from faust.types import TP
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from worker.stream import batches

TOPIC = "p.requests"


class Message:
    def __init__(self, offset: int, generation: int = 1, topic: str = TOPIC) -> None:
        self.topic, self.partition, self.offset = topic, offset % 2, offset
        self.tp = TP(topic, self.partition)
        self.generation_id = generation
        self.tracked = False


class Event:
    def __init__(self, message: Message, acked: list[int]) -> None:
        self.message = message
        self._acked = acked

    def ack(self) -> bool:
        self._acked.append(self.message.offset)
        return True


class Queue(asyncio.Queue[Event]):
    """The channel's queue: an asyncio queue with Faust's deque of errors thrown to the channel."""

    def __init__(self) -> None:
        super().__init__()
        self._errors: deque[BaseException] = deque()


class FlowControl:
    active = True

    def is_active(self) -> bool:
        return self.active


class Stream:
    """What batches.take_events uses of a Faust stream, its app and consumer."""

    def __init__(self) -> None:
        self.should_stop = False
        self.channel = type("Channel", (), {"queue": Queue()})()
        self.app = type("App", (), {})()
        self.app.consumer = type("Consumer", (), {"_unacked_messages": set()})()
        self.app.topics = type("Conductor", (), {"_acking_topics": {TOPIC}})()
        self.app.flow_control = FlowControl()
        self.app.consumer_generation_id = 1
        self.acked: list[int] = []  # by Event.ack, in order (test_batches_faust.py checks Faust's own steps)
        self.out: list[int] = []
        self.taken_at: dict[TP, int] = {}

    def _on_stream_event_out(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        self.out.append(offset)

    def _on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        assert self.out[-1] == offset  # the event's sensors first, as Faust's Stream.ack

    def _on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> None:
        self.taken_at[tp] = offset

    @property
    def queue(self) -> Queue:
        return self.channel.queue  # type: ignore[no-any-return]

    def put(self, *messages: Message) -> None:
        for message in messages:
            self.queue.put_nowait(Event(message, self.acked))


def offsets(batch: list[Any]) -> list[int]:
    return [event.message.offset for event in batch]


def test_waiting_events_are_taken_at_once_up_to_the_batch_size_and_acked_once_answered() -> None:
    async def main() -> None:
        stream = Stream()
        stream.put(*[Message(i) for i in range(7)])
        taking = batches.take_events(stream, 5, linger=10.0)  # a long linger: not waited for, events were there
        first = await asyncio.wait_for(taking.__anext__(), 1)
        assert offsets(first) == [0, 1, 2, 3, 4] and stream.acked == []
        unacked = stream.app.consumer._unacked_messages
        assert {m.offset for m in unacked} == {0, 1, 2, 3, 4} and all(e.message.tracked for e in first)
        second = await asyncio.wait_for(taking.__anext__(), 1)
        assert offsets(second) == [5, 6] and stream.acked == [0, 1, 2, 3, 4]
        assert stream.taken_at == {TP(TOPIC, 0): 6, TP(TOPIC, 1): 5}
        await taking.aclose()
        assert stream.acked == [0, 1, 2, 3, 4]  # closed before it was answered: never acked

    asyncio.run(main())


def test_an_idle_stream_waits_for_its_first_event_then_lingers_for_the_ones_behind_it() -> None:
    async def main() -> None:
        stream = Stream()
        taking = batches.take_events(stream, 100, linger=0.05)
        waiting = asyncio.ensure_future(taking.__anext__())
        await asyncio.sleep(0.02)
        assert not waiting.done()
        stream.put(Message(0))
        await asyncio.sleep(0.01)
        stream.put(Message(1), Message(2))  # within the linger: same batch
        assert offsets(await asyncio.wait_for(waiting, 1)) == [0, 1, 2]
        await taking.aclose()

    asyncio.run(main())


def test_events_of_an_older_generation_or_while_flow_is_stopped_are_dropped_untracked() -> None:
    async def main() -> None:
        stream = Stream()
        stream.app.consumer_generation_id = 2
        stale, fresh = Message(0, generation=1), Message(1, generation=2)
        stream.put(stale, fresh)
        taking = batches.take_events(stream, 10, linger=0)
        assert offsets(await asyncio.wait_for(taking.__anext__(), 1)) == [1]
        assert not stale.tracked and stale not in stream.app.consumer._unacked_messages
        stream.app.flow_control.active = False  # a rebalance under way: what is taken now is dropped
        stream.put(Message(2, generation=2))
        waiting = asyncio.ensure_future(taking.__anext__())
        await asyncio.sleep(0.01)
        stream.app.flow_control.active = True
        stream.put(Message(3, generation=2))
        assert offsets(await asyncio.wait_for(waiting, 1)) == [3]
        await taking.aclose()

    asyncio.run(main())


def test_untracked_topics_are_passed_on_without_tracking() -> None:
    async def main() -> None:
        stream = Stream()
        other = Message(0, topic="other")
        stream.put(other)
        taking = batches.take_events(stream, 10, linger=0)
        assert offsets(await asyncio.wait_for(taking.__anext__(), 1)) == [0]
        assert not other.tracked
        await taking.aclose()

    asyncio.run(main())


def test_stopping_the_agent_ends_its_batches_cleanly_after_acking_what_it_answered() -> None:
    async def main() -> None:
        stream = Stream()
        # Faust's own channel queue, which Actor.cancel throws StopAsyncIteration into.
        stream.channel.queue = ThrowableQueue(flow_control=FlowControlEvent())
        stream.put(Message(0))
        taken: list[list[int]] = []

        async def agent() -> None:
            async for batch in batches.take_events(stream, 10, linger=0):
                taken.append(offsets(batch))

        running = asyncio.ensure_future(agent())
        await asyncio.sleep(0.01)  # the agent answered offset 0 and waits for more
        stream.put(Message(1))
        await asyncio.sleep(0.01)
        stream.channel.queue._throw(StopAsyncIteration())  # what Actor.cancel does when Faust stops it
        await asyncio.wait_for(running, 1)  # ends, without a RuntimeError
        assert taken == [[0], [1]] and stream.acked == [0, 1]

    asyncio.run(main())
