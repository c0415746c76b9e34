"""What the commands share: Kafka options, settings from the environment, JSON in and out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from worker.stream.connection import KafkaConnection, KafkaRefused, KafkaUnreachable
from worker.stream.settings import Settings, SettingsError

if TYPE_CHECKING:
    from worker.stream.preflight import Need

BOOTSTRAP_HELP = "Kafka bootstrap servers, host:port[,host:port] (env KAFKA_BOOTSTRAP_SERVERS, default localhost:9092)."
PREFIX_HELP = "Topic prefix (env JWTGEN_TOPIC_PREFIX, default jwt-generator)."
# Shown by every command that talks to Kafka; names only, never a value.
SECURITY_HELP = """\b
Kafka security (see the README, "Production Kafka"): KAFKA_SECURITY_PROTOCOL
(PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), KAFKA_SASL_MECHANISM (PLAIN,
SCRAM-SHA-256, SCRAM-SHA-512), KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or
KAFKA_SASL_PASSWORD_FILE, KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE and
KAFKA_SSL_KEY_FILE (mTLS), KAFKA_SSL_CHECK_HOSTNAME (true)."""


def kafka_from_env(bootstrap: str) -> KafkaConnection:
    """The connection of the environment's KAFKA_* settings, `bootstrap` (from --bootstrap) winning."""
    return settings_from_env(bootstrap_servers=bootstrap).kafka


def run_client(coro: Coroutine[Any, Any, Any], kafka: KafkaConnection | str, needs: Iterable[Need] = ()) -> Any:
    """Run a client coroutine after checking the login and the ACLs it `needs`.

    Whatever goes wrong with Kafka is one line naming the cause (unreachable,
    wrong password, untrusted certificate, missing ACL), not a traceback. A
    bootstrap string stands for the environment's connection to it.
    """
    from aiokafka.errors import KafkaError

    from worker.stream import preflight

    if isinstance(kafka, str):
        kafka = kafka_from_env(kafka)

    async def checked() -> Any:
        await preflight.check(kafka, needs)
        return await coro

    # aiokafka logs each failed connection itself; the message below says it once.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(checked())
    except KafkaUnreachable as exc:
        raise click.ClickException(f"{exc} (set KAFKA_BOOTSTRAP_SERVERS or --bootstrap)") from None
    except KafkaRefused as exc:
        raise click.ClickException(str(exc)) from None
    except KafkaError as exc:
        raise click.ClickException(preflight.explain(exc, kafka)) from None
    finally:
        coro.close()  # a no-op once it ran; never started if a check failed


def settings_from_env(**overrides: object) -> Settings:
    """The environment's settings; one that cannot be read is a one-line error naming the variable."""
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def load_json_file(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{path}: not valid JSON: {exc}") from exc
