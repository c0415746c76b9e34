"""`signature.next_key` and `signature.retired_keys` (extension): keys verifiers fetch before and after they sign.

A key rotation without downtime publishes the next key before any token is
signed with it, and keeps publishing a retired key until every token it signed
has expired. Both travel in the config itself, so they survive worker restarts
and the compaction of the configs topic. Only asymmetric signatures have them;
a retired key is carried as a public key only, never its private half.
"""

from __future__ import annotations

from typing import Any

from joserfc.jwk import Key

from worker.core import algorithms as jwa
from worker.core import keys as keyops
from worker.core.config.fields import FAILED, Problems, kind, obj, secret, string
from worker.core.config.keyrules import jwk_fits, key_shape
from worker.core.config.model import NextKey, RetiredKey
from worker.core.jsonio import MAX_SAFE_INT, is_int

NEXT_FIELDS = ("kid", "alg", "private_key", "public_key", "announced_at")
RETIRED_FIELDS = ("kid", "alg", "public_key", "retired_at")
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def parse_rotation(
    problems: Problems,
    d: dict[str, Any],
    path: str,
    current: tuple[str, str | None, Key],
    kek: Key | None,
) -> tuple[NextKey | None, tuple[RetiredKey, ...]]:
    """The next and retired keys of an asymmetric signature whose (kid, alg, key) is `current`."""
    kid, alg, key = current
    used = {kid: f"{path}.kid"}
    next_key = None
    if d.get("next_key") is not None:
        next_key = _next_key(problems, d["next_key"], f"{path}.next_key", alg, key, used, kek)
    retired: list[RetiredKey] = []
    raw = d.get("retired_keys")
    if raw is not None and not isinstance(raw, list):
        problems.add(f"{path}.retired_keys", f"must be an array, got {kind(raw)}")
    for i, item in enumerate(raw if isinstance(raw, list) else ()):
        entry = _retired_key(problems, item, f"{path}.retired_keys[{i}]", alg, key, used)
        if entry is not None:
            retired.append(entry)
    return next_key, tuple(retired)


def _next_key(
    problems: Problems,
    raw: object,
    path: str,
    current_alg: str | None,
    current_key: Key,
    used: dict[str, str],
    kek: Key | None,
) -> NextKey | None:
    d = obj(problems, raw, path, NEXT_FIELDS)
    if d is None:
        return None
    alg = _alg(problems, d, path, current_alg)
    announced_at = _epoch(problems, d, path, "announced_at", required=False)
    if d.get("private_key") is None and d.get("public_key") is None:
        problems.add(path, "give 'private_key' (or 'public_key' when the private key is kept elsewhere)")
        return None
    private = None
    if d.get("private_key") is not None:
        material = secret(problems, d, path, "private_key", kek)
        if material is FAILED:
            return None
        try:
            private = keyops.load_private(material)
        except keyops.KeyProblem as exc:
            problems.add(f"{path}.private_key", str(exc))
            return None
    public = _public_only(problems, d, path) if d.get("public_key") is not None else None
    if d.get("public_key") is not None and public is None:
        return None
    if private is not None and public is not None and not keyops.same_public_key(private, public):
        problems.add(f"{path}.public_key", f"is not the public half of {path}.private_key")
        return None
    source = "private_key" if private is not None else "public_key"
    key = private if private is not None else public
    assert key is not None
    if not _fits(problems, path, source, key, alg, current_key):
        return None
    assert alg is not None
    kid = _kid(problems, d, path, key, used)
    if kid is None:
        return None
    published = public if public is not None else keyops.to_public(private)  # type: ignore[arg-type]
    return NextKey(kid=kid, alg=alg, public_key=published, private_key=private, announced_at=announced_at)


