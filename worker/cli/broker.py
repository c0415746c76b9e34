"""`jwtgen broker`: the local single-node Kafka for development and tests."""

from __future__ import annotations

from pathlib import Path

import click

from worker.devtools import broker as local_broker


@click.group()
def broker() -> None:
    """Run a local single-node Apache Kafka (KRaft) for development and tests.

    The broker's jars come from Maven Central (worker/devtools/kafka-broker.pom.xml) on first
    use and are cached in ~/.cache/jwtgen/kafka-jars (env JWTGEN_KAFKA_JARS).
    """


DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=local_broker.DEFAULT_DATA_DIR,
    show_default=True,
    help="Where the broker keeps its pid file, logs and KRaft storage (env JWTGEN_BROKER_DIR).",
)


@broker.command("start")
@click.option("--port", type=int, default=9092, show_default=True, help="PLAINTEXT listener port on 127.0.0.1.")
@DATA_DIR_OPTION
@click.option("--wait", type=float, default=120.0, show_default=True, help="Seconds to wait until it serves.")
def broker_start(port: int, data_dir: Path, wait: float) -> None:
    """Start the broker in the background and return once it serves.

    Starting a broker that already runs for this data dir does nothing.
    Stop it with `jwtgen broker stop --data-dir DIR`.
    """
    try:
        local_broker.start(port=port, data_dir=data_dir, wait_seconds=wait, say=click.echo)
    except local_broker.BrokerError as exc:
        raise click.ClickException(str(exc)) from exc


@broker.command("stop")
@DATA_DIR_OPTION
def broker_stop(data_dir: Path) -> None:
    """Stop the broker that runs for this data dir (SIGTERM, then SIGKILL after 60 s)."""
    local_broker.stop(data_dir=data_dir, say=click.echo)
