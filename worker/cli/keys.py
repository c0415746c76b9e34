"""`jwtgen keys`: generate key pairs, seal secrets to the workers' key-encryption key, rotate signing keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from worker.cli.common import pretty_json
from worker.core.algorithms import CURVES, KEY_TYPES


@click.group()
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
    click.echo(pretty_json({"private": private, "public": public}))


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


@keys.command("rotate")
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the next version (default: standard output).",
)
@click.option(
    "--kek",
    "kek_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Seal the new private key to this key-encryption key (JWK file; required when the current key is sealed).",
)
@click.option("--kid", help="Key id of the new key (default: its RFC 7638 thumbprint).")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.IntRange(min=0),
    default=None,
    help="Seconds between announcing and switching (default: the key sets' cache time, at least 600).",
)
@click.option("--force", is_flag=True, help="Switch even if the next key was announced less than --wait ago.")
@click.option(
    "--next-private-key",
    "next_private_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The next key's private key (PEM or JWK), when the config announced only its public key.",
)
def keys_rotate(
    config_file: Path,
    output: Path | None,
    kek_file: Path | None,
    kid: str | None,
    wait_seconds: int | None,
    force: bool,
    next_private_file: Path | None,
) -> None:
    """Write the next version of CONFIG_FILE in a zero-downtime rotation of its signing key.

    \b
    Two steps, each published with `jwtgen config put`:
      1. announce: with no signature.next_key yet, a new key pair of the same
         type and size becomes next_key. Workers publish its public key in
         /jwks.json at once and keep signing with the current key.
      2. switch: run again after --wait (verifiers have refreshed their cached
         key sets): next_key signs from now on, and the current key moves to
         signature.retired_keys, published until its last token has expired.
    Both steps drop retired keys whose tokens have all expired. Sealed keys
    are opened with JWTGEN_KEK, as `config put` does.

    \b
    Example:
      jwtgen keys rotate login.json -o login.json && jwtgen config put login.json   # announce
      # ... 10 minutes later
      jwtgen keys rotate login.json -o login.json && jwtgen config put login.json   # switch
    """
    import time

    from worker.cli.common import load_json_file, settings_from_env
    from worker.core.jwks import PREPUBLISH_SECONDS
    from worker.core.keyrotation import RotationError, rotate
    from worker.core.sealed import import_kek

    raw = load_json_file(config_file)
    if not isinstance(raw, dict):
        raise click.ClickException(f"{config_file}: not a config (a JSON object)")
    seal_to = _load_kek(kek_file) if kek_file is not None else None
    next_private = next_private_file.read_text(encoding="utf-8") if next_private_file is not None else None
    try:
        result = rotate(
            raw,
            now=int(time.time()),
            kek=import_kek(settings_from_env().kek),
            seal_to=seal_to,
            kid=kid,
            wait_seconds=PREPUBLISH_SECONDS if wait_seconds is None else wait_seconds,
            force=force,
            next_private_key=next_private,
        )
    except RotationError as exc:
        raise click.ClickException(f"{config_file}: {exc}") from None
    text = pretty_json(result.config) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    version = result.config["version"]
    if result.step == "announce":
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(result.switch_after))
        click.echo(
            f"version {version} announces key '{result.kid}': publish it now (jwtgen config put), "
            f"then run `jwtgen keys rotate` again from {when} to switch to it",
            err=True,
        )
    else:
        click.echo(
            f"version {version} signs with key '{result.kid}' and keeps the previous key published "
            "until its tokens have expired: publish it now (jwtgen config put)",
            err=True,
        )
    if result.pruned:
        click.echo(f"dropped retired keys whose tokens have expired: {', '.join(result.pruned)}", err=True)


def _load_kek(path: Path) -> Any:
    from joserfc.jwk import import_key

    try:
        return import_key(orjson.loads(path.read_bytes()))
    except Exception as exc:
        raise click.ClickException(f"{path}: not a usable JWK ({type(exc).__name__})") from exc
