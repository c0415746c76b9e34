"""`jwtgen request`: send one node-execution event and print its answer."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from worker.cli.common import (
    BOOTSTRAP_HELP,
    PREFIX_HELP,
    SECURITY_HELP,
    kafka_from_env,
    load_json_file,
    pretty_json,
    run_client,
)
from worker.stream.topics import TopicNames


@click.command(epilog=SECURITY_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", default="localhost:9092", help=BOOTSTRAP_HELP)
@click.option("--prefix", envvar="JWTGEN_TOPIC_PREFIX", default="jwt-generator", help=PREFIX_HELP)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the answer.")
def request(file: Path, bootstrap: str, prefix: str, timeout: float) -> None:
    """Send the node-execution event in FILE and print its answer.

    Exits 0 on a True answer, 2 on a Failure, 1 when no answer came in time.
    Needs Write on <prefix>.requests and Read on <prefix>.true and
    <prefix>.failure (no consumer group).
    """
    from worker.cli.client import request_and_wait
    from worker.stream.preflight import requester_needs

    event = load_json_file(file)
    if not isinstance(event, dict) or not event.get("execution_id"):
        raise click.ClickException(f"{file}: a request needs an 'execution_id' (docs/contract.md)")
    kafka, names = kafka_from_env(bootstrap), TopicNames(prefix)
    try:
        topic, answer = run_client(request_and_wait(kafka, names, event, timeout), kafka, requester_needs(names))
    except TimeoutError as exc:
        raise click.ClickException(f"{exc}: is a worker running with prefix '{prefix}'?") from exc
    click.echo(f"answer on {topic}:")
    click.echo(pretty_json(answer))
    sys.exit(0 if answer.get("outcome") == "True" else 2)
