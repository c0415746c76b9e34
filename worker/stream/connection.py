"""How to reach Kafka: one object builds the options of Faust and of every aiokafka client.

The worker's Faust app, its config feed, topic creation and every CLI command
connect through a `KafkaConnection`, so a setting added here (TLS, SASL)
reaches all of them at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap_servers: str = "localhost:9092"

    @classmethod
    def of(cls, target: KafkaConnection | str) -> KafkaConnection:
        """A connection from itself or from a bootstrap string (host:port[,host:port])."""
        return target if isinstance(target, KafkaConnection) else cls(bootstrap_servers=target)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaConsumer, AIOKafkaProducer and AIOKafkaAdminClient."""
        return {"bootstrap_servers": self.bootstrap_servers}

    def faust_options(self) -> dict[str, Any]:
        """Keyword arguments for faust.App."""
        return {"broker": [f"kafka://{hostport.strip()}" for hostport in self.bootstrap_servers.split(",")]}

    def describe(self) -> str:
        """Where it connects, for messages (never a credential)."""
        return self.bootstrap_servers
