"""The answer comparison rules of a replay.

- `processed_at` is ignored; everything else of an answer (topic, key,
  headers, value) is compared.
- Answers whose tokens come from deterministic algorithms (HS*, RS*,
  Ed25519) must be byte-identical: `identical`.
- Tokens from randomized ones (ES*, PS*, every JWE) differ on every run: the
  answers must be equal but for the token (and the per-token `epk`, `iv`,
  `tag` and PBES2's random salt `p2s` of a stored JWE header), and the two
  tokens must have the same protected header (without those members) and the
  same claims, checked by verifying / decrypting both with the keys of the
  config in force in the recording: `equivalent`.
- Dead letters point at their request's new offset: they are compared by
  reason, the record they point at and its bytes (`equivalent`).

A difference is reported as the first differing JSON path and a short reason,
never a value: answers and configs carry secrets.
"""

from __future__ import annotations

import base64
import copy
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from joserfc import jwe, jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import Key, OctKey

from worker.core import algorithms as jwa
from worker.core import engine, jsonio
from worker.replay.plan import Exchange, Plan, dead_letter_ref
from worker.replay.recording import Record

DETERMINISTIC_SIGNATURES = frozenset(alg.name for alg in jwa.SIGNING if alg.deterministic)
# A JWE header's members that change per token: ECDH-ES's ephemeral key, AES-GCM key
# wrap's IV and tag, PBES2's salt.
PER_TOKEN_HEADER_MEMBERS = frozenset({"epk", "iv", "tag", "p2s"})
_PROCESSED_AT = re.compile(rb',"processed_at":-?\d+}\s*$')


class Status(StrEnum):
    IDENTICAL = "identical"
    EQUIVALENT = "equivalent"
    DIFFERENT = "different"
    MISSING = "missing"
    EXTRA = "extra"


FAILING = frozenset({Status.DIFFERENT, Status.MISSING})


@dataclass(frozen=True)
class Verdict:
    status: Status
    topic: str  # the recorded answer's topic (the replayed one's for extras)
    label: str  # the execution id, or where the request was
    path: str = ""  # first differing JSON path
    reason: str = ""
    header_only: bool = False  # a JWE whose claims could not be checked (no private key given)


@dataclass
class Report:
    verdicts: list[Verdict] = field(default_factory=list)
    not_compared: int = 0  # recorded answers of requests that are not in the recording
    requests: int = 0
    config_records: int = 0
    epochs: int = 0
    moved: int = 0

    @property
    def passed(self) -> bool:
        return not any(v.status in FAILING for v in self.verdicts)

    def counts(self) -> dict[str, int]:
        counted = Counter(v.status for v in self.verdicts)
        return {status.value: counted[status] for status in Status}

    def by_topic(self) -> dict[str, dict[str, int]]:
        counted = Counter((v.status, v.topic) for v in self.verdicts)
        topics = ("true", "failure", "deadletter")
        return {status.value: {t: counted[(status, t)] for t in topics} for status in Status}

    @property
    def header_only(self) -> int:
        return sum(1 for v in self.verdicts if v.header_only)

    def problems(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status in (Status.DIFFERENT, Status.MISSING, Status.EXTRA)]

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "summary": self.counts(),
            "by_topic": self.by_topic(),
            "requests": self.requests,
            "config_records": self.config_records,
            "epochs": self.epochs,
            "placed_by_recorded_answer": self.moved,
            "not_compared": self.not_compared,
            "header_only": self.header_only,
            "differences": [
                {
                    "status": v.status.value,
                    "execution_id": v.label,
                    "topic": v.topic,
                    "path": v.path,
                    "reason": v.reason,
                }
                for v in self.problems()
            ],
        }


