"""`jwtgen broker`: the local single-node Kafka for development and tests."""

from __future__ import annotations

from pathlib import Path

import click

from worker.devtools import broker as local_broker


@click.group()
def broker() -> None:
    """Run a local single-node Apache Kafka (KRaft) for development and tests.

    \b
    Jars: on first use Maven copies Kafka from Maven Central (about 100 MB),
    following the POM shipped in the package (worker/devtools/kafka-broker.pom.xml),
    into <cache root>/<hash of the POM text>/. Every checkout and install with
    the same POM shares that directory; a new POM gets a new one. A filled
    directory is never changed or deleted, so brokers keep running from it.
    Cache root: env JWTGEN_KAFKA_JARS, by default ~/.cache/jwtgen/kafka-jars.

    \b
    Ports: --port must be free on 127.0.0.1; the controller port is chosen
    for you. Prefer ports below the kernel's ephemeral range (Linux:
    32768-60999, see /proc/sys/net/ipv4/ip_local_port_range): there, a client
    reconnecting to a stopped broker can take the port and block a restart.
    """


DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=local_broker.DEFAULT_DATA_DIR,
    show_default=True,
    help="Where the broker keeps its pid file, logs and KRaft storage (env JWTGEN_BROKER_DIR).",
)


@broker.command("start")
@click.option(
    "--port",
    type=int,
    default=9092,
    show_default=True,
    help="PLAINTEXT listener port on 127.0.0.1; best below the ephemeral range (32768 on Linux).",
)
@DATA_DIR_OPTION
@click.option("--wait", type=float, default=120.0, show_default=True, help="Seconds to wait until it serves.")
def broker_start(port: int, data_dir: Path, wait: float) -> None:
    """Start the broker in the background and return once it serves.

    Starting a broker that already runs for this data dir does nothing. A
    port in use is an error (exit 1); so is a broker that exits while
    starting, with its reason from DATA_DIR/server.log. The first start with
    a new POM fetches the jars (see `jwtgen broker --help`; needs mvn).
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
