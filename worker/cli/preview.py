"""`jwtgen preview`: build the token of a config offline, exactly as a worker would, and show it."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

import click

from worker.cli.common import load_json_file, pretty_json, settings_from_env

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.argument("config_file", type=EXISTING_FILE)
@click.option("--store", "store_file", type=EXISTING_FILE, help="JSON file holding the flow store (default: empty).")
@click.option("--issued-at", type=int, help="The request's issued_at, epoch seconds (default: now).")
@click.option("--execution-id", help="The request's execution id; jti derives from it (default: a random one).")
@click.option(
    "--decrypt",
    "key_file",
    type=EXISTING_FILE,
    help="Open the JWE with this key and show what is inside: a JWK file, a PEM private key, or a password file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of labelled sections.")
def preview(
    config_file: Path,
    store_file: Path | None,
    issued_at: int | None,
    execution_id: str | None,
    key_file: Path | None,
    as_json: bool,
) -> None:
    """Build the token CONFIG_FILE makes for a flow store, offline, and print it.

    The same code as a worker's answers a request for the config: validation,
    claims, signature, encryption, the token-size budget and the store delta.
    Kafka is not involved; a config whose encryption key comes from a
    jwks_url has that key set fetched once (JWTGEN_JWKS_CA_FILE applies), and
    sealed secrets open with JWTGEN_KEK / JWTGEN_KEK_FILE as on a worker.

    Prints the protected header, the claims, the token and its size in bytes,
    token_info and the store delta. A Failure prints its code and message and
    exits 1. With the same --issued-at and --execution-id as a request, a
    deterministic config (HMAC, RSA PKCS#1 v1.5 or Ed25519 signatures, no
    encryption) gives the very token the worker answers with.

    \b
    Example:
      jwtgen preview examples/login-token.json --store store.json --issued-at 1764355200 --execution-id e-1
    """
    from worker.core import engine
    from worker.core.config import ConfigInvalid
    from worker.core.errors import ErrorCode, NodeError
    from worker.core.keysets import KeySets, shown
    from worker.core.sealed import import_kek
    from worker.stream.keysets import KeySetFetcher

    settings = settings_from_env()
    raw = load_json_file(config_file)
    store = load_json_file(store_file) if store_file is not None else {}
    if not isinstance(store, dict):
        raise click.ClickException(f"{store_file}: the flow store must be a JSON object")
    iat = issued_at if issued_at is not None else int(time.time())
    execution = execution_id or str(uuid.uuid4())
    keysets = KeySets()
    try:
        compiled = engine.compile_config(raw, kek=import_kek(settings.kek), keysets=keysets)
        fetcher = KeySetFetcher(keysets, settings.jwks_ca_file, settings.jwks_timeout_seconds)
        for url in keysets.urls():
            fetched = fetcher.fetch(url)
            click.echo(f"key set {shown(url)}: {'fetched' if fetched else keysets.error_of(url)}", err=True)
        generated = engine.generate(compiled, store=store, iat=iat, execution_id=execution)
    except ConfigInvalid as exc:
        _failure(NodeError(ErrorCode.CONFIG_INVALID, "; ".join(exc.problems)), as_json)
        return
    except NodeError as exc:
        _failure(exc, as_json)
        return
    shown_out: dict[str, Any] = {
        "config": {"id": compiled.id, "version": compiled.version},
        "execution_id": execution,
        "issued_at": iat,
        "header": generated.header,
        "claims": generated.claims,
        "token": generated.token,
        "size_bytes": len(generated.token),
        "token_info": generated.token_info,
        "store_delta": generated.store_delta,
    }
    if key_file is not None:
        shown_out["decrypted"] = _decrypt(generated.token, key_file)
    if as_json:
        click.echo(pretty_json(shown_out))
        return
    click.echo(f"config '{compiled.id}' version {compiled.version}, execution {execution}, issued at {iat}")
    for label, name in (("protected header", "header"), ("claims", "claims")):
        click.echo(f"\n{label}:\n{pretty_json(shown_out[name])}")
    click.echo(f"\ntoken ({shown_out['size_bytes']} bytes):\n{generated.token}")
    click.echo(f"\ntoken_info:\n{pretty_json(generated.token_info)}")
    click.echo(f"\nstore_delta (saved to the flow store):\n{pretty_json(generated.store_delta)}")
    if key_file is not None:
        inside = shown_out["decrypted"]
        click.echo(f"\ndecrypted with {key_file.name}:")
        if "token" in inside:
            click.echo(f"inner token:\n{inside['token']}")
            click.echo(f"inner protected header:\n{pretty_json(inside['header'])}")
            click.echo(f"inner claims:\n{pretty_json(inside['claims'])}")
        else:
            click.echo(f"plaintext claims:\n{pretty_json(inside['claims'])}")


def _failure(error: Any, as_json: bool) -> None:
    if as_json:
        click.echo(pretty_json({"outcome": "Failure", "error": error.as_dict()}))
    else:
        click.echo(f"Failure {error.code.value}: {error.message}")
    sys.exit(1)


def _decrypt(token: str, key_file: Path) -> dict[str, Any]:
    """What a JWE holds: the inner JWS (token, header, claims) of a nested JWT, or the claims."""
    import base64

    import orjson
    from joserfc import jwe
    from joserfc.errors import JoseError

    from worker.core import jsonio
    from worker.core.tokens import compact_header

    if token.count(".") != 4:
        raise click.ClickException("--decrypt: the token is not a JWE (the config has no encryption)")
    header = compact_header(token)
    key = _decryption_key(key_file)
    try:
        plaintext = jwe.decrypt_compact(token, key, algorithms=[header["alg"], header["enc"]]).plaintext or b""
    except (JoseError, ValueError, TypeError) as exc:
        raise click.ClickException(f"--decrypt: {key_file} does not open this JWE ({type(exc).__name__})") from None
    if header.get("cty") == "JWT":
        inner = plaintext.decode("ascii")
        segment = inner.split(".")[1]  # read, not verified: the config's own signature made it
        payload = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return {"token": inner, "header": compact_header(inner), "claims": jsonio.loads(payload)}
    try:
        return {"claims": orjson.loads(plaintext)}
    except orjson.JSONDecodeError:
        raise click.ClickException("--decrypt: the plaintext is not JSON claims") from None


def _decryption_key(key_file: Path) -> Any:
    """A JWK (JSON), a PEM private key, or else the file's text as a password (one trailing newline dropped)."""
    import orjson
    from joserfc.errors import JoseError
    from joserfc.jwk import import_key

    from worker.core import keys as keyops

    text = key_file.read_text(encoding="utf-8")
    try:
        if text.lstrip().startswith("{"):
            return import_key(orjson.loads(text))
        if keyops.is_pem(text):
            return keyops.load_private(text)
    except (ValueError, TypeError, JoseError) as exc:
        raise click.ClickException(f"--decrypt: {key_file} is not a usable key ({type(exc).__name__})") from None
    password = text[:-1] if text.endswith("\n") else text
    return keyops.oct_from_password(password)