class TokenChecker:
    """Opens tokens with the keys of the recorded configs (sealed ones with the KEK)."""

    def __init__(self, kek: Key | None = None, decryption_keys: Sequence[Key] = ()) -> None:
        self._kek = kek
        self._decryption_keys = list(decryption_keys)
        self._compiled: dict[tuple[int, int, int], engine.CompiledConfig | str] = {}

    def compiled(self, config: Record | None) -> engine.CompiledConfig | str:
        """The compiled config of a config record, or why it cannot be had (never a secret)."""
        if config is None or config.value is None:
            return "no config was in force for it in the recording"
        where = (config.partition, config.offset, config.line)
        found = self._compiled.get(where)
        if found is None:
            try:
                found = engine.compile_config(jsonio.loads(config.value), kek=self._kek)
            except engine.ConfigInvalid as exc:
                found = f"its config ({config.where}) does not compile here: {exc.problems[0]}"
            except ValueError:
                found = f"its config ({config.where}) is not JSON"
            self._compiled[where] = found
        return found

    def compare(self, recorded: str, replayed: str, config: Record | None) -> tuple[str | None, bool]:
        """(why the two tokens are not equivalent or None, whether only their headers could be checked)."""
        try:
            header_a, header_b = _header(recorded), _header(replayed)
        except ValueError:
            return "one of the tokens is not a compact JWS or JWE", False
        differs = _first_difference(_stable(header_a), _stable(header_b), "$")
        if differs is not None:
            return f"protected header differs at {differs[0]}", False
        compiled = self.compiled(config)
        if isinstance(compiled, str):
            return f"cannot be checked: {compiled}", False
        opened_a = self._open(recorded, header_a, compiled)
        opened_b = self._open(replayed, header_b, compiled)
        if opened_a is None or opened_b is None:
            return None, True  # a JWE to a key we were not given: the header is all we can compare
        for side, opened in (("recorded", opened_a), ("replayed", opened_b)):
            if isinstance(opened, str):
                return f"the {side} token {opened}", False
        assert not isinstance(opened_a, str) and not isinstance(opened_b, str)
        if opened_a.inner is not None and opened_a.inner != opened_b.inner:
            assert opened_b.inner is not None
            inner_a, inner_b = _header(opened_a.inner), _header(opened_b.inner)
            if inner_a.get("alg") in DETERMINISTIC_SIGNATURES or inner_a != inner_b:
                return "the nested JWS differs", False
        differs = _first_difference(opened_a.claims, opened_b.claims, "$")
        if differs is not None:
            return f"claims differ at {differs[0]}", False
        return None, False

    def _open(self, token: str, header: dict[str, Any], compiled: engine.CompiledConfig) -> _Opened | str | None:
        inner: str | None = None
        if token.count(".") == 4:
            encrypter = compiled.encrypter
            if encrypter is None:
                return "is a JWE but the recorded config has no encryption"
            key = self._decryption_key(encrypter.key)
            if key is None:
                return None
            try:
                plaintext = (
                    jwe.decrypt_compact(token, key, registry=_admitting(encrypter.registry, token)).plaintext or b""
                )
            except Exception:
                return "does not decrypt with the recorded config's key"
            if header.get("cty") != "JWT":
                return _claims(plaintext)
            try:
                token = inner = plaintext.decode("ascii")
            except UnicodeDecodeError:
                return "holds no nested JWS"
        signer = compiled.signer
        if signer is None:
            return "is signed but the recorded config has no signature"
        try:
            with warnings.catch_warnings():  # EdDSA, the alias a config may name, is deprecated (RFC 9864)
                warnings.simplefilter("ignore", SecurityWarning)
                payload = jws.deserialize_compact(
                    token, signer.key, registry=_admitting(signer.registry, token)
                ).payload
        except Exception:
            return "does not verify with the recorded config's key"
        opened = _claims(payload)
        if isinstance(opened, _Opened):
            opened.inner = inner
        return opened

    def _decryption_key(self, configured: Key) -> Key | None:
        if isinstance(configured, OctKey):
            return configured
        # An asymmetric config holds the recipient's public key; its private
        # half can only come from whoever gave us --decryption-keys.
        wanted = configured.thumbprint()
        return next((k for k in self._decryption_keys if k.thumbprint() == wanted and k.is_private), None)


_Registry = TypeVar("_Registry")
# joserfc's limits on what it reads (a JWS header of 512 bytes, ...) guard against hostile
# input; the worker wrote these tokens, and an x5c chain alone makes a larger header.
_READ_LIMITS = (
    "max_header_length",
    "max_payload_length",
    "max_protected_header_length",
    "max_encrypted_key_length",
    "max_ciphertext_length",
)


