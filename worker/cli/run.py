"""`jwtgen worker`: run one worker of the consumer group in the foreground."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import click

from worker.cli.common import BOOTSTRAP_HELP, PREFIX_HELP, SECURITY_HELP, settings_from_env
from worker.stream.connection import KafkaRefused
from worker.stream.topics import TopicNames


@click.command(epilog=SECURITY_HELP)
@click.option(
    "--web-port", type=int, default=6066, show_default=True, help="Port of GET /healthz, /metrics and /jwks.json."
)
@click.option("--web-host", default="0.0.0.0", show_default=True, help="Address the web server binds.")
@click.option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", default="localhost:9092", help=BOOTSTRAP_HELP)
@click.option("--prefix", envvar="JWTGEN_TOPIC_PREFIX", default="jwt-generator", help=PREFIX_HELP)
@click.option(
    "--log-level",
    envvar="JWTGEN_LOG_LEVEL",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Log level (env JWTGEN_LOG_LEVEL).",
)
def worker(web_port: int, web_host: str, bootstrap: str, prefix: str, log_level: str) -> None:
    """Run one worker in the foreground (Ctrl-C stops it cleanly).

    Creates any missing contract topic, reads every config into memory, then
    answers requests. Start more processes with the same prefix to scale out:
    they form one consumer group ("<prefix>.worker") and share the requests
    topic's partitions. A wrong password, an untrusted certificate or a
    missing ACL stops it at start (exit 1) with one line naming what to fix.

    An unreachable Kafka at start is waited for (JWTGEN_STARTUP_WAIT_SECONDS,
    300; then exit 1); a stop never takes longer than
    JWTGEN_SHUTDOWN_TIMEOUT_SECONDS (20; exit 75 when cut short).

    \b
    Environment: KAFKA_BOOTSTRAP_SERVERS, JWTGEN_TOPIC_PREFIX,
    JWTGEN_REQUEST_PARTITIONS (8), JWTGEN_REPLICATION_FACTOR (1),
    JWTGEN_KEK / JWTGEN_KEK_FILE (JWK that opens sealed secrets),
    JWTGEN_CONFIG_WAIT_SECONDS (2), JWTGEN_BATCH_MAX (500),
    JWTGEN_LOG_FORMAT (text, or json: one JSON object per line),
    JWTGEN_AUDIT (false: one event per token on <prefix>.audit),
    JWTGEN_JWKS_CA_FILE / JWTGEN_JWKS_TIMEOUT_SECONDS (5) for jwks_url key sets,
    JWTGEN_GROUP_INSTANCE_ID (static membership, e.g. the pod name),
    JWTGEN_STARTUP_WAIT_SECONDS, JWTGEN_SHUTDOWN_TIMEOUT_SECONDS,
    JWTGEN_LOG_REPEAT_SECONDS (60), KAFKA_RECONNECT_BACKOFF_MAX_MS (1000).
    """
    from worker.stream.app import create_app
    from worker.stream.logs import logging_config
    from worker.stream.preflight import prepare_worker
    from worker.stream.process import Worker
    from worker.stream.startup import StartupTimedOut, wait_for_kafka

    settings = settings_from_env(
        bootstrap_servers=bootstrap, topic_prefix=prefix, web_port=web_port, web_host=web_host, log_level=log_level
    )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def prepare() -> Awaitable[None]:
        # Log in, create missing topics, check the ACLs: retried while Kafka is unreachable.
        return prepare_worker(
            settings.kafka,
            TopicNames(settings.topic_prefix),
            settings.group_id,
            settings.request_partitions,
            settings.replication_factor,
            audit=settings.audit,
        )

    def say(line: str) -> None:
        click.echo(f"jwtgen worker: {line}", err=True)

    where = settings.kafka.describe()
    try:
        loop.run_until_complete(wait_for_kafka(prepare, where, settings.startup_wait_seconds, say))
    except (KafkaRefused, StartupTimedOut) as exc:
        # One line naming the cause; a refusal (password, certificate, ACL) is not retried.
        raise click.ClickException(str(exc)) from None
    except Exception as exc:
        raise click.ClickException(f"cannot use Kafka at {where}: {type(exc).__name__}: {exc}") from exc
    app = create_app(settings)
    structured = logging_config(settings.log_format, settings.log_level)
    runner = Worker(
        app,
        loglevel=settings.log_level,
        loop=loop,
        shutdown_seconds=settings.shutdown_timeout_seconds,
        repeat_seconds=settings.log_repeat_seconds,
        logging_config=structured,
        # JSON logs: no banner or progress spinner on stdout between the JSON lines.
        quiet=structured is not None,
    )
    if structured is not None:
        runner.spinner = None
    runner.execute_from_commandline()
