"""`jwtgen replay`: replay a recording into a fresh prefix (or offline) and compare the answers."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import click
import orjson

from worker.cli.common import BOOTSTRAP_HELP, settings_from_env
from worker.cli.progress import ProgressLine
from worker.stream.settings import Settings


class CannotReplay(click.ClickException):
    """Nothing was compared: bad input, a prefix in use, no worker. Exit status 2, like diff's trouble."""

    exit_code = 2


def _default_prefix() -> str:
    return f"jwtgen-replay-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def _decryption_keys(path: Path | None) -> list[Any]:
    if path is None:
        return []
    from joserfc.jwk import import_key

    try:
        data = orjson.loads(path.read_bytes())
        items = data["keys"] if isinstance(data, dict) and "keys" in data else [data]
        return [import_key(item) for item in items]
    except Exception as exc:
        raise CannotReplay(f"{path}: not a JWK or JWK set ({type(exc).__name__})") from None


@click.command()
@click.argument("recording_file", metavar="RECORDING", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", default="localhost:9092", help=BOOTSTRAP_HELP)
@click.option("--prefix", help="Topic prefix to replay into (default: a new one, jwtgen-replay-<time>-<random>).")
@click.option("--no-worker", is_flag=True, help="Do not start a worker: one runs on --prefix already (a canary).")
@click.option("--offline", is_flag=True, help="No Kafka: run the requests through the handler in this process.")
@click.option("--force", is_flag=True, help="Replay into a prefix whose topics already hold records.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for a new answer.")
@click.option(
    "--decryption-keys",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JWK set of the private keys that asymmetric-JWE tokens are encrypted to, to compare their claims.",
)
@click.option("--keep-topics", is_flag=True, help="Keep the topics this replay created (deleted by default).")
@click.option("--limit", type=int, help="List at most this many differences (all by default).")
def replay(
    recording_file: Path,
    bootstrap: str,
    prefix: str | None,
    no_worker: bool,
    offline: bool,
    force: bool,
    as_json: bool,
    timeout: float,
    decryption_keys: Path | None,
    keep_topics: bool,
    limit: int | None,
) -> None:
    """Replay RECORDING (from `jwtgen record`, or `kcat -C -J`) and compare every answer with the recorded one.

    Publishes the recorded configs and requests into a fresh prefix with their
    original keys, headers and timestamps, in epochs (config records, then the
    requests that followed them, answered before the next config change), so
    each request meets the config version it met. A worker of this
    installation runs on that prefix for the replay (--no-worker: a canary of
    a new version runs there already). Answers are identical (deterministic
    tokens, byte for byte but `processed_at`), equivalent (randomized
    signatures and JWE: same header and claims, opened with the recorded
    config's keys; dead letters), different, missing or extra.

    \b
    JWTGEN_KEK / JWTGEN_KEK_FILE open sealed secrets, for the worker and the comparison.
    Exit status: 0 nothing different or missing, 1 something is, 2 nothing
    could be compared (bad recording, prefix in use, no worker).
    Secrets stay out of the output: a difference is an execution id and a JSON path.
    """
    from worker.replay.compare import judge
    from worker.replay.plan import make_plan
    from worker.replay.recording import RecordingError, read_recording
    from worker.replay.report import render

    # The whole file is read and checked before anything is published.
    try:
        plan = make_plan(read_recording(recording_file))
    except RecordingError as exc:
        where = f"{recording_file}:{exc.line}" if exc.line else str(recording_file)
        raise CannotReplay(f"{where}: {exc.message}") from None
    keys = _decryption_keys(decryption_keys)
    if offline and (prefix or no_worker or force or keep_topics):
        raise click.UsageError("--offline uses no Kafka: --prefix, --no-worker, --force and --keep-topics do not apply")
    if no_worker and not prefix:
        raise click.UsageError("--no-worker needs the --prefix the running worker uses")
    settings = settings_from_env(bootstrap_servers=bootstrap)
    # A recorded config that is invalid is part of what is replayed, not news.
    logging.getLogger("worker.core").setLevel(logging.ERROR)
    from worker.core.sealed import import_kek

    kek = import_kek(settings.kek)
    progress = ProgressLine("answers")
    try:
        if offline:
            from worker.replay.offline import answer_offline

            total = len(plan.exchanges)
            answers = answer_offline(
                plan, kek=kek, max_bytes=settings.max_answer_bytes, on_answer=lambda n: progress.update(n, total, "")
            )
            extras: list[Any] = []
            where = "offline (pure handler, no Kafka)"
        else:
            prefix = prefix or _default_prefix()
            replayed = _replay_on_kafka(plan, settings, prefix, no_worker, force, timeout, keep_topics, progress)
            answers, extras = replayed.answers, replayed.extras
            started = "a canary already running" if no_worker else "a worker started for it"
            where = f"into prefix '{prefix}' on {settings.kafka.describe()} ({started})"
    finally:
        progress.close()
    report = judge(plan, answers, extras, kek=kek, decryption_keys=keys)
    if as_json:
        head = {"recording": str(recording_file), "prefix": None if offline else prefix, "replayed": where}
        click.echo(orjson.dumps({**head, **report.as_json()}).decode())
    else:
        title = (
            f"replayed {recording_file} {where}: {report.requests} requests, "
            f"{report.config_records} config records, {report.epochs} epochs, {progress.seconds:.1f}s"
        )
        click.echo(render(report, title, limit))
    sys.exit(0 if report.passed else 1)


def _replay_on_kafka(
    plan: Any,
    settings: Settings,
    prefix: str,
    no_worker: bool,
    force: bool,
    timeout: float,
    keep_topics: bool,
    progress: ProgressLine,
) -> Any:
    from aiokafka.errors import KafkaError

    from worker.replay.kafka import PrefixNotEmpty, delete_topics, prepare_prefix, replay_on_kafka
    from worker.replay.process import WorkerFailed, WorkerProcess
    from worker.stream.topics import TopicNames

    names = TopicNames(prefix)
    kafka = settings.kafka
    try:
        partitions, replication = settings.request_partitions, settings.replication_factor
        created = asyncio.run(prepare_prefix(kafka, names, force=force, partitions=partitions, replication=replication))
    except PrefixNotEmpty as exc:
        raise CannotReplay(
            f"prefix '{prefix}' already holds records ({', '.join(exc.topics)}): replay into a fresh prefix, "
            "or --force to replay into it anyway"
        ) from None
    except KafkaError as exc:
        raise CannotReplay(f"cannot reach Kafka at {kafka.describe()}: {exc}") from None
    worker = None if no_worker else WorkerProcess(settings.bootstrap_servers, prefix)
    try:
        if worker is not None:
            click.echo(f"starting a worker on prefix '{prefix}' ...", err=True)
            worker.start()
        alive = worker.alive if worker is not None else (lambda: True)
        return asyncio.run(replay_on_kafka(kafka, names, plan, timeout=timeout, progress=progress.update, alive=alive))
    except WorkerFailed as exc:
        raise CannotReplay(str(exc)) from None
    except (TimeoutError, RuntimeError, KafkaError) as exc:
        tail = f"\nworker log:\n{worker.log_tail()}" if worker is not None else ""
        raise CannotReplay(f"replay stopped: {exc}{tail}") from None
    finally:
        if worker is not None:
            worker.stop()
        if not keep_topics and created:
            asyncio.run(delete_topics(kafka, created))
