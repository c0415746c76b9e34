"""Worker settings, read once from the environment (CONTRACT.md §6)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "localhost:9092"
    topic_prefix: str = "jwt-generator"
    request_partitions: int = 8
    replication_factor: int = 1
    web_port: int = 6066
    web_host: str = "0.0.0.0"
    # Upper bound on how long a request for a config (version) not yet seen
    # waits for the configs topic to be read up to its end.
    config_wait_seconds: float = 2.0
    batch_max: int = 500
    max_answer_bytes: int = 1_000_000  # under Kafka's default message.max.bytes
    batch_within_seconds: float = 0.02
    kek: str | None = field(default=None, repr=False)  # the JWK text that opens sealed secrets
    # How long the group waits for a silent worker before its partitions
    # move: short enough that a crashed worker's backlog resumes quickly.
    session_timeout_seconds: float = 15.0
    data_dir: str | None = None  # Faust's scratch directory; a temp dir when unset
    log_level: str = "info"

    @property
    def group_id(self) -> str:
        return f"{self.topic_prefix}.worker"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        kek = env.get("JWTGEN_KEK")
        kek_file = env.get("JWTGEN_KEK_FILE")
        if kek is None and kek_file:
            with open(kek_file, encoding="utf-8") as fh:
                kek = fh.read()
        values: dict[str, object] = {
            "bootstrap_servers": env.get("KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            "topic_prefix": env.get("JWTGEN_TOPIC_PREFIX", cls.topic_prefix),
            "request_partitions": int(env.get("JWTGEN_REQUEST_PARTITIONS", cls.request_partitions)),
            "replication_factor": int(env.get("JWTGEN_REPLICATION_FACTOR", cls.replication_factor)),
            "config_wait_seconds": float(env.get("JWTGEN_CONFIG_WAIT_SECONDS", cls.config_wait_seconds)),
            "batch_max": int(env.get("JWTGEN_BATCH_MAX", cls.batch_max)),
            "max_answer_bytes": int(env.get("JWTGEN_MAX_ANSWER_BYTES", cls.max_answer_bytes)),
            "kek": kek,
            "session_timeout_seconds": float(env.get("JWTGEN_SESSION_TIMEOUT_SECONDS", cls.session_timeout_seconds)),
            "data_dir": env.get("JWTGEN_DATA_DIR"),
            "log_level": env.get("JWTGEN_LOG_LEVEL", cls.log_level),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