def _retired_key(
    problems: Problems, raw: object, path: str, current_alg: str | None, current_key: Key, used: dict[str, str]
) -> RetiredKey | None:
    d = obj(problems, raw, path, RETIRED_FIELDS)
    if d is None:
        return None
    alg = _alg(problems, d, path, current_alg)
    retired_at = _epoch(problems, d, path, "retired_at", required=True)
    if d.get("public_key") is None:
        problems.add(f"{path}.public_key", "required (the retired key's public half, PEM or JWK)")
        return None
    public = _public_only(problems, d, path)
    if public is None or not _fits(problems, path, "public_key", public, alg, current_key):
        return None
    assert alg is not None
    kid = _kid(problems, d, path, public, used)
    if kid is None or retired_at is None:
        return None
    return RetiredKey(kid=kid, alg=alg, public_key=public, retired_at=retired_at)


def _alg(problems: Problems, d: dict[str, Any], path: str, default: str | None) -> str | None:
    """The key's alg: its own, else the signature's; an asymmetric signing algorithm."""
    alg = d.get("alg") if d.get("alg") is not None else default
    asymmetric = [a.name for a in jwa.SIGNING if a.key_type != "oct"]
    if alg is not None and alg not in asymmetric:
        shown = f"'{alg}'" if isinstance(alg, str) else kind(alg)
        problems.add(f"{path}.alg", f"must be an asymmetric signing algorithm ({jwa.listed(asymmetric)}), got {shown}")
        return None
    return alg if isinstance(alg, str) else None


def _epoch(problems: Problems, d: dict[str, Any], path: str, name: str, *, required: bool) -> int | None:
    value = d.get(name)
    if value is None:
        if required:
            problems.add(f"{path}.{name}", "required (epoch seconds)")
        return None
    if not is_int(value) or not 0 <= value <= MAX_SAFE_INT:
        problems.add(f"{path}.{name}", f"must be epoch seconds (an integer from 0 to 2^53 - 1), got {kind(value)}")
        return None
    return int(value)


def _public_only(problems: Problems, d: dict[str, Any], path: str) -> Key | None:
    """`public_key` as PEM or JWK, refusing private material: what is only published must not be a secret."""
    value = d["public_key"]
    try:
        if keyops.is_pem(value):
            if "PRIVATE KEY" in value:
                problems.add(f"{path}.public_key", "is a private key; give its public half only")
                return None
            return keyops.load_public(value)
        data = keyops.parse_jwk(value)
        if any(member in data for member in _PRIVATE_MEMBERS):
            problems.add(f"{path}.public_key", "JWK has private members; give its public half only")
            return None
        return keyops.load_public(data)
    except keyops.KeyProblem as exc:
        problems.add(f"{path}.public_key", str(exc))
        return None


def _fits(problems: Problems, path: str, source: str, key: Key, alg: str | None, current_key: Key) -> bool:
    """Type, size and curve fit `alg`; a JWK's own alg / use agree; not the current signing key."""
    if alg is None:
        return False
    needed_type = jwa.SIGNING_BY_NAME[alg].key_type
    if key.key_type != needed_type:
        problems.add(f"{path}.{source}", f"is an {key.key_type} key, {alg} needs {needed_type}")
        return False
    if not key_shape(problems, {}, path, source, key, alg, jwa.signing_curve(alg)):
        return False
    if not jwk_fits(problems, key, f"{path}.{source}", alg, "sig"):
        return False
    if keyops.same_public_key(key, current_key):
        problems.add(f"{path}.{source}", "is the current signing key")
        return False
    return True


def _kid(problems: Problems, d: dict[str, Any], path: str, key: Key, used: dict[str, str]) -> str | None:
    """The key's kid (its RFC 7638 thumbprint when left out), distinct from every other kid of the signature."""
    if d.get("kid") is not None:
        kid = string(problems, d, f"{path}.", "kid", required=False)
        if kid is None:
            return None
    else:
        kid = keyops.thumbprint(key)
    if kid in used:
        problems.add(f"{path}.kid", f"'{kid}' is already the kid of {used[kid]}")
        return None
    used[kid] = f"{path}.kid"
    return kid
