"""`jwtgen record`: write a prefix's contract topics to a recording file (JSON Lines)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import click

from worker.cli.common import BOOTSTRAP_HELP, PREFIX_HELP, run_client, settings_from_env
from worker.cli.progress import ProgressLine
from worker.replay.recording import TOPICS, Record, parse_time, plaintext_secrets, to_line
from worker.stream.topics import TopicNames


def _time_option(_: click.Context, __: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _topics_option(_: click.Context, __: click.Parameter, value: str) -> list[str]:
    chosen = [t.strip() for t in value.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in TOPICS]
    if unknown or not chosen:
        raise click.BadParameter(f"choose from {', '.join(TOPICS)} (comma-separated)")
    return chosen


def _create_private(path: Path, overwrite: bool) -> BinaryIO:
    """The file, created with mode 0600: a recording holds whatever the configs hold."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists (--overwrite replaces it)") from None
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot be created ({exc.strerror})") from None
    os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
    return os.fdopen(fd, "wb")


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The recording file.")
@click.option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", default="localhost:9092", help=BOOTSTRAP_HELP)
@click.option("--prefix", envvar="JWTGEN_TOPIC_PREFIX", default="jwt-generator", help=PREFIX_HELP)
@click.option(
    "--topics",
    default=",".join(TOPICS),
    show_default=True,
    callback=_topics_option,
    help="Which of the prefix's topics to record (comma-separated).",
)
@click.option("--since", callback=_time_option, help="Only requests (and their answers) from this time on.")
@click.option("--until", callback=_time_option, help="Only configs and requests up to this time.")
@click.option("--overwrite", is_flag=True, help="Replace FILE if it exists.")
def record(
    out: Path, bootstrap: str, prefix: str, topics: list[str], since: int | None, until: int | None, overwrite: bool
) -> None:
    """Record the contract topics of a prefix into a JSON Lines file, for `jwtgen replay`.

    Reads each topic up to the end offset it had when the command started.
    One line per Kafka record: topic (relative to the prefix), partition,
    offset, timestamp and its type, headers, key and value, byte for byte
    (`key_b64` / `value_b64` hold bytes that are not UTF-8). The configs topic
    is read from its beginning even with --since, since requests use configs
    published before. Times are ISO 8601 (UTC unless a zone is given) or epoch
    seconds.

    \b
    The file is created with mode 0600: configs may hold key material (the
    command warns when one does in plaintext; sealed secrets are fine).
    """
    from worker.replay.kafka import record_topics

    settings = settings_from_env(bootstrap_servers=bootstrap, topic_prefix=prefix)
    progress = ProgressLine()
    plaintext: list[tuple[str, list[str]]] = []
    with _create_private(out, overwrite) as fh:

        def write(record: Record) -> None:
            fh.write(to_line(record))
            if record.topic == "configs":
                fields = plaintext_secrets(record.value)
                if fields:
                    plaintext.append(((record.key or b"").decode("utf-8", "replace"), fields))

        try:
            recorded = run_client(
                record_topics(
                    settings.kafka,
                    TopicNames(settings.topic_prefix),
                    topics,
                    write,
                    since_ms=since,
                    until_ms=until,
                    progress=progress.update,
                ),
                settings.kafka.describe(),
            )
        except (TimeoutError, RuntimeError) as exc:
            out.unlink(missing_ok=True)
            raise click.ClickException(f"recording stopped: {exc}") from None
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        finally:
            progress.close()
    for topic in recorded.missing_topics:
        click.echo(f"warning: topic {prefix}.{topic} does not exist: not recorded", err=True)
    if not recorded.counts:
        out.unlink(missing_ok=True)
        raise click.ClickException(f"no topic of prefix '{prefix}' exists on {settings.kafka.describe()}")
    if plaintext:
        config_id, fields = plaintext[0]
        configs = len({c for c, _ in plaintext})
        click.echo(
            f"warning: {configs} recorded config(s) hold plaintext key material (first: '{config_id}' "
            f"{', '.join(fields)}); keep {out} as safe as the keys, or seal them with `jwtgen keys seal`",
            err=True,
        )
    total = sum(recorded.counts.values())
    parts = ", ".join(f"{t} {n}" for t, n in recorded.counts.items())
    seconds = progress.seconds
    click.echo(
        f"recorded {total} records ({parts}) of prefix '{prefix}' into {out} "
        f"in {seconds:.1f}s ({total / max(seconds, 1e-6):,.0f} records/s)"
    )
