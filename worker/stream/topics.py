"""Topic names (docs/contract.md) and their creation when missing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from worker.stream.connection import KafkaConnection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicNames:
    prefix: str

    @property
    def configs(self) -> str:
        return f"{self.prefix}.configs"

    @property
    def requests(self) -> str:
        return f"{self.prefix}.requests"

    @property
    def true(self) -> str:
        return f"{self.prefix}.true"

    @property
    def failure(self) -> str:
        return f"{self.prefix}.failure"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}.deadletter"


async def ensure_topics(
    kafka: KafkaConnection | str,
    names: TopicNames,
    request_partitions: int,
    replication: int,
    config_partitions: int = 1,
) -> list[str]:
    """Create whichever of the contract's topics is missing; existing ones are left as they are.

    One configs partition keeps every config in one ordered log; workers read
    all partitions of an existing configs topic, whatever its count.
    """
    wanted = {
        names.configs: NewTopic(
            names.configs,
            config_partitions,
            replication,
            topic_configs={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
        ),
        names.requests: NewTopic(names.requests, request_partitions, replication),
        names.true: NewTopic(names.true, request_partitions, replication),
        names.failure: NewTopic(names.failure, request_partitions, replication),
        names.deadletter: NewTopic(names.deadletter, 1, replication),
    }
    admin = AIOKafkaAdminClient(**KafkaConnection.of(kafka).client_options())
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [topic for name, topic in wanted.items() if name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except Exception as exc:
                # Another worker of the group may have created them a moment ago.
                if "TopicAlreadyExists" not in type(exc).__name__ + str(exc):
                    raise
            log.info("created topics: %s", ", ".join(t.name for t in missing))
        return [t.name for t in missing]
    finally:
        await admin.close()
