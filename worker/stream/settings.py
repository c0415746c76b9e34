"""Worker settings, read once from the environment (docs/contract.md, "Commands and environment").

A value that cannot be read is a `SettingsError` naming the variable and the
bad value (`JWTGEN_BATCH_MAX='abc' is not an integer`), never a bare
ValueError; secrets are never quoted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from worker.stream.connection import KafkaConnection


class SettingsError(ValueError):
    """An environment variable that cannot be used; the text names it and says what to fix."""


def _integer(name: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not an integer") from None


def _positive_integer(name: str, text: str) -> int:
    value = _integer(name, text)
    if value < 1:
        raise SettingsError(f"{name}={text!r} must be an integer >= 1")
    return value


def _positive_seconds(name: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise SettingsError(f"{name}={text!r} must be a number of seconds > 0")
    return value


def _seconds(name: str, text: str) -> float:
    """A number of seconds >= 0 (0 turns the wait off)."""
    if text.strip() == "0":
        return 0.0
    return _positive_seconds(name, text)


def _milliseconds(name: str, text: str) -> float:
    """Milliseconds (Kafka's unit for its client properties), as seconds."""
    return _positive_seconds(name, text) / 1000.0


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _boolean(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value not in _TRUE + _FALSE:
        raise SettingsError(f"{name}={text!r} must be true or false")
    return value in _TRUE


def _text(name: str, text: str) -> str:
    return text


_LOG_LEVELS = ("debug", "info", "warning", "error")


def _log_level(name: str, text: str) -> str:
    level = text.strip().lower()
    if level not in _LOG_LEVELS:
        raise SettingsError(f"{name}={text!r} must be one of {', '.join(_LOG_LEVELS)}")
    return level


Reader = Callable[[str, str], object]

# Settings field -> (environment variable, how to read it). The key-encryption
# key is read apart: it may come from a file, and its text is a secret.
ENVIRONMENT: dict[str, tuple[str, Reader]] = {
    "bootstrap_servers": ("KAFKA_BOOTSTRAP_SERVERS", _text),
    "topic_prefix": ("JWTGEN_TOPIC_PREFIX", _text),
    "request_partitions": ("JWTGEN_REQUEST_PARTITIONS", _positive_integer),
    "replication_factor": ("JWTGEN_REPLICATION_FACTOR", _positive_integer),
    "config_wait_seconds": ("JWTGEN_CONFIG_WAIT_SECONDS", _positive_seconds),
    "batch_max": ("JWTGEN_BATCH_MAX", _positive_integer),
    "max_answer_bytes": ("JWTGEN_MAX_ANSWER_BYTES", _positive_integer),
    "session_timeout_seconds": ("JWTGEN_SESSION_TIMEOUT_SECONDS", _positive_seconds),
    "data_dir": ("JWTGEN_DATA_DIR", _text),
    "log_level": ("JWTGEN_LOG_LEVEL", _log_level),
    "startup_wait_seconds": ("JWTGEN_STARTUP_WAIT_SECONDS", _seconds),
    "shutdown_timeout_seconds": ("JWTGEN_SHUTDOWN_TIMEOUT_SECONDS", _positive_seconds),
    "log_repeat_seconds": ("JWTGEN_LOG_REPEAT_SECONDS", _positive_seconds),
    "group_instance_id": ("JWTGEN_GROUP_INSTANCE_ID", _text),
    "leave_group_on_shutdown": ("JWTGEN_LEAVE_GROUP_ON_SHUTDOWN", _boolean),
    "reconnect_backoff_max_seconds": ("KAFKA_RECONNECT_BACKOFF_MAX_MS", _milliseconds),
}
KEK_VARIABLES = ("JWTGEN_KEK", "JWTGEN_KEK_FILE")


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
    # Outages, restarts and rebalances (README, "Outages, restarts and rebalances").
    startup_wait_seconds: float = 300.0  # how long a start waits for an unreachable Kafka; 0: not at all
    shutdown_timeout_seconds: float = 20.0  # a stop never takes longer (Kubernetes' grace period is 60 s)
    log_repeat_seconds: float = 60.0  # one line per repeated message, and one outage reminder, per this
    group_instance_id: str | None = None  # static group membership (KIP-345) when set: unique per worker
    leave_group_on_shutdown: bool = True  # a static member leaves on a clean stop; only a crash keeps its place
    reconnect_backoff_max_seconds: float = 1.0  # like the Java client's reconnect.backoff.max.ms

    @property
    def kafka(self) -> KafkaConnection:
        return KafkaConnection(bootstrap_servers=self.bootstrap_servers)

    @property
    def group_id(self) -> str:
        return f"{self.topic_prefix}.worker"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from the process environment; `overrides` that are not None win."""
        return cls.from_mapping(os.environ, **overrides)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str], **overrides: object) -> Settings:
        values: dict[str, object] = {}
        for name, (variable, read) in ENVIRONMENT.items():
            text = env.get(variable)
            if text is not None and text != "":
                values[name] = read(variable, text)
        values["kek"] = _kek(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]


def _kek(env: Mapping[str, str]) -> str | None:
    kek = env.get("JWTGEN_KEK")
    path = env.get("JWTGEN_KEK_FILE")
    if kek or not path:
        return kek or None
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise SettingsError(f"JWTGEN_KEK_FILE={path!r} cannot be read ({exc.strerror or type(exc).__name__})") from None
