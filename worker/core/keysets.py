"""JSON Web Key Sets as sources of encryption keys: inline in a config, or fetched from an HTTPS URL.

This module does no I/O. `KeySets` is the cache the configs read: the stream
layer (worker/stream/keysets.py) asks it which URLs are due, fetches them and
hands the bodies back; `resolve` picks a request's key from what is cached,
or raises KEY_UNAVAILABLE (retryable) when nothing usable is. A key set that
cannot be refreshed keeps serving the keys it last had.

Keys are chosen by `kid` when the config names one, else the first key of the
set that fits the config (key type, `use` "enc" or none, `alg` the config's or
none). URLs are https://, with one exception: http:// to the loopback address
(a key server beside the worker, a sidecar or a test), whose traffic never
leaves the host. `JWTGEN_JWKS_CA_FILE` names the CA bundle the fetcher trusts
(by default the system's).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from worker.core import algorithms as jwa
from worker.core import keys as keyops
from worker.core.errors import ErrorCode, NodeError
from worker.core.jsonio import loads
from worker.core.keys import AsymmetricKey, KeyProblem

__all__ = [
    "DEFAULT_REFRESH_SECONDS",
    "MAX_JWKS_BYTES",
    "MAX_REFRESH_SECONDS",
    "MIN_REFRESH_SECONDS",
    "RETRY_SECONDS",
    "KeySets",
    "Wanted",
    "check_url",
    "parse_jwks",
    "select",
    "shown",
]

DEFAULT_REFRESH_SECONDS = 300
MIN_REFRESH_SECONDS = 5
MAX_REFRESH_SECONDS = 86_400
RETRY_SECONDS = 5.0  # after a failed fetch, or a request for a kid the set lacks
MAX_JWKS_BYTES = 1_000_000
_MAX_URL_LENGTH = 2048


def check_url(url: object) -> str | None:
    """Why `url` cannot be a key-set URL, or None. The URL may be shown in messages, so it holds no credentials."""
    if not isinstance(url, str) or not url:
        return "must be an https:// URL"
    if len(url) > _MAX_URL_LENGTH:
        return f"must be at most {_MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a URL"
    if not parts.hostname:
        return "has no host"
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname)):
        return "must be an https:// URL, or http:// to the loopback address (keys sent in clear could be swapped)"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (user:password@)"
    if parts.fragment:
        return "must not have a #fragment"
    return None


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shown(url: str) -> str:
    """The URL for messages and logs: without its query, which may hold a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@dataclass(frozen=True)
class Wanted:
    """What a config needs of a key set's key."""

    key_type: str
    alg: str
    kid: str | None = None
    key_size: int | None = None  # declared in the config: the key must have it
    curve: str | None = None


def parse_jwks(value: object) -> list[dict[str, Any]]:
    """The `keys` of a JWKS given as an object or as JSON text; each entry an object with a `kty`."""
    if isinstance(value, (str, bytes, bytearray)):
        try:
            value = loads(bytes(value) if isinstance(value, bytearray) else value)
        except ValueError:
            raise KeyProblem("is not a JWKS (a JSON object with 'keys')") from None
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise KeyProblem("is not a JWKS (a JSON object with 'keys')")
    entries = value["keys"]
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("kty"), str):
            raise KeyProblem(f"keys[{i}] is not a JWK with a 'kty'")
    return entries


def select(entries: list[dict[str, Any]], wanted: Wanted) -> tuple[AsymmetricKey, str | None]:
    """(the public key, its `kid` member) for `wanted`; KeyProblem says why none fits."""
    if wanted.kid is not None:
        named = [entry for entry in entries if entry.get("kid") == wanted.kid]
        if not named:
            raise KeyProblem(f"has no key with kid '{wanted.kid}'")
        why = _unfit(named[0], wanted)
        if why is not None:
            raise KeyProblem(f"key '{wanted.kid}' {why}")
        return _load(named[0], wanted), wanted.kid
    for entry in entries:
        if _unfit(entry, wanted) is None:
            kid = entry.get("kid")
            return _load(entry, wanted), kid if isinstance(kid, str) and kid else None
    raise KeyProblem(f"has no {wanted.key_type} key for {wanted.alg} (use 'enc' or none, alg '{wanted.alg}' or none)")


def _unfit(entry: dict[str, Any], wanted: Wanted) -> str | None:
    if entry.get("kty") != wanted.key_type:
        return f"is not an {wanted.key_type} key"
    if entry.get("use") not in (None, "enc"):
        return "is not for encryption (its 'use' is not 'enc')"
    if entry.get("alg") not in (None, wanted.alg):
        return f"is not for {wanted.alg}"
    return None


def _load(entry: dict[str, Any], wanted: Wanted) -> AsymmetricKey:
    key = keyops.load_public(entry)
    if isinstance(key, keyops.RSAKey):
        bits = keyops.rsa_bits(key)
        if bits < jwa.MIN_RSA_BITS:
            raise KeyProblem(f"RSA key is {bits} bits, at least {jwa.MIN_RSA_BITS} required")
        if wanted.key_size is not None and wanted.key_size != bits:
            raise KeyProblem(f"RSA key is {bits} bits, the config declares key_size {wanted.key_size}")
    elif isinstance(key, keyops.ECKey):
        curve = keyops.curve_of(key)
        if curve not in jwa.curves("EC"):
            raise KeyProblem(f"curve {curve} is not supported ({jwa.listed(jwa.curves('EC'))})")
        if wanted.curve is not None and wanted.curve != curve:
            raise KeyProblem(f"key is on {curve}, the config declares curve {wanted.curve}")
    return key


