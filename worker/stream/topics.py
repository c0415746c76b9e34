"""Topic names (docs/contract.md) and their creation when missing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, TopicAuthorizationFailedError, for_code

from worker.stream.connection import ACL_HELP, KafkaConnection, KafkaRefused

log = logging.getLogger(__name__)


class TopicsNotCreated(KafkaRefused):
    """Kafka refused Create on `topics`: they are missing, or our principal may not even see them."""

    def __init__(self, message: str, topics: list[str]) -> None:
        super().__init__(message)
        self.topics = topics


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

    @property
    def audit(self) -> str:
        """Only used with JWTGEN_AUDIT (docs/contract.md §4.3)."""
        return f"{self.prefix}.audit"


async def ensure_topics(
    kafka: KafkaConnection | str,
    names: TopicNames,
    request_partitions: int,
    replication: int,
    config_partitions: int = 1,
    audit: bool = False,
) -> list[str]:
    """Create whichever of the contract's topics is missing; existing ones are left as they are.

    One configs partition keeps every config in one ordered log; workers read
    all partitions of an existing configs topic, whatever its count. `audit`
    adds the audit topic, partitioned like the answers it follows. A topic
    Kafka will not create (no Create ACL, too many replicas ...) is a
    KafkaRefused naming it.
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
    if audit:
        wanted[names.audit] = NewTopic(names.audit, request_partitions, replication)
    kafka = KafkaConnection.of(kafka)
    admin = AIOKafkaAdminClient(**kafka.client_options())
    try:
        # Inside the try: a start that fails (Kafka unreachable) still closes the client.
        await admin.start()
        # Only the topics our principal may see (Describe) are listed.
        existing = set(await admin.list_topics())
        missing = [topic for name, topic in wanted.items() if name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(missing)
    finally:
        await admin.close()
    created, denied = [], []
    for topic, code, *message in response.topic_errors:
        error = for_code(code) if code else None
        if error is None:
            created.append(topic)
        elif error is TopicAuthorizationFailedError:
            denied.append(topic)
        elif error is not TopicAlreadyExistsError:  # another worker may have just created it
            reason = f"{error.__name__} {message[0] or ''}" if message else error.__name__
            raise KafkaRefused(f"Kafka refused to create topic {topic}: {reason.strip()}")
    if denied:
        raise TopicsNotCreated(
            f"Kafka at {kafka.bootstrap_servers} denies {kafka.principal()} Create on topic "
            f"{', '.join(sorted(denied))} (missing, or not visible to it): "
            f"create them beforehand or grant Create ({ACL_HELP})",
            sorted(denied),
        )
    if created:
        log.info("created topics: %s", ", ".join(created))
    return created
