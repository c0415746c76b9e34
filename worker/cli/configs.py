"""`jwtgen config`: validate configs offline, publish them and their tombstones."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from worker.cli.common import (
    BOOTSTRAP_HELP,
    PREFIX_HELP,
    SECURITY_HELP,
    kafka_from_env,
    load_json_file,
    run_client,
    settings_from_env,
)
from worker.stream.topics import TopicNames


@click.group()
def config() -> None:
    """Check and publish node configs (docs/contract.md)."""


def _problems(raw: Any) -> list[str]:
    from worker.core.engine import validate_config
    from worker.core.sealed import import_kek

    return validate_config(raw, kek=import_kek(settings_from_env().kek))


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


@config.command("put", epilog=SECURITY_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", default="localhost:9092", help=BOOTSTRAP_HELP)
@click.option("--prefix", envvar="JWTGEN_TOPIC_PREFIX", default="jwt-generator", help=PREFIX_HELP)
@click.option("--force", is_flag=True, help="Publish even if the config is invalid (to test failure handling).")
def config_put(file: Path, bootstrap: str, prefix: str, force: bool) -> None:
    """Validate FILE and publish it to <prefix>.configs, keyed by its id.

    Workers pick it up within milliseconds. Bump "version" on every change so
    requests that name a version can tell old from new. Needs the Write ACL
    on <prefix>.configs.
    """
    from worker.cli.client import publish_config
    from worker.stream.preflight import publisher_needs

    raw = load_json_file(file)
    problems = _problems(raw)
    if problems and not force:
        click.echo(f"{file}: INVALID, not published:", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    config_id = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(config_id, str) or not config_id:
        raise click.ClickException(f"{file}: needs a string 'id' to be published")
    kafka, names = kafka_from_env(bootstrap), TopicNames(prefix)
    run_client(publish_config(kafka, names, raw, config_id), kafka, publisher_needs(names))
    click.echo(f"published config '{config_id}' version {raw.get('version')} to {prefix}.configs")


@config.command("delete", epilog=SECURITY_HELP)
@click.argument("config_id")
@click.option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", default="localhost:9092", help=BOOTSTRAP_HELP)
@click.option("--prefix", envvar="JWTGEN_TOPIC_PREFIX", default="jwt-generator", help=PREFIX_HELP)
def config_delete(config_id: str, bootstrap: str, prefix: str) -> None:
    """Publish a tombstone for CONFIG_ID: requests for it then fail with CONFIG_NOT_FOUND."""
    from worker.cli.client import publish_config
    from worker.stream.preflight import publisher_needs

    kafka, names = kafka_from_env(bootstrap), TopicNames(prefix)
    run_client(publish_config(kafka, names, None, config_id), kafka, publisher_needs(names))
    click.echo(f"deleted config '{config_id}' (tombstone published to {prefix}.configs)")