@dataclass
class _Entry:
    """One URL's state: the keys last fetched (None before the first success) and when to fetch next."""

    keys: list[dict[str, Any]] | None = None
    generation: int = 0  # counts successful fetches, so cached selections follow a refresh
    error: str | None = None  # why the last fetch failed
    next_fetch: float = 0.0
    last_attempt: float | None = None
    selections: dict[Wanted, tuple[AsymmetricKey, str | None] | KeyProblem] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    key: AsymmetricKey
    kid: str | None  # the key's `kid` member, if it has one
    generation: int


class KeySets:
    """The key sets fetched from URLs, shared by every config that names one; safe across threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._owners: dict[str, tuple[str, int]] = {}  # config id -> (url, refresh seconds)
        self._entries: dict[str, _Entry] = {}
        self.changed = threading.Event()  # set when a URL becomes due sooner: wakes the fetcher

    def track(self, owner: str, url: str | None, refresh_seconds: int = DEFAULT_REFRESH_SECONDS) -> None:
        """`owner` (a config id) now reads `url` (None: no URL); a new URL is due at once."""
        with self._lock:
            if url is None or check_url(url) is not None:
                self._owners.pop(owner, None)
            else:
                refresh = min(max(int(refresh_seconds), MIN_REFRESH_SECONDS), MAX_REFRESH_SECONDS)
                self._owners[owner] = (url, refresh)
                if url not in self._entries:
                    self._entries[url] = _Entry(next_fetch=self._clock())
                    self.changed.set()
            read = {url for url, _ in self._owners.values()}
            for stale in [u for u in self._entries if u not in read]:
                del self._entries[stale]

    def urls(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def due(self) -> list[str]:
        """The URLs to fetch now."""
        now = self._clock()
        with self._lock:
            return [url for url, entry in self._entries.items() if entry.next_fetch <= now]

    def seconds_to_next(self) -> float:
        """How long until a URL is due (the fetcher's sleep), at most one refresh period."""
        now = self._clock()
        with self._lock:
            nexts = [entry.next_fetch - now for entry in self._entries.values()]
        return max(0.0, min(nexts, default=float(MAX_REFRESH_SECONDS)))

    def fetched(self, url: str, body: bytes) -> None:
        """A fetch of `url` returned `body`; a body that is no JWKS counts as a failure."""
        try:
            entries = parse_jwks(body)
        except KeyProblem as exc:
            self.failed(url, f"the response {exc}")
            return
        now = self._clock()
        with self._lock:
            entry = self._entries.get(url)
            if entry is None:
                return
            entry.keys = entries
            entry.generation += 1
            entry.error = None
            entry.selections.clear()
            entry.last_attempt = now
            entry.next_fetch = now + self._refresh_of(url)

    def failed(self, url: str, reason: str) -> None:
        """A fetch of `url` failed; `reason` names what failed, never a response body."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(url)
            if entry is None:
                return
            entry.error = reason
            entry.last_attempt = now
            entry.next_fetch = now + min(RETRY_SECONDS, self._refresh_of(url))

    def error_of(self, url: str) -> str | None:
        with self._lock:
            entry = self._entries.get(url)
            return None if entry is None else entry.error

    def resolve(self, url: str, wanted: Wanted) -> Resolved:
        """The key for one request; NodeError KEY_UNAVAILABLE (retryable) when none is cached that fits."""
        where = f"encryption.jwks_url: the key set at {shown(url)}"
        with self._lock:
            entry = self._entries.get(url)
            if entry is None or entry.keys is None:
                if entry is not None and entry.error is not None:
                    message = f"{where} cannot be fetched ({entry.error}) and none is cached"
                else:
                    message = f"{where} has not been fetched yet"
                raise NodeError(ErrorCode.KEY_UNAVAILABLE, message)
            chosen = entry.selections.get(wanted)
            if chosen is None:
                try:
                    chosen = select(entry.keys, wanted)
                except KeyProblem as exc:
                    chosen = exc
                entry.selections[wanted] = chosen
            if isinstance(chosen, KeyProblem):
                self._fetch_soon(entry)  # the set may have gained the key since
                raise NodeError(ErrorCode.KEY_UNAVAILABLE, f"{where} {chosen}")
            return Resolved(chosen[0], chosen[1], entry.generation)

    def _fetch_soon(self, entry: _Entry) -> None:
        soon = (entry.last_attempt or 0.0) + RETRY_SECONDS
        if soon < entry.next_fetch:
            entry.next_fetch = soon
            self.changed.set()

    def _refresh_of(self, url: str) -> int:
        periods = [refresh for owned, refresh in self._owners.values() if owned == url]
        return min(periods, default=DEFAULT_REFRESH_SECONDS)
