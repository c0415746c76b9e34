"""The next version of a config in a zero-downtime rotation of its signing key (`jwtgen keys rotate`).

A rotation takes two config versions, each published with `jwtgen config put`:

1. announce: a new key pair becomes `signature.next_key`. Workers publish its
   public half in the key sets at once, and keep signing with the current key.
2. switch (at least `wait_seconds` later, once verifiers have refreshed their
   cached key sets): the next key becomes the signing key, and the current
   key's public half moves to `signature.retired_keys` with `retired_at` = now.
   Workers keep publishing it until its last token has expired.

Each step also drops the retired keys whose tokens have all expired. Pure: the
clock, the key-encryption keys and any private key held elsewhere are inputs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import orjson
from joserfc.jwk import Key

from worker.core import keys as keyops
from worker.core.config import ConfigInvalid, NodeConfig, parse_config
from worker.core.jwks import PREPUBLISH_SECONDS, RETIRE_SKEW_SECONDS, public_jwk
from worker.core.keygen import generate_keypair
from worker.core.sealed import is_sealed, seal


class RotationError(ValueError):
    """The config cannot take the next rotation step; the text says why and what to do."""


@dataclass(frozen=True)
class Rotation:
    config: dict[str, Any]  # the next version, ready for `jwtgen config put`
    step: str  # "announce" or "switch"
    kid: str  # the kid of the new key
    switch_after: int | None  # announce: the earliest time to switch (epoch seconds)
    pruned: tuple[str, ...]  # kids of retired keys dropped because their tokens have expired


def rotate(
    raw: dict[str, Any],
    *,
    now: int,
    kek: Key | None = None,
    seal_to: Key | None = None,
    kid: str | None = None,
    wait_seconds: int = PREPUBLISH_SECONDS,
    force: bool = False,
    next_private_key: str | None = None,
) -> Rotation:
    """The next step for `raw`: announce a new key when it has no next key, else switch to it.

    `kek` opens sealed secrets (as JWTGEN_KEK does); `seal_to` seals the new
    private key (needed when the current one is sealed); `next_private_key` is
    the next key's private half when the config announced only its public half.
    """
    config = _valid(raw, kek)
    sig = config.signature
    if sig is None or sig.type != "asymmetric":
        raise RotationError(
            "signature: only asymmetric signing keys rotate with this command "
            "(verifiers of HMAC tokens hold the secret itself: change it in a new config version)"
        )
    raw_sig = raw["signature"]
    kept, pruned = _unexpired(raw_sig.get("retired_keys") or [], config, now)
    out = copy.deepcopy(raw)
    out["version"] = config.version + 1
    if sig.next_key is None:
        return _announce(
            out, config, raw_sig, kept, pruned, now=now, kek=kek, seal_to=seal_to, kid=kid, wait=wait_seconds
        )
    if kid is not None:
        raise RotationError(f"--kid names a new key: the config already announces next_key '{sig.next_key.kid}'")
    announced = sig.next_key.announced_at
    if not force:
        if announced is None:
            raise RotationError(
                "signature.next_key has no announced_at, so it cannot tell whether verifiers have it yet; "
                "switch with --force once they have"
            )
        if now < announced + wait_seconds:
            raise RotationError(
                f"signature.next_key was announced at {announced}; verifiers may not have it until "
                f"{announced + wait_seconds} ({announced + wait_seconds - now} s from now): publish the announcing "
                "version, wait, then run this again (or --force)"
            )
    return _switch(out, config, raw_sig, kept, pruned, now=now, kek=kek, next_private_key=next_private_key)


def _announce(
    out: dict[str, Any],
    config: NodeConfig,
    raw_sig: dict[str, Any],
    kept: list[Any],
    pruned: tuple[str, ...],
    *,
    now: int,
    kek: Key | None,
    seal_to: Key | None,
    kid: str | None,
    wait: int,
) -> Rotation:
    sig = config.signature
    assert sig is not None
    if is_sealed(raw_sig.get("private_key")) and seal_to is None:
        raise RotationError(
            "signature.private_key is sealed: pass --kek (the key-encryption key's public JWK) to seal the new key too"
        )
    key = sig.key
    size = keyops.rsa_bits(key) if isinstance(key, keyops.RSAKey) else None
    curve = keyops.curve_of(key) if isinstance(key, keyops.ECKey) else None
    private, _ = generate_keypair(sig.key_type, size, curve, sig.alg, kid)
    private_text = orjson.dumps(private).decode()
    value: Any = seal(private_text, seal_to) if seal_to is not None else private
    signature = out["signature"]
    signature["next_key"] = {"kid": private["kid"], "alg": sig.alg, "private_key": value, "announced_at": now}
    _set_retired(signature, kept)
    _valid(out, kek)
    return Rotation(out, "announce", str(private["kid"]), now + wait, pruned)


def _switch(
    out: dict[str, Any],
    config: NodeConfig,
    raw_sig: dict[str, Any],
    kept: list[Any],
    pruned: tuple[str, ...],
    *,
    now: int,
    kek: Key | None,
    next_private_key: str | None,
) -> Rotation:
    sig = config.signature
    assert sig is not None and sig.next_key is not None
    upcoming = sig.next_key
    private_value = raw_sig["next_key"].get("private_key")
    if private_value is None:
        if next_private_key is None:
            raise RotationError(
                "signature.next_key holds only a public key: give its private key (--next-private-key FILE)"
            )
        try:
            given = keyops.load_private(next_private_key)
        except keyops.KeyProblem as exc:
            raise RotationError(f"--next-private-key: {exc}") from None
        if not keyops.same_public_key(given, upcoming.public_key):
            raise RotationError("--next-private-key is not the private half of signature.next_key")
        private_value = next_private_key
    current_kid = sig.kid or keyops.thumbprint(sig.key)
    retired = {
        "kid": current_kid,
        "alg": sig.alg,
        "public_key": public_jwk(sig.key, current_kid, sig.alg),
        "retired_at": now,
    }
    signature = out["signature"]
    signature.pop("next_key")
    signature.pop("public_key", None)  # the old key's public half
    signature.update(
        private_key=private_value, kid=upcoming.kid, alg=upcoming.alg, key_type=upcoming.public_key.key_type
    )
    new_key = upcoming.public_key
    for name, value in (
        ("key_size", keyops.rsa_bits(new_key) if isinstance(new_key, keyops.RSAKey) else None),
        ("curve", keyops.curve_of(new_key) if isinstance(new_key, keyops.ECKey) else None),
    ):
        if name in signature:  # a declaration kept up to date, never added
            if value is None:
                signature.pop(name)
            else:
                signature[name] = value
    _set_retired(signature, [retired, *kept])
    _valid(out, kek)
    return Rotation(out, "switch", upcoming.kid, None, pruned)


def _unexpired(raw_retired: list[Any], config: NodeConfig, now: int) -> tuple[list[Any], tuple[str, ...]]:
    """The retired entries whose tokens may still be valid, and the kids of those dropped."""
    sig = config.signature
    assert sig is not None
    kept: list[Any] = []
    pruned: list[str] = []
    for entry, parsed in zip(raw_retired, sig.retired_keys, strict=True):
        if parsed.retired_at + config.ttl + RETIRE_SKEW_SECONDS <= now:
            pruned.append(parsed.kid)
        else:
            kept.append(entry)
    return kept, tuple(pruned)


def _set_retired(signature: dict[str, Any], entries: list[Any]) -> None:
    if entries:
        signature["retired_keys"] = entries
    else:
        signature.pop("retired_keys", None)


def _valid(raw: object, kek: Key | None) -> NodeConfig:
    try:
        return parse_config(raw, kek)
    except ConfigInvalid as exc:
        raise RotationError("the config is invalid: " + "; ".join(exc.problems)) from None
