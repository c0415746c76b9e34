"""The bare loop: the worker's work with nothing but aiokafka around it, in a process of its own.

Reads the configs topic into a ConfigTable, then answers requests in batches
with the same pure handler (parse, resolve config, build claims, sign) and the
same BatchSink as the worker's agent, flushing and committing after every
batch. It is the floor of what answering costs through Kafka in Python: the
worker's figures are read against it. Runs until terminated.

    .venv/bin/python -m bench.bareloop --bootstrap 127.0.0.1:9092 --prefix bench-x
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from worker.core import events, handler
from worker.core.configtable import ConfigTable
from worker.stream.sink import BatchSink, Outgoing
from worker.stream.topics import TopicNames


async def read_configs(bootstrap: str, topic: str, table: ConfigTable) -> None:
    """The whole configs topic, from its start to its end at the time of the call."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        for _ in range(100):
            if consumer.partitions_for_topic(topic):
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
                for record in records:
                    table.apply(record.key, record.value, record.timestamp / 1000)
    finally:
        await consumer.stop()


async def answer_forever(bootstrap: str, names: TopicNames, batch: int) -> None:
    table = ConfigTable()
    await read_configs(bootstrap, names.configs, table)
    consumer = AIOKafkaConsumer(
        names.requests,
        bootstrap_servers=bootstrap,
        group_id=f"{names.prefix}.bare",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all", max_batch_size=512 * 1024)
    await consumer.start()
    await producer.start()
    routes = {
        handler.Route.TRUE: names.true,
        handler.Route.FAILURE: names.failure,
        handler.Route.DEADLETTER: names.deadletter,
    }
    sink = BatchSink(lambda: producer, lambda exc: None)
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=batch)
            outgoing: list[Outgoing] = []
            for records in batches.values():
                for rec in records:
                    ref = handler.RecordRef(
                        rec.topic, rec.partition, rec.offset, rec.timestamp / 1000, rec.key, rec.value
                    )
                    result = handler.answer(ref, events.parse_request(rec.value), table)
                    outgoing.append((routes[result.route], result.key, result.value, rec.headers))
            if outgoing:
                # The same sink as the worker; then flush and commit, as Faust does before a commit.
                await sink.send(outgoing)
                await sink.drain()
                await producer.flush()
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True, help="topic prefix, as JWTGEN_TOPIC_PREFIX")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    task = loop.create_task(answer_forever(args.bootstrap, TopicNames(args.prefix), args.batch))
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        loop.run_until_complete(task)


if __name__ == "__main__":
    main()
