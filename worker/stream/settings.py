"""Worker settings, read once from the environment (docs/contract.md, "Commands and environment").

A value that cannot be read is a `SettingsError` naming the variable and the
bad value (`JWTGEN_BATCH_MAX='abc' is not an integer`), never a bare
ValueError; secrets are never quoted.

The KAFKA_* variables are named after Kafka's client properties
(security.protocol, sasl.mechanism ...) and are checked together: a
combination that cannot work (SASL without a user, a CA file that cannot be
read) is refused at start-up with the variable to fix.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property

from worker.stream.connection import (
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    KafkaConnection,
    SaslMechanism,
    SecurityProtocol,
)


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


def _readable_file(name: str, text: str) -> str:
    path = text.strip()
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise SettingsError(f"{name}={text!r} cannot be read ({exc.strerror or type(exc).__name__})") from None
    return path


_LOG_LEVELS = ("debug", "info", "warning", "error")


def _log_level(name: str, text: str) -> str:
    level = text.strip().lower()
    if level not in _LOG_LEVELS:
        raise SettingsError(f"{name}={text!r} must be one of {', '.join(_LOG_LEVELS)}")
    return level


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def read(name: str, text: str) -> str:
        value = text.strip().upper()
        if value not in choices:
            raise SettingsError(f"{name}={text!r} must be one of {', '.join(choices)}")
        return value

    return read


_LOG_FORMATS = ("text", "json")


def _log_format(name: str, text: str) -> str:
    value = text.strip().lower()
    if value not in _LOG_FORMATS:
        raise SettingsError(f"{name}={text!r} must be one of {', '.join(_LOG_FORMATS)}")
    return value


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
    "security_protocol": ("KAFKA_SECURITY_PROTOCOL", _choice(SECURITY_PROTOCOLS)),
    "sasl_mechanism": ("KAFKA_SASL_MECHANISM", _choice(SASL_MECHANISMS)),
    "sasl_username": ("KAFKA_SASL_USERNAME", _text),
    "ssl_ca_file": ("KAFKA_SSL_CA_FILE", _text),
    "ssl_cert_file": ("KAFKA_SSL_CERT_FILE", _text),
    "ssl_key_file": ("KAFKA_SSL_KEY_FILE", _text),
    "ssl_check_hostname": ("KAFKA_SSL_CHECK_HOSTNAME", _boolean),
    "log_format": ("JWTGEN_LOG_FORMAT", _log_format),
    "audit": ("JWTGEN_AUDIT", _boolean),
    "jwks_ca_file": ("JWTGEN_JWKS_CA_FILE", _readable_file),
    "jwks_timeout_seconds": ("JWTGEN_JWKS_TIMEOUT_SECONDS", _positive_seconds),
    "startup_wait_seconds": ("JWTGEN_STARTUP_WAIT_SECONDS", _seconds),
    "shutdown_timeout_seconds": ("JWTGEN_SHUTDOWN_TIMEOUT_SECONDS", _positive_seconds),
    "log_repeat_seconds": ("JWTGEN_LOG_REPEAT_SECONDS", _positive_seconds),
    "group_instance_id": ("JWTGEN_GROUP_INSTANCE_ID", _text),
    "leave_group_on_shutdown": ("JWTGEN_LEAVE_GROUP_ON_SHUTDOWN", _boolean),
    "reconnect_backoff_max_seconds": ("KAFKA_RECONNECT_BACKOFF_MAX_MS", _milliseconds),
}
KEK_VARIABLES = ("JWTGEN_KEK", "JWTGEN_KEK_FILE")
SASL_PASSWORD_VARIABLES = ("KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD_FILE")
# Variables whose value is a secret: deployments pass them from a Secret, never a ConfigMap.
SECRET_VARIABLES = (*KEK_VARIABLES, *SASL_PASSWORD_VARIABLES)


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
    # How long an idle worker's first request waits for the ones right behind it (batches.py).
    # Under load batches take what arrived while the previous one was answered, without waiting.
    # Half a millisecond: paced at half the HS256 peak, p99 median 17 ms against 25 with 2 ms (README, Performance).
    batch_within_seconds: float = 0.0005
    kek: str | None = field(default=None, repr=False)  # the JWK text that opens sealed secrets
    # How long the group waits for a silent worker before its partitions
    # move: short enough that a crashed worker's backlog resumes quickly.
    session_timeout_seconds: float = 15.0
    data_dir: str | None = None  # Faust's scratch directory; a temp dir when unset
    log_level: str = "info"
    # How to reach Kafka securely (worker/stream/connection.py).
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_file: str | None = None
    ssl_cert_file: str | None = None
    ssl_key_file: str | None = None
    ssl_check_hostname: bool = True
    log_format: str = "text"  # "json": one JSON object per line (worker/stream/logs.py)
    audit: bool = False  # one event per True answer on <prefix>.audit
    jwks_ca_file: str | None = None  # CA bundle (PEM) trusted for jwks_url fetches; the system's when unset
    jwks_timeout_seconds: float = 5.0
    # Outages, restarts and rebalances (README, "Outages, restarts and rebalances").
    startup_wait_seconds: float = 300.0  # how long a start waits for an unreachable Kafka; 0: not at all
    shutdown_timeout_seconds: float = 20.0  # a stop never takes longer (Kubernetes' grace period is 60 s)
    log_repeat_seconds: float = 60.0  # one line per repeated message, and one outage reminder, per this
    group_instance_id: str | None = None  # static group membership (KIP-345) when set: unique per worker
    leave_group_on_shutdown: bool = True  # a static member leaves on a clean stop; only a crash keeps its place
    reconnect_backoff_max_seconds: float = 1.0  # like the Java client's reconnect.backoff.max.ms

    @cached_property
    def kafka(self) -> KafkaConnection:
        """The one connection object of every Kafka client (built once: its TLS context reads files)."""
        return KafkaConnection(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=self.security_protocol,
            sasl_mechanism=self.sasl_mechanism,
            sasl_username=self.sasl_username,
            sasl_password=self.sasl_password,
            ssl_ca_file=self.ssl_ca_file,
            ssl_cert_file=self.ssl_cert_file,
            ssl_key_file=self.ssl_key_file,
            ssl_check_hostname=self.ssl_check_hostname,
        )

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
        values["sasl_password"] = _sasl_password(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        settings = cls(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]
        check_kafka(settings.kafka)
        return settings


def _variable(setting: str) -> str:
    return ENVIRONMENT[setting][0]


def check_kafka(kafka: KafkaConnection) -> None:
    """Refuse a combination of KAFKA_* settings that cannot work, naming the variable to fix.

    Also reads the TLS files once, so that a missing or malformed file is
    reported here rather than as a failed handshake later.
    """
    protocol = f"{_variable('security_protocol')}={kafka.security_protocol}"
    if kafka.uses_sasl:
        if kafka.sasl_mechanism is None:
            raise SettingsError(f"{protocol} needs {_variable('sasl_mechanism')} ({', '.join(SASL_MECHANISMS)})")
        if not kafka.sasl_username:
            raise SettingsError(f"{protocol} needs {_variable('sasl_username')}")
        if not kafka.sasl_password:
            raise SettingsError(f"{protocol} needs {' or '.join(SASL_PASSWORD_VARIABLES)}")
    else:
        sasl_set = [
            variable
            for variable, value in (
                (_variable("sasl_mechanism"), kafka.sasl_mechanism),
                (_variable("sasl_username"), kafka.sasl_username),
                (SASL_PASSWORD_VARIABLES[0], kafka.sasl_password),
            )
            if value
        ]
        if sasl_set:
            raise SettingsError(
                f"{', '.join(sasl_set)} set but {protocol} does not use SASL: "
                f"set {_variable('security_protocol')}=SASL_SSL (or SASL_PLAINTEXT)"
            )
    tls_files = {
        _variable("ssl_ca_file"): kafka.ssl_ca_file,
        _variable("ssl_cert_file"): kafka.ssl_cert_file,
        _variable("ssl_key_file"): kafka.ssl_key_file,
    }
    if not kafka.uses_tls:
        tls_set = [variable for variable, path in tls_files.items() if path]
        if tls_set:
            raise SettingsError(
                f"{', '.join(tls_set)} set but {protocol} does not use TLS: "
                f"set {_variable('security_protocol')}=SSL or SASL_SSL"
            )
        return
    if kafka.ssl_key_file and not kafka.ssl_cert_file:
        raise SettingsError(f"{_variable('ssl_key_file')} needs {_variable('ssl_cert_file')} (the client certificate)")
    for variable, path in tls_files.items():
        if path:
            _readable(variable, path)
    try:
        kafka.ssl_context  # noqa: B018 - built now to report a bad file against its variable
    except ssl.SSLError as exc:
        raise SettingsError(_tls_file_problem(kafka, exc)) from None


def _readable(variable: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise SettingsError(f"{variable}={path!r} cannot be read ({exc.strerror or type(exc).__name__})") from None


def _tls_file_problem(kafka: KafkaConnection, exc: ssl.SSLError) -> str:
    reason = exc.reason or str(exc)
    try:
        ssl.create_default_context(cafile=kafka.ssl_ca_file)
    except ssl.SSLError:
        return f"{_variable('ssl_ca_file')}={kafka.ssl_ca_file!r} holds no PEM certificate ({reason})"
    names = _variable("ssl_cert_file") + (f" / {_variable('ssl_key_file')}" if kafka.ssl_key_file else "")
    return f"{names}: cannot load the client certificate and its unencrypted PEM key ({reason})"


def _sasl_password(env: Mapping[str, str]) -> str | None:
    """The SASL password, from its variable or its file (a Secret mounted as a file), never quoted."""
    variable, file_variable = SASL_PASSWORD_VARIABLES
    password, path = env.get(variable), env.get(file_variable)
    if password and path:
        raise SettingsError(f"set {variable} or {file_variable}, not both")
    if not path:
        return password or None
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SettingsError(f"{file_variable}={path!r} cannot be read ({reason})") from None
    text = text.rstrip("\r\n")  # the newline an editor or `echo` leaves is not part of it
    if not text:
        raise SettingsError(f"{file_variable}={path!r} is empty")
    return text


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
