"""The node configs every worker holds in full, keyed by config id.

Records from the compacted configs topic are applied in order. Each is checked
when it arrives against every rule that is cheap (shape, fields, templates,
symmetric, EC and OKP keys), so every worker reading the topic finds the same
configs invalid whatever requests it got. Only the RSA private key, whose
import checks it with a signature (keys.check_rsa_private, about half a
millisecond; once OpenSSL's primality tests, 36 ms), is left out of that check: the config is
compiled (keys parsed, probe signature) once, at its first request or ahead of
it (`compile_ahead`, which the stream layer runs in a thread for configs that
hold one), and the compiled form reused until a new record for its id
replaces it. Compiling is thread-safe; configs holding the same RSA key share
it, checked once (keys.SHARED_RSA_KEYS).

An entry keeps its record's bytes, not the parsed JSON (a tenth of the memory;
compiling parses them again in microseconds), and only until it is compiled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from worker.core import engine
from worker.core.config import ConfigInvalid, parse_config
from worker.core.errors import ErrorCode, NodeError
from worker.core.keysets import DEFAULT_REFRESH_SECONDS, KeySets

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class ConfigEntry:
    raw: bytes | None = field(repr=False)  # the record's value (key material) until it is compiled
    version: int | None
    arrival_problems: list[str] = field(default_factory=list)  # found when the record arrived
    compiled: engine.CompiledConfig | None = field(default=None, repr=False)
    problems: list[str] | None = None  # set once compiling failed
    published_at: float | None = None  # the record's timestamp (epoch seconds), the same on every worker
    deferred_key: bool = False  # holds an RSA private key, left out of the arrival check
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one compilation at a time
    unreported: bool = False  # found invalid ahead of its first request, not logged yet

    @property
    def settled(self) -> bool:
        """Compiled, or found invalid: nothing left to do for this record."""
        return bool(self.arrival_problems) or self.compiled is not None or self.problems is not None


# Fields left for compiling (ahead of the first use, or at it): importing an RSA
# private key checks it with a signature (keys.check_rsa_private), and a worker
# may hold thousands of configs it never uses.
_DEFERRED_FIELD = "private_key"
_CHEAP_KEY_TYPES = ("EC", "OKP")


def has_deferred_key(raw: dict[str, Any]) -> bool:
    """True when the config's private key is one the arrival check leaves for compiling (RSA)."""
    signature = raw.get("signature")
    return (
        isinstance(signature, dict)
        and signature.get("type") == "asymmetric"
        and signature.get("key_type") not in _CHEAP_KEY_TYPES
        and signature.get(_DEFERRED_FIELD) is not None
    )


def arrival_problems(raw: dict[str, Any], config_id: str, kek: Any = None) -> list[str]:
    """Every problem of a config record found without importing an RSA private key."""
    problems = []
    if raw.get("id") != config_id:
        problems.append(f"id: '{raw.get('id')}' does not equal the record key '{config_id}'")
    signature = raw.get("signature")
    deferred = has_deferred_key(raw)
    if deferred and isinstance(signature, dict):
        raw = {**raw, "signature": {**signature, _DEFERRED_FIELD: None}}
    try:
        parse_config(raw, kek)
    except ConfigInvalid as exc:
        skipped = f"signature.{_DEFERRED_FIELD}"
        problems += [p for p in exc.problems if not (deferred and p.startswith(skipped))]
    except Exception as exc:  # a validator bug must not take the feed down with the record
        problems.append(f"config: cannot be validated (unexpected {type(exc).__name__})")
    return problems


