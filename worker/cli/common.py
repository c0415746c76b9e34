"""What the commands share: Kafka options, settings from the environment, JSON in and out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
import orjson

from worker.stream.settings import Settings, SettingsError

BOOTSTRAP_HELP = "Kafka bootstrap servers, host:port[,host:port] (env KAFKA_BOOTSTRAP_SERVERS, default localhost:9092)."
PREFIX_HELP = "Topic prefix (env JWTGEN_TOPIC_PREFIX, default jwt-generator)."


def run_client(coro: Any, bootstrap: str) -> Any:
    """Run a client coroutine; a Kafka that cannot be reached is a one-line error, not a traceback."""
    from aiokafka.errors import KafkaError

    try:
        return asyncio.run(coro)
    except KafkaError as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {bootstrap}: {exc} (set KAFKA_BOOTSTRAP_SERVERS or --bootstrap)"
        ) from exc


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
