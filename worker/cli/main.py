"""`jwtgen`: the command line of the JWT Generator worker (CONTRACT.md §6)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
import orjson

from worker.core.algorithms import CURVES, KEY_TYPES
from worker.devtools import broker as local_broker
from worker.stream.settings import Settings
from worker.stream.topics import TopicNames

BOOTSTRAP_HELP = "Kafka bootstrap servers, host:port[,host:port] (env KAFKA_BOOTSTRAP_SERVERS, default localhost:9092)."
PREFIX_HELP = "Topic prefix (env JWTGEN_TOPIC_PREFIX, default jwt-generator)."


def _kafka(coro: Any, bootstrap: str) -> Any:
    """Run a client coroutine; a Kafka that cannot be reached is a one-line error, not a traceback."""
    from aiokafka.errors import KafkaError

    try:
        return asyncio.run(coro)
    except KafkaError as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {bootstrap}: {exc} (set KAFKA_BOOTSTRAP_SERVERS or --bootstrap)"
        ) from exc


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="jwtgen-worker")
def main() -> None:
    """The JWT - Generator node as a Kafka worker.

    Flow orchestrators publish node-execution events to <prefix>.requests; the
    worker looks up the node config (published to <prefix>.configs), builds
    and signs (optionally encrypts) a JWT and answers on <prefix>.true or
    <prefix>.failure.

    \b
    Quick start (local broker):
      jwtgen broker start            # Apache Kafka on localhost:9092
      jwtgen worker &                # answers requests, web on :6066
      jwtgen keys generate --type oct --alg HS256
      jwtgen config put examples/login-token.json
      jwtgen request examples/request.json
    """


# --------------------------------------------------------------------- broker


@main.group()
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


# --------------------------------------------------------------------- worker


@main.command()
@click.option("--web-port", type=int, default=6066, show_default=True, help="Port of GET /healthz and GET /metrics.")
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
    topic's partitions.

    \b
    Environment: KAFKA_BOOTSTRAP_SERVERS, JWTGEN_TOPIC_PREFIX,
    JWTGEN_REQUEST_PARTITIONS (8), JWTGEN_REPLICATION_FACTOR (1),
    JWTGEN_KEK / JWTGEN_KEK_FILE (JWK that opens sealed secrets),
    JWTGEN_CONFIG_WAIT_SECONDS (2), JWTGEN_BATCH_MAX (500).
    """
    from faust.worker import Worker

    from worker.stream.app import create_app
    from worker.stream.topics import ensure_topics

    settings = Settings.from_env(
        bootstrap_servers=bootstrap, topic_prefix=prefix, web_port=web_port, web_host=web_host, log_level=log_level
    )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(
            ensure_topics(
                settings.bootstrap_servers,
                TopicNames(settings.topic_prefix),
                settings.request_partitions,
                settings.replication_factor,
            )
        )
    except Exception as exc:
        raise click.ClickException(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    app = create_app(settings)
    Worker(app, loglevel=settings.log_level, loop=loop).execute_from_commandline()


# --------------------------------------------------------------------- config


@main.group()
def config() -> None:
    """Check and publish node configs (CONTRACT.md §2)."""


def _load_json_file(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{path}: not valid JSON: {exc}") from exc


def _problems(raw: Any) -> list[str]:
    from worker.core.engine import validate_config
    from worker.core.sealed import import_kek

    return validate_config(raw, kek=import_kek(Settings.from_env().kek))


@config.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def config_validate(files: tuple[Path, ...]) -> None:
    """Check config FILES; list every problem and exit 1 if any is invalid.

    Runs the same checks a worker runs when the config is used: shape and
    field values, key strength (HMAC secret at least the hash size, RSA at
    least 2048 bits), algorithm/key/curve agreement, key pairs, claims.
    """
    failed = False
    for path in files:
        try:
            problems = _problems(orjson.loads(path.read_bytes()))
        except orjson.JSONDecodeError as exc:
            problems = [f"not valid JSON: {exc}"]
        if problems:
            failed = True
            click.echo(f"{path}: INVALID ({len(problems)} problem{'s' if len(problems) > 1 else ''})")
            for problem in problems:
                click.echo(f"  - {problem}")
        else:
            click.echo(f"{path}: ok")
    sys.exit(1 if failed else 0)


@config.command("put")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", default="localhost:9092", help=BOOTSTRAP_HELP)
@click.option("--prefix", envvar="JWTGEN_TOPIC_PREFIX", default="jwt-generator", help=PREFIX_HELP)
@click.option("--force", is_flag=True, help="Publish even if the config is invalid (to test failure handling).")
def config_put(file: Path, bootstrap: str, prefix: str, force: bool) -> None:
    """Validate FILE and publish it to <prefix>.configs, keyed by its id.

    Workers pick it up within milliseconds. Bump "version" on every change so
    requests that name a version can tell old from new.
    """
    from worker.cli.client import publish_config

    raw = _load_json_file(file)
    problems = _problems(raw)
    if problems and not force:
        click.echo(f"{file}: INVALID, not published:", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    config_id = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(config_id, str) or not config_id:
        raise click.ClickException(f"{file}: needs a string 'id' to be published")
    _kafka(publish_config(bootstrap, TopicNames(prefix), raw, config_id), bootstrap)
    click.echo(f"published config '{config_id}' version {raw.get('version')} to {prefix}.configs")


@config.command("delete")
@click.argument("config_id")
@click.option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", default="localhost:9092", help=BOOTSTRAP_HELP)
@click.option("--prefix", envvar="JWTGEN_TOPIC_PREFIX", default="jwt-generator", help=PREFIX_HELP)
def config_delete(config_id: str, bootstrap: str, prefix: str) -> None:
    """Publish a tombstone for CONFIG_ID: requests for it then fail with CONFIG_NOT_FOUND."""
    from worker.cli.client import publish_config

    _kafka(publish_config(bootstrap, TopicNames(prefix), None, config_id), bootstrap)
    click.echo(f"deleted config '{config_id}' (tombstone published to {prefix}.configs)")


# --------------------------------------------------------------------- request


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", default="localhost:9092", help=BOOTSTRAP_HELP)
@click.option("--prefix", envvar="JWTGEN_TOPIC_PREFIX", default="jwt-generator", help=PREFIX_HELP)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the answer.")
def request(file: Path, bootstrap: str, prefix: str, timeout: float) -> None:
    """Send the node-execution event in FILE and print its answer.

    Exits 0 on a True answer, 2 on a Failure, 1 when no answer came in time.
    """
    from worker.cli.client import request_and_wait

    event = _load_json_file(file)
    if not isinstance(event, dict) or not event.get("execution_id"):
        raise click.ClickException(f"{file}: a request needs an 'execution_id' (CONTRACT.md §3)")
    try:
        topic, answer = _kafka(request_and_wait(bootstrap, TopicNames(prefix), event, timeout), bootstrap)
    except TimeoutError as exc:
        raise click.ClickException(f"{exc}: is a worker running with prefix '{prefix}'?") from exc
    click.echo(f"answer on {topic}:")
    click.echo(_pretty(answer))
    sys.exit(0 if answer.get("outcome") == "True" else 2)


# --------------------------------------------------------------------- keys


@main.group()
def keys() -> None:
    """Make keys for configs."""


@keys.command("generate")
@click.option("--type", "kty", type=click.Choice(KEY_TYPES), required=True, help="Key type.")
@click.option("--size", type=int, help="Bits: RSA modulus (default 2048, min 2048) or oct secret (default by --alg).")
@click.option("--curve", type=click.Choice([curve.name for curve in CURVES]), help="EC/OKP curve.")
@click.option("--alg", help="Algorithm the key is for (HS256, RS256, ES384, A256KW, RSA-OAEP-256, ...).")
@click.option("--kid", help="Key id (default: the RFC 7638 thumbprint).")
def keys_generate(kty: str, size: int | None, curve: str | None, alg: str | None, kid: str | None) -> None:
    """Print a new private JWK and its public JWK, as JSON.

    \b
    Paste "private" into a config's signature.jwk / signature.private_key
    (or encryption.jwk for oct keys), and "public" into encryption.public_jwk
    or hand it to whoever verifies the tokens. oct keys have no public part.
    Examples:
      jwtgen keys generate --type oct --alg HS512
      jwtgen keys generate --type RSA --size 3072 --alg PS256 --kid rsa-2026
      jwtgen keys generate --type EC --alg ECDH-ES+A256KW --curve P-384
    """
    from worker.core.keygen import generate_keypair

    try:
        private, public = generate_keypair(kty, size, curve, alg, kid)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_pretty({"private": private, "public": public}))


@keys.command("seal")
@click.option(
    "--kek",
    "kek_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="JWK file of the workers' key-encryption key (its public half is enough for RSA/EC).",
)
@click.option(
    "--secret-file",
    type=click.File("r"),
    default="-",
    show_default=True,
    help="Where to read the secret (a password, a JWK JSON or a PEM); '-' is standard input.",
)
def keys_seal(kek_file: Path, secret_file: Any) -> None:
    """Seal a secret so that only workers holding JWTGEN_KEK can open it.

    Prints {"sealed": "<JWE>"}, which may stand in a config for any secret
    field (password, jwk, private_key): no plaintext key material then sits in
    Kafka. The secret is read whole, with one trailing newline removed.

    \b
    Example:
      jwtgen keys generate --type RSA --alg RSA-OAEP-256 > kek.json   # once; give workers "private"
      jwtgen keys seal --kek kek-public.json < signing-key.pem
    """
    from joserfc.jwk import import_key

    from worker.core.sealed import seal

    try:
        kek = import_key(orjson.loads(kek_file.read_bytes()))
    except Exception as exc:
        raise click.ClickException(f"{kek_file}: not a usable JWK ({type(exc).__name__})") from exc
    secret = secret_file.read()
    secret = secret[:-1] if secret.endswith("\n") else secret
    if not secret:
        raise click.ClickException("the secret is empty")
    click.echo(orjson.dumps(seal(secret, kek)).decode())
