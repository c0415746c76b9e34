"""The floor under the worker: how fast Faust alone hands batches to an agent that does nothing.

Same broker settings and batch size as the worker (`take_events(500)`), no
parsing, signing or sending. The worker cannot be faster than this; compare
it with `bench.throughput` figures from the same run of the machine.

    .venv/bin/python -m bench.faust_floor --bootstrap 127.0.0.1:9092 -n 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from typing import Any

import faust
from faust.worker import Worker

from bench.common import produce, request_values
from worker.stream.topics import TopicNames, ensure_topics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("-n", type=int, default=20000)
    args = parser.parse_args()
    names = TopicNames(f"bench-floor-{uuid.uuid4().hex[:6]}")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(ensure_topics(args.bootstrap, names, 8, 1))
    loop.run_until_complete(produce(args.bootstrap, names.requests, request_values(args.n)))  # type: ignore[arg-type]
    app = faust.App(
        f"{names.prefix}.floor",
        broker=f"kafka://{args.bootstrap}",
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        datadir=tempfile.mkdtemp(prefix="jwtgen-floor-"),
        broker_max_poll_records=500,
    )
    topic = app.topic(names.requests, key_type=bytes, value_type=bytes)
    seen = {"n": 0, "first": 0.0}

    @app.agent(topic)
    async def drain(stream: Any) -> None:
        async for batch in stream.take_events(500, within=0.02):
            if not seen["n"]:
                seen["first"] = time.monotonic()
            seen["n"] += len(batch)
            if seen["n"] >= args.n:
                rate = (seen["n"] - len(batch)) / max(time.monotonic() - seen["first"], 1e-9)
                print(f"  faust   {rate:9.0f} req/s handed to a no-op agent (the floor)", flush=True)
                os._exit(0)

    Worker(app, loglevel="warning", loop=loop).execute_from_commandline()


if __name__ == "__main__":
    main()
