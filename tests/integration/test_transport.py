"""worker/stream/transport.py: Faust's consumer service serves on the app's event loop, not in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from tests.support.kafkaio import unique_prefix
from worker.stream.transport import TunedApp

pytestmark = pytest.mark.integration


def test_the_consumer_serves_on_the_app_loop_and_leaves_its_tasks_alone(kafka: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = TunedApp(unique_prefix("loop"), broker=f"kafka://{kafka}", datadir=str(tmp_path), web_enabled=False)
        service = app.consumer._thread
        loop = asyncio.get_running_loop()
        # A task of the app's that has nothing to do with the consumer.
        bystander = asyncio.ensure_future(asyncio.sleep(3600))
        threads = threading.active_count()
        await service.start()  # connects to Kafka
        try:
            assert threading.active_count() == threads, "the consumer started a thread"
            assert service.thread_loop is loop
            # Faust's calls "into the consumer thread" run here, on this thread.
            assert await service.call_thread(threading.get_ident) == threading.get_ident()
            assert service._ensure_consumer()._client.cluster.brokers(), "the consumer has not reached Kafka"
            await asyncio.sleep(0.1)
            assert not bystander.done()
        finally:
            started = time.monotonic()
            await service.stop()
            took = time.monotonic() - started
        # mode, when a consumer thread ends, cancels every task on that thread's loop:
        # that loop is the app's here, and the app's own tasks go on.
        await asyncio.sleep(0)
        assert not bystander.done(), "stopping the consumer cancelled a task of the app"
        assert took < 5.0
        assert service._ensure_consumer()._closed
        bystander.cancel()

    asyncio.run(scenario())
