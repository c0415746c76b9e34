"""Two workers in one consumer group both hold every config, old and new."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.configs import hs256_config, request_for
from tests.support.kafkaio import KafkaIO, WorkerProcess, unique_prefix
from tests.support.processes import free_port
from worker.stream.topics import TopicNames, ensure_topics

pytestmark = pytest.mark.integration


def answered(worker: WorkerProcess) -> float:
    for line in worker.metrics().splitlines():
        if line.startswith('jwtgen_answers_total{code="",outcome="True"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_two_workers_answer_configs_published_before_and_after_they_started(kafka: str, tmp_path: Path) -> None:
    prefix = unique_prefix("scale")
    first = WorkerProcess(prefix, kafka, free_port(), tmp_path / "w1.log").start()
    second: WorkerProcess | None = None
    io = KafkaIO(kafka, prefix).open()
    try:
        io.put_config(hs256_config("before"))
        second = WorkerProcess(prefix, kafka, free_port(), tmp_path / "w2.log").start()
        io.put_config(hs256_config("after"))
        # 8 partitions, 200 keys: each worker owns some partitions, and every
        # request must be answered True whichever worker owns its partition.
        requests = [request_for("before" if i % 2 else "after") for i in range(200)]
        io.send_requests(requests)
        answers = io.wait_for([r["execution_id"] for r in requests], timeout=90)
        bad = [body for kind, body in answers.values() if kind != "true"]
        assert not bad, bad[:2]
        # Both workers took part, so both held both configs.
        assert answered(first) > 0, first.log()[-2000:]
        assert answered(second) > 0, second.log()[-2000:]
        assert answered(first) + answered(second) >= 200
    finally:
        io.close()
        first.stop()
        if second is not None:
            second.stop()


def test_a_configs_topic_with_several_partitions_is_read_whole(kafka: str, tmp_path: Path) -> None:
    # A platform team may pre-create the configs topic with more partitions;
    # every worker must still hold every config.
    prefix = unique_prefix("multiconf")
    io_admin = KafkaIO(kafka, prefix)
    created = io_admin.run(ensure_topics(kafka, TopicNames(prefix), 8, 1, config_partitions=4))
    io_admin.close()
    assert f"{prefix}.configs" in created
    worker = WorkerProcess(prefix, kafka, free_port(), tmp_path / "w.log").start()
    io = KafkaIO(kafka, prefix).open()
    try:
        ids = [f"cfg-{i}" for i in range(12)]
        for config_id in ids:
            io.put_config(hs256_config(config_id))
        requests = [request_for(config_id) for config_id in ids]
        io.send_requests(requests)
        answers = io.wait_for([r["execution_id"] for r in requests], timeout=60)
        assert all(kind == "true" for kind, _ in answers.values()), answers
        assert io.run(io.consumer._client.fetch_all_metadata()).partitions_for_topic(f"{prefix}.configs") == set(
            range(4)
        )
    finally:
        io.close()
        worker.stop()