def _admitting(registry: _Registry, token: str) -> _Registry:
    """A copy of the config's registry (same algorithms and header members) whose size limits admit `token`."""
    sized = copy.copy(registry)
    for limit in _READ_LIMITS:
        if hasattr(sized, limit):
            setattr(sized, limit, max(getattr(sized, limit), len(token)))
    return sized


@dataclass
class _Opened:
    claims: Any
    inner: str | None = None  # the nested JWS of a nested token


def _claims(payload: bytes) -> _Opened | str:
    try:
        return _Opened(jsonio.loads(payload))
    except ValueError:
        return "holds claims that are not JSON"


def _header(token: str) -> dict[str, Any]:
    first = token.split(".", 1)[0]
    try:
        header = jsonio.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    except (ValueError, TypeError):
        raise ValueError("not a compact token") from None
    if not isinstance(header, dict):
        raise ValueError("not a compact token")
    return header


def _stable(header: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in header.items() if k not in PER_TOKEN_HEADER_MEMBERS}


def randomized(token_info: object) -> bool:
    """Whether the answer's token differs on every run (ES*, PS*, any JWE)."""
    if not isinstance(token_info, dict):
        return False
    alg = token_info.get("alg")
    return token_info.get("enc") is not None or (isinstance(alg, str) and alg[:2] in ("ES", "PS"))


# ---------------------------------------------------------------- answers


def compare_exchange(exchange: Exchange, replayed: Record | None, checker: TokenChecker) -> Verdict | None:
    """The verdict on one request: its recorded answer against its replayed one."""
    recorded = exchange.recorded
    if recorded is None and replayed is None:
        return None
    if recorded is None:
        assert replayed is not None
        return Verdict(Status.EXTRA, replayed.topic, exchange.label, reason="answered now, no answer was recorded")
    if replayed is None:
        return Verdict(Status.MISSING, recorded.topic, exchange.label, reason="recorded, but not answered now")

    def different(path: str, reason: str) -> Verdict:
        return Verdict(Status.DIFFERENT, recorded.topic, exchange.label, path, reason)

    if recorded.topic != replayed.topic:
        return different("topic", f"recorded on {recorded.topic}, replayed on {replayed.topic}")
    if recorded.key != replayed.key:
        return different("key", "the answers have different record keys")
    if recorded.headers != replayed.headers:
        return different("headers", "the answers have different Kafka headers")
    if recorded.topic == "deadletter":
        return _dead_letters(recorded, replayed, exchange, different)
    if _without_processed_at(recorded.value) == _without_processed_at(replayed.value):
        return Verdict(Status.IDENTICAL, recorded.topic, exchange.label)
    try:
        a, b = jsonio.loads(recorded.value or b""), jsonio.loads(replayed.value or b"")
    except ValueError:
        return different("$", "an answer is not JSON")
    if isinstance(a, dict) and isinstance(b, dict):
        a, b = dict(a), dict(b)
        a.pop("processed_at", None)
        b.pop("processed_at", None)
    tokens = _TokenRules(checker, exchange.config, a.get("token_info") if isinstance(a, dict) else None)
    differs = _first_difference(a, b, "$", tokens)
    if differs is not None:
        return different(*differs)
    if tokens.used:
        return Verdict(Status.EQUIVALENT, recorded.topic, exchange.label, header_only=tokens.header_only)
    return different("$", "same JSON values but other bytes (member order or number spelling)")


def _dead_letters(
    recorded: Record, replayed: Record, exchange: Exchange, different: Callable[[str, str], Verdict]
) -> Verdict:
    try:
        a, b = jsonio.loads(recorded.value or b""), jsonio.loads(replayed.value or b"")
    except ValueError:
        return different("$", "a dead letter is not JSON")
    if not isinstance(a, dict) or not isinstance(b, dict):
        return different("$", "a dead letter is not a JSON object")
    for member in ("reason", "key_b64", "value_b64"):
        if a.get(member) != b.get(member):
            return different(f"$.{member}", "the dead letters differ")
    ref_a, ref_b = dead_letter_ref(recorded.value), dead_letter_ref(replayed.value)
    if ref_a is None or ref_b is None or ref_a[0] != ref_b[0]:
        return different("$.topic", "the dead letters point at different topics")
    return Verdict(Status.EQUIVALENT, recorded.topic, exchange.label)