class ConfigTable:
    def __init__(self, kek: Any = None, keysets: KeySets | None = None) -> None:
        self._entries: dict[str, ConfigEntry] = {}
        self._kek = kek
        # Encryption key sets fetched from URLs; filled by the stream layer.
        self.keysets = keysets if keysets is not None else KeySets()
        self.compilations = 0
        self._count_lock = threading.Lock()  # compilations run on the event loop and in a thread
        self.revision = 0  # bumped by every applied record, so views derived from the table know when to refresh

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, config_id: str) -> bool:
        return config_id in self._entries

    def apply(self, key: bytes | None, value: bytes | None, published_at: float | None = None) -> str | None:
        """Apply one configs-topic record (`published_at`: its timestamp); returns the config id it touched."""
        if key is None:
            return None  # a config without an id cannot be addressed by any request
        self.revision += 1
        config_id = key.decode("utf-8", errors="replace")
        if value is None:
            self._entries.pop(config_id, None)
            self.keysets.track(config_id, None)
            return config_id
        try:
            raw = orjson.loads(value)
        except orjson.JSONDecodeError:
            self._entries[config_id] = ConfigEntry(None, None, ["the config record is not valid JSON"])
            return config_id
        if not isinstance(raw, dict):
            self._entries[config_id] = ConfigEntry(None, None, ["the config record is not a JSON object"])
            return config_id
        version = raw.get("version")
        version = version if isinstance(version, int) and not isinstance(version, bool) else None
        self._entries[config_id] = ConfigEntry(
            value,
            version,
            arrival_problems(raw, config_id, self._kek),
            published_at=published_at,
            deferred_key=has_deferred_key(raw),
        )
        self._track_key_set(config_id, raw)
        return config_id

    def worth_compiling_ahead(self, config_id: str) -> bool:
        """True when the config's first request would wait for an RSA key check (and it is not done yet)."""
        entry = self._entries.get(config_id)
        return entry is not None and entry.deferred_key and not entry.settled

    def compile_ahead(self, config_id: str) -> None:
        """Compile the config's current record now, if it is still to be compiled (any thread)."""
        entry = self._entries.get(config_id)
        if entry is not None and not entry.settled:
            # Quietly: a worker that never serves the config does not log it (the table's summary
            # line counts what arrived invalid); its first request logs what was found.
            self._compile(config_id, entry, report=False)

    def _track_key_set(self, config_id: str, raw: dict[str, Any]) -> None:
        """Fetching a config's key set starts when the config arrives, not with its first request
        (configs compile lazily): by then the key is usually cached. `track` ignores a URL that is
        not https://; compiling reports it."""
        encryption = raw.get("encryption")
        url = encryption.get("jwks_url") if isinstance(encryption, dict) else None
        refresh = encryption.get("jwks_refresh_seconds") if isinstance(encryption, dict) else None
        if not isinstance(refresh, int) or isinstance(refresh, bool):
            refresh = DEFAULT_REFRESH_SECONDS
        self.keysets.track(config_id, url if isinstance(url, str) else None, refresh)

    def problems_of(self, config_id: str) -> list[str]:
        """What was found wrong with a config when it arrived (empty when it passed, or is unknown)."""
        entry = self._entries.get(config_id)
        return [] if entry is None else list(entry.arrival_problems)

    def version_of(self, config_id: str) -> int | None:
        entry = self._entries.get(config_id)
        return None if entry is None else entry.version

    def needs_newer(self, config_id: str, version: int | None) -> bool:
        """True when a request asks for a config (version) this table has not seen yet."""
        entry = self._entries.get(config_id)
        if entry is None:
            return True
        # A record without a usable version may be replaced by the one asked for.
        return version is not None and (entry.version is None or version > entry.version)

    def resolve(self, config_id: str, version: int | None) -> engine.CompiledConfig:
        """The compiled config for a request, or the NodeError to answer with."""
        entry = self._entries.get(config_id)
        if entry is None:
            raise NodeError(ErrorCode.CONFIG_NOT_FOUND, f"config.id: no config '{config_id}' has been published")
        # A record without a usable version is invalid whatever was asked for.
        if version is not None and entry.version is not None:
            if version < entry.version:
                raise NodeError(
                    ErrorCode.CONFIG_VERSION_MISMATCH,
                    f"config.version: {version} was replaced by version {entry.version} of '{config_id}'",
                )
            if version > entry.version:
                raise NodeError(
                    ErrorCode.CONFIG_NOT_FOUND,
                    f"config.version: version {version} of '{config_id}' has not arrived "
                    f"(version {entry.version} is loaded)",
                )
        if entry.arrival_problems:
            raise NodeError(ErrorCode.CONFIG_INVALID, f"config '{config_id}': " + "; ".join(entry.arrival_problems))
        if entry.compiled is None and entry.problems is None:
            self._compile(config_id, entry)
        if entry.problems is not None:
            if entry.unreported:
                entry.unreported = False
                self._report(config_id, entry)
            raise NodeError(ErrorCode.CONFIG_INVALID, f"config '{config_id}': " + "; ".join(entry.problems))
        assert entry.compiled is not None
        return entry.compiled

    def _compile(self, config_id: str, entry: ConfigEntry, report: bool = True) -> None:
        with entry.lock:  # a compilation ahead in a thread may be under way: wait for it and use it
            if entry.settled:
                return
            with self._count_lock:
                self.compilations += 1
            try:
                entry.compiled = engine.compile_config(entry.raw, kek=self._kek, keysets=self.keysets)
            except ConfigInvalid as exc:
                entry.problems = list(exc.problems)
                if report:
                    self._report(config_id, entry)
                else:
                    entry.unreported = True
            entry.raw = None  # settled for good: the record is never read again

    @staticmethod
    def _report(config_id: str, entry: ConfigEntry) -> None:
        # Once per config version; problems name fields, never key material.
        log.warning(
            "config '%s' version %s is invalid: %s",
            config_id,
            entry.version,
            "; ".join(entry.problems or ()),
            extra={"config_id": config_id},
        )

    def valid(self, config_id: str) -> tuple[engine.CompiledConfig, float | None] | None:
        """The compiled config (compiled now if need be) and its record's timestamp; None if unknown or invalid."""
        entry = self._entries.get(config_id)
        if entry is None:
            return None
        try:
            compiled = self.resolve(config_id, None)
        except NodeError:
            return None
        return compiled, entry.published_at

    def all_valid(self) -> Iterator[tuple[engine.CompiledConfig, float | None]]:
        """Every valid config by id, as `valid` gives it."""
        for config_id in sorted(self._entries):
            found = self.valid(config_id)
            if found is not None:
                yield found

    def summary(self) -> tuple[int, int]:
        """(configs held, configs found invalid when they arrived).

        Failures found only at first use (an RSA private key) are left out, so
        the count is the same on every worker that read the same records.
        """
        invalid = sum(1 for e in self._entries.values() if e.arrival_problems)
        return len(self._entries), invalid
