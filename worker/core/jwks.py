"""The public keys verifiers fetch: RFC 7517 JWK sets of the configs' signing keys, and their HTTP caching.

A config with an asymmetric signature publishes its current key, the next key
it announces (`signature.next_key`) and the keys it retired
(`signature.retired_keys`), each retired key until every token it signed has
expired: its last use + the config's `ttl` + RETIRE_SKEW_SECONDS. Its last use
is its `retired_at`, or the timestamp of the config record, whichever is later
(a version that retired a key may have been published later than written).
Both come from the configs topic, so every worker of a group serves the same
set, byte for byte, with the same ETag.

Only the public members of RSA, EC and OKP keys are copied (an allow-list, so
no private or symmetric member can slip through), with `kid`, `alg` and
`use: "sig"`. Symmetric signatures and encryption keys are never published.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from joserfc.jwk import Key

from worker.core import keys as keyops
from worker.core.config import NodeConfig
from worker.core.configtable import ConfigTable
from worker.core.engine import CompiledConfig

# How long verifiers may cache a set (Cache-Control: max-age).
MAX_AGE_SECONDS = 300
# Clock differences between workers and verifiers, and the moments a retired
# key may still sign after `retired_at` (workers applying the new version).
RETIRE_SKEW_SECONDS = 300
# How long a next key is published before `jwtgen keys rotate` switches to it
# by default: at least the max-age, and at least 10 min, the cache time of
# verifiers that ignore Cache-Control (jose's createRemoteJWKSet).
PREPUBLISH_SECONDS = max(MAX_AGE_SECONDS, 600)

CONTENT_TYPE = "application/jwk-set+json"
CACHE_CONTROL = f"public, max-age={MAX_AGE_SECONDS}"

# The only members a published JWK carries besides kid, alg and use (RFC 7518 §6, RFC 8037 §2).
PUBLIC_MEMBERS = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y"), "OKP": ("kty", "crv", "x")}


@dataclass(frozen=True)
class PublishedJwk:
    jwk: dict[str, Any]
    until: float | None = None  # epoch seconds from which it is no longer published (retired keys)


@dataclass(frozen=True)
class KeySetDocument:
    """One JWK set as served: its body, its ETag, and when time alone will change it."""

    body: bytes = field(repr=False)
    etag: str
    keys: int
    changes_at: float | None  # the moment the next retired key drops out, if any


def public_jwk(key: Key, kid: str, alg: str) -> dict[str, Any]:
    """The JWK verifiers get: public members only, with kid, alg and use "sig"."""
    members = PUBLIC_MEMBERS.get(key.key_type)
    if members is None:  # oct: a symmetric key is never published
        raise ValueError(f"a {key.key_type} key has no public half")
    data = keyops.public_members(key)
    jwk = {name: data[name] for name in members}
    jwk.update(kid=kid, alg=alg, use="sig")
    return jwk


def config_keys(config: NodeConfig, kid: str | None, published_at: float | None) -> tuple[PublishedJwk, ...]:
    """The keys one config publishes: current, next, retired (until they expire); none for symmetric signatures.

    `kid` is the signing key's id (None when the config does not sign).
    """
    sig = config.signature
    if sig is None or sig.type != "asymmetric" or kid is None:
        return ()
    keys = [PublishedJwk(public_jwk(sig.key, kid, sig.alg))]
    if sig.next_key is not None:
        keys.append(PublishedJwk(public_jwk(sig.next_key.public_key, sig.next_key.kid, sig.next_key.alg)))
    for retired in sig.retired_keys:
        last_use = max(retired.retired_at, published_at or 0.0)
        until = last_use + config.ttl + RETIRE_SKEW_SECONDS
        keys.append(PublishedJwk(public_jwk(retired.public_key, retired.kid, retired.alg), until))
    return tuple(keys)


def document(keys: Iterable[PublishedJwk], now: float) -> KeySetDocument:
    """The set of `keys` published at `now`: each distinct JWK once, in the given order."""
    seen: set[bytes] = set()
    published: list[dict[str, Any]] = []
    changes_at: float | None = None
    for key in keys:
        if key.until is not None:
            if key.until <= now:
                continue
            changes_at = key.until if changes_at is None else min(changes_at, key.until)
        canonical = orjson.dumps(key.jwk, option=orjson.OPT_SORT_KEYS)
        if canonical not in seen:  # two configs may share a key
            seen.add(canonical)
            published.append(key.jwk)
    body = orjson.dumps({"keys": published}, option=orjson.OPT_SORT_KEYS)
    return KeySetDocument(body, etag_of(body), len(published), changes_at)


def etag_of(body: bytes) -> str:
    """A strong ETag from the body alone, so every worker serving the same set gives the same one."""
    digest = hashlib.sha256(body).digest()[:18]
    return '"' + base64.urlsafe_b64encode(digest).decode().rstrip("=") + '"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: If-None-Match lists ETags (weak comparison) or is '*'."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


class KeySets:
    """The JWK sets of a ConfigTable, recomputed only when the table or the clock changes them."""

    def __init__(self, table: ConfigTable) -> None:
        self._table = table
        self._revision = -1
        self._keys: dict[str, tuple[CompiledConfig, float | None, tuple[PublishedJwk, ...]]] = {}
        self._all: KeySetDocument | None = None
        self._one: dict[str, KeySetDocument] = {}  # only configs of the table: unknown ids are not remembered
        self._changes_at: float | None = None  # the earliest moment a cached document goes stale

    def all(self, now: float) -> KeySetDocument:
        """Every asymmetric signing key of every valid config, by config id."""
        self._refresh(now)
        if self._all is None:
            keys = [key for compiled, at in self._table.all_valid() for key in self._keys_of(compiled, at)]
            self._all = self._remember(document(keys, now))
        return self._all

    def of(self, config_id: str, now: float) -> KeySetDocument | None:
        """One config's keys; None when it is unknown, invalid or publishes no key."""
        self._refresh(now)
        cached = self._one.get(config_id)
        if cached is not None:
            return cached
        found = self._table.valid(config_id)
        keys = self._keys_of(*found) if found is not None else ()
        if not keys:
            return None
        self._one[config_id] = self._remember(document(keys, now))
        return self._one[config_id]

    def _remember(self, doc: KeySetDocument) -> KeySetDocument:
        if doc.changes_at is not None:
            self._changes_at = doc.changes_at if self._changes_at is None else min(self._changes_at, doc.changes_at)
        return doc

    def _refresh(self, now: float) -> None:
        stale = self._changes_at is not None and self._changes_at <= now
        if self._revision != self._table.revision or stale:
            self._revision = self._table.revision
            self._all = None
            self._one.clear()
            self._changes_at = None
            self._keys = {cid: cached for cid, cached in self._keys.items() if cid in self._table}

    def _keys_of(self, compiled: CompiledConfig, published_at: float | None) -> tuple[PublishedJwk, ...]:
        # Key JWKs are derived once per compiled config version, not per request.
        cached = self._keys.get(compiled.id)
        if cached is not None and cached[0] is compiled and cached[1] == published_at:
            return cached[2]
        signer_kid = compiled.signer.kid if compiled.signer is not None else None
        keys = config_keys(compiled.config, signer_kid, published_at)
        self._keys[compiled.id] = (compiled, published_at, keys)
        return keys