def _without_processed_at(value: bytes | None) -> bytes | None:
    return None if value is None else _PROCESSED_AT.sub(b"}", value)


class _TokenRules:
    """Where the walk meets a token (or a JWE header) of a randomized algorithm."""

    def __init__(self, checker: TokenChecker, config: Record | None, token_info: object) -> None:
        self.checker = checker
        self.config = config
        self.randomized = randomized(token_info)
        self.jwe = isinstance(token_info, dict) and token_info.get("enc") is not None
        self.alg = token_info.get("alg") if isinstance(token_info, dict) else None
        self.used = False
        self.header_only = False

    def handles(self, path: tuple[Any, ...]) -> bool:
        return len(path) == 4 and path[0] == "store_delta" and path[2] == "values" and path[3] in ("token", "header")

    def check(self, path: tuple[Any, ...], a: Any, b: Any) -> str | None:
        if path[3] == "header":
            if self.jwe and isinstance(a, dict) and isinstance(b, dict):
                self.used = True
                differs = _first_difference(_stable(a), _stable(b), "")
                return None if differs is None else f"the JWE header differs at {differs[0].lstrip('.')}"
            return "differs"
        if not (self.randomized and isinstance(a, str) and isinstance(b, str)):
            return f"differs ({self.alg} is deterministic: the token must be byte-identical)"
        self.used = True
        reason, header_only = self.checker.compare(a, b, self.config)
        self.header_only = self.header_only or header_only
        return reason


def _first_difference(a: Any, b: Any, root: str, rules: _TokenRules | None = None) -> tuple[str, str] | None:
    """(JSON path, reason) of the first place where `a` and `b` differ, in document order; None if equal."""
    stop = rules.handles if rules is not None else _never
    for path, x, y in _walk(a, b, (), stop):
        if x is _MISSING:
            return _path(root, path), "only in the replayed answer"
        if y is _MISSING:
            return _path(root, path), "missing from the replayed answer"
        if rules is not None and rules.handles(path):
            reason = rules.check(path, x, y)
            if reason is not None:
                return _path(root, path), reason
            continue
        return _path(root, path), "differs"
    return None


_MISSING = object()


def _never(path: tuple[Any, ...]) -> bool:
    return False


def _walk(
    a: Any, b: Any, path: tuple[Any, ...], stop: Callable[[tuple[Any, ...]], bool]
) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    """Yield (path, a, b) wherever the two values part, descending into containers except at `stop` paths."""
    if a == b and type(a) is type(b):
        return
    if path and stop(path):
        yield path, a, b
    elif isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k in b:
                yield from _walk(a[k], b[k], (*path, k), stop)
            else:
                yield (*path, k), a[k], _MISSING
        for k in b:
            if k not in a:
                yield (*path, k), _MISSING, b[k]
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else _MISSING
            y = b[i] if i < len(b) else _MISSING
            if x is _MISSING or y is _MISSING:
                yield (*path, i), x, y
            else:
                yield from _walk(x, y, (*path, i), stop)
    else:
        yield path, a, b


def _path(root: str, path: tuple[Any, ...]) -> str:
    out = root
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if _plain(part) else f"[{part!r}]")
    return out


def _plain(name: str) -> bool:
    return name.replace("_", "a").replace("-", "a").isalnum()


def judge(
    plan: Plan,
    answers: dict[int, Record],
    extras: Sequence[Record] = (),
    *,
    kek: Key | None = None,
    decryption_keys: Sequence[Key] = (),
) -> Report:
    """Compare every exchange's recorded answer with its replayed one; `extras` answered no request."""
    checker = TokenChecker(kek, decryption_keys)
    report = Report(
        not_compared=len(plan.unmatched),
        requests=len(plan.exchanges),
        config_records=plan.config_records,
        epochs=len(plan.epochs),
        moved=plan.moved,
    )
    for exchange in plan.exchanges:
        verdict = compare_exchange(exchange, answers.get(exchange.index), checker)
        if verdict is not None:
            report.verdicts.append(verdict)
    for extra in extras:
        label = extra.key.decode("utf-8", "replace") if extra.key is not None else "(no key)"
        reason = "an answer to no request of the recording"
        report.verdicts.append(Verdict(Status.EXTRA, extra.topic, label, reason=reason))
    return report
