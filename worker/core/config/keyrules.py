"""Rules on the keys a config carries: oct keys from a password or a JWK, key types, sizes and curves."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import Key, OctKey

from worker.core import algorithms as jwa
from worker.core import keys as keyops
from worker.core.algorithms import MIN_RSA_BITS
from worker.core.config.fields import FAILED, Problems, got, kind, secret, shared
from worker.core.jsonio import is_int


def oct_key(problems: Problems, d: dict[str, Any], path: str, kek: Key | None) -> tuple[OctKey, str] | None:
    """The oct key from `password` or `jwk` (exactly one), with the field it came from."""
    has_password = d.get("password") is not None
    has_jwk = d.get("jwk") is not None
    if has_password == has_jwk:
        problems.add(path, "give exactly one of 'password' or 'jwk'")
        return None
    name = "password" if has_password else "jwk"
    value = secret(problems, d, path, name, kek)
    if value is FAILED:
        return None
    try:
        if name == "password":
            if not isinstance(value, str) or not value:
                problems.add(f"{path}.password", f"must be a non-empty string, got {kind(value)}")
                return None
            return keyops.oct_from_password(value), name
        return keyops.oct_from_jwk(value), name
    except keyops.KeyProblem as exc:
        problems.add(f"{path}.{name}", str(exc))
        return None


def jwk_fits(problems: Problems, key: Key, path: str, alg: str, use: str) -> bool:
    """A JWK's own `alg` / `use` members must agree with the config (joserfc enforces them)."""
    key_alg = key.get("alg")
    if key_alg is not None and key_alg != alg:
        problems.add(path, f"JWK is meant for alg '{key_alg}', the config uses '{alg}'")
        return False
    key_use = key.get("use")
    if key_use is not None and key_use != use:
        problems.add(path, f"JWK 'use' is '{key_use}', this field needs '{use}'")
        return False
    return True


def key_type(problems: Problems, d: dict[str, Any], path: str, allowed: tuple[str, ...]) -> str | None:
    value = d.get("key_type")
    if value not in allowed:
        problems.add(f"{path}.key_type", f"must be one of {jwa.listed(allowed)}, got {got(value)}")
        return None
    return shared(str(value))


def key_shape(
    problems: Problems,
    d: dict[str, Any],
    path: str,
    source: str,
    key: Key,
    alg: str | None,
    needed_curve: str | None,
) -> bool:
    """RSA size >= MIN_RSA_BITS and equal to a declared key_size; EC / OKP curve fits alg and declared curve."""
    if isinstance(key, keyops.RSAKey):
        return _rsa_shape(problems, d, path, source, key)
    assert isinstance(key, (keyops.ECKey, keyops.OKPKey))
    return _curve_shape(problems, d, path, source, key, alg, needed_curve)


def _rsa_shape(problems: Problems, d: dict[str, Any], path: str, source: str, key: keyops.RSAKey) -> bool:
    ok = True
    declared_size = d.get("key_size")
    bits = keyops.rsa_bits(key)
    if d.get("curve") is not None:
        problems.add(f"{path}.curve", "only for EC keys")
        ok = False
    if bits < MIN_RSA_BITS:
        problems.add(f"{path}.{source}", f"RSA key is {bits} bits, at least {MIN_RSA_BITS} required")
        ok = False
    if declared_size is not None:
        if not is_int(declared_size):
            problems.add(f"{path}.key_size", f"must be an integer, got {kind(declared_size)}")
            ok = False
        elif declared_size < MIN_RSA_BITS:
            problems.add(f"{path}.key_size", f"{declared_size} is under the {MIN_RSA_BITS}-bit minimum")
            ok = False
        elif declared_size != bits:
            problems.add(f"{path}.key_size", f"declared {declared_size} bits, the key has {bits}")
            ok = False
    return ok


def _curve_shape(
    problems: Problems,
    d: dict[str, Any],
    path: str,
    source: str,
    key: keyops.ECKey | keyops.OKPKey,
    alg: str | None,
    needed_curve: str | None,
) -> bool:
    ok = True
    declared_curve = d.get("curve")
    curve = keyops.curve_of(key)
    if d.get("key_size") is not None:
        problems.add(f"{path}.key_size", "only for RSA keys")
        ok = False
    if declared_curve is not None:
        allowed = jwa.curves(key.key_type)
        if declared_curve not in allowed:
            problems.add(f"{path}.curve", f"must be one of {jwa.listed(allowed)}, got {got(declared_curve)}")
            ok = False
        elif declared_curve != curve:
            problems.add(f"{path}.curve", f"declared {declared_curve}, the key is on {curve}")
            ok = False
    ec_curves = jwa.curves("EC")
    if isinstance(key, keyops.ECKey) and curve not in ec_curves:
        problems.add(f"{path}.{source}", f"curve {curve} is not supported ({jwa.listed(ec_curves)})")
        ok = False
    if needed_curve is not None and needed_curve != curve:
        problems.add(f"{path}.{source}", f"{alg} needs a {needed_curve} key, the key is on {curve}")
        ok = False
    return ok
