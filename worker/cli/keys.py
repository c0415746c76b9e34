"""`jwtgen keys`: generate key pairs and seal secrets to the workers' key-encryption key."""

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
