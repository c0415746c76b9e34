"""Key import and inspection: PEM / JWK / password into joserfc keys, once per config.

Every failure is a `KeyProblem` whose text describes the problem and never
quotes the material (PEM bodies, JWK members, passwords).

An RSA private key is checked when imported, as Go's crypto/rsa `Validate`
does: its numbers must fit together (n = p.q, e.dP = 1 mod p-1, e.dQ = 1 mod
q-1, qInv.q = 1 mod p), and a signature it makes must verify. A key that
passes signs correctly, so no signature can leak its factors (the fault attack
on CRT values that do not fit). OpenSSL's own check adds probabilistic
primality tests of p and q, some 36 ms of CPU per 2048-bit key: a worker
reading thousands of RSA configs after a start would spend minutes on them,
and choosing primes is the key generator's job, not the signer's. This check
costs about half a millisecond. A worker may also hold thousands of configs
sharing a few keys: each key is checked once and the checked key object shared
by every config (version) that holds it (`SharedKeys`). Only live configs keep
a key: the cache holds weak references.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey

from worker.core.algorithms import curve_by_native_name, curves, either, listed

AsymmetricKey = RSAKey | ECKey | OKPKey

__all__ = [
    "AsymmetricKey",
    "ECKey",
    "KeyProblem",
    "OKPKey",
    "OctKey",
    "PasswordProblem",
    "RSAKey",
    "curve_of",
    "from_native_public",
    "is_pem",
    "load_private",
    "load_public",
    "oct_from_jwk",
    "oct_from_password",
    "parse_jwk",
    "public_jwk",
    "rsa_bits",
    "same_public_key",
    "thumbprint",
    "to_public",
]

# Members RFC 7517/7518/8037 define per key type; anything else in an imported JWK
# (for example "x5c") is carried along by joserfc and we leave it be.
_KTY_CLASS: dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {
    "RSA": RSAKey,
    "EC": ECKey,
    "OKP": OKPKey,
}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

# Members joserfc asks a key for at every signature and encryption (check_use, check_alg,
# check_key_op, the recipient's kid).
_LOOKED_UP_MEMBERS = frozenset({"use", "alg", "key_ops", "kid"})


class _Memberless:
    """A key read from PEM or a password, which has no JWK members beyond its numbers.

    Asked for one, a plain joserfc key builds its whole JWK and keeps it for the
    key's life: for an RSA private key, the private numbers as 2 KiB of text per
    config, built by its first signature. The answer is known without it.
    """

    def get(self, k: str, default: str | list[str] | None = None) -> str | list[str] | None:
        return default if k in _LOOKED_UP_MEMBERS else super().get(k, default)  # type: ignore[misc]


class _PemRSAKey(_Memberless, RSAKey):
    pass


class _PemECKey(_Memberless, ECKey):
    pass


class _PemOKPKey(_Memberless, OKPKey):
    pass


class _PasswordOctKey(_Memberless, OctKey):
    pass


_PEM_PRIVATE = (_PemRSAKey, _PemECKey, _PemOKPKey)


class KeyProblem(ValueError):
    """Key material that cannot be used; the text is safe to show (no material)."""


class PasswordProblem(KeyProblem):
    """The password of an encrypted PEM private key is at fault, not the key field."""


def parse_jwk(value: object) -> dict[str, Any]:
    """A JWK given as a JSON object or as a string holding one."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise KeyProblem("is not a JWK (a JSON object or a string holding one)") from None
    if not isinstance(value, dict):
        raise KeyProblem("is not a JWK (a JSON object or a string holding one)")
    if not isinstance(value.get("kty"), str):
        raise KeyProblem("JWK has no 'kty'")
    return value


def oct_from_password(password: str) -> OctKey:
    """The UTF-8 bytes of `password` as an HMAC / AES key."""
    key: OctKey = _quiet(lambda: _PasswordOctKey.import_key(password.encode("utf-8")))
    return key


def oct_from_jwk(value: object) -> OctKey:
    data = parse_jwk(value)
    if data["kty"] != "oct":
        raise KeyProblem(f"JWK kty is '{_safe(data['kty'])}', expected 'oct'")
    if not isinstance(data.get("k"), str) or not data["k"]:
        raise KeyProblem("oct JWK has no 'k'")
    try:
        key: OctKey = _quiet(lambda: OctKey.import_key(data))
    except (JoseError, ValueError, TypeError):
        raise KeyProblem("oct JWK cannot be imported") from None
    if not key.raw_value:
        raise KeyProblem("oct JWK has an empty 'k'")
    return key


def is_pem(value: object) -> bool:
    return isinstance(value, str) and value.lstrip().startswith("-----BEGIN")


class SharedKeys:
    """Checked keys by fingerprint, each kept only while something else holds it (thread-safe)."""

    def __init__(self) -> None:
        self._keys: weakref.WeakValueDictionary[bytes, AsymmetricKey] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def get(self, fingerprint: bytes, load: Callable[[], AsymmetricKey]) -> AsymmetricKey:
        """The key shared under `fingerprint`, or `load()`'s (raising as it raises), then shared."""
        with self._lock:
            found = self._keys.get(fingerprint)
        if found is not None:
            return found
        key = load()  # the costly check, outside the lock: at worst two threads check one key
        with self._lock:
            return self._keys.setdefault(fingerprint, key)

    def __len__(self) -> int:
        return len(self._keys)


# One per process: configs compiled anywhere share their RSA private keys.
SHARED_RSA_KEYS = SharedKeys()


def load_private(value: object, password: str | None = None) -> AsymmetricKey:
    """A private RSA / EC / OKP key from PEM (PKCS#8, PKCS#1, SEC1; encrypted with `password`) or a JWK."""
    if is_pem(value):
        assert isinstance(value, str)
        pem = value.encode("ascii", "replace")
        secret = password.encode("utf-8") if password is not None else None
        # Read without the RSA check first (microseconds): a key checked before is shared, not checked again.
        native = _load_pem_private(value, pem, secret, password, check=False)
        if isinstance(native, rsa.RSAPrivateKey):
            return SHARED_RSA_KEYS.get(
                _rsa_fingerprint(native),
                lambda: _wrap_native(_load_pem_private(value, pem, secret, password, check=True), private=True),
            )
        return _wrap_native(native, private=True)
    if password is not None:
        raise PasswordProblem("only opens an encrypted PEM private key, not a JWK")
    data = parse_jwk(value)
    if data["kty"] == "RSA":
        # The whole JWK, not only its numbers: its other members (use, alg, key_ops) are checked per config.
        fingerprint = b"jwk:" + hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).digest()
        key = SHARED_RSA_KEYS.get(fingerprint, lambda: _import_asymmetric_jwk(data))
    else:
        key = _import_asymmetric_jwk(data)
    if not key.is_private:
        raise KeyProblem("JWK is a public key; a private key is required")
    return key


def _load_pem_private(text: str, pem: bytes, secret: bytes | None, password: str | None, *, check: bool) -> Any:
    try:
        native = load_pem_private_key(pem, secret, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        # cryptography: a password for a plain key, or none for an encrypted one.
        if password is None:
            raise KeyProblem("PEM private key is encrypted; give its private_key_password") from None
        raise PasswordProblem("is given, but the PEM private key is not encrypted") from None
    except (ValueError, Exception):  # cryptography raises several types for garbage
        if password is not None and _looks_encrypted(text):
            raise PasswordProblem("does not open the encrypted PEM private key") from None
        raise KeyProblem("PEM private key cannot be read") from None
    if check and isinstance(native, rsa.RSAPrivateKey):
        check_rsa_private(native)
    return native


def check_rsa_private(native: rsa.RSAPrivateKey) -> None:
    """Refuse an RSA private key whose numbers do not fit together or whose signature does not verify."""
    numbers = native.private_numbers()
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    p, q = numbers.p, numbers.q
    fits = (
        p > 1
        and q > 1
        and p * q == n
        and (e * numbers.dmp1 - 1) % (p - 1) == 0
        and (e * numbers.dmq1 - 1) % (q - 1) == 0
        and (numbers.iqmp * q) % p == 1
    )
    if not fits:
        raise KeyProblem("RSA private key is inconsistent: its numbers (n, p, q, CRT values) do not fit together")
    # A pairwise test, as key generators run one: a factor that is not prime shows here.
    probe = secrets.token_bytes(32)
    try:
        native.public_key().verify(
            native.sign(probe, padding.PKCS1v15(), hashes.SHA256()), probe, padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError):  # ValueError: too small to sign with SHA-256
        raise KeyProblem("RSA private key is inconsistent: a signature it makes does not verify") from None


def _rsa_fingerprint(native: rsa.RSAPrivateKey) -> bytes:
    """A digest of every private number: the same key in any PEM encoding, and only that key."""
    numbers = native.private_numbers()
    digest = hashlib.sha256(b"pem:")
    for value in (
        numbers.public_numbers.n,
        numbers.public_numbers.e,
        numbers.d,
        numbers.p,
        numbers.q,
        numbers.dmp1,
        numbers.dmq1,
        numbers.iqmp,
    ):
        raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
        digest.update(len(raw).to_bytes(4, "big") + raw)
    return b"pem:" + digest.digest()


def _looks_encrypted(pem: str) -> bool:
    """PKCS#8 `ENCRYPTED PRIVATE KEY`, or a traditional PEM with `Proc-Type: 4,ENCRYPTED`."""
    return "ENCRYPTED" in pem


def load_public(value: object) -> AsymmetricKey:
    """A public key from PEM (SubjectPublicKeyInfo or PKCS#1) or JWK; a private key yields its public half."""
    if is_pem(value):
        assert isinstance(value, str)
        raw = value.encode("ascii", "replace")
        if b"PRIVATE KEY" in raw:
            return to_public(load_private(value))
        try:
            native = load_pem_public_key(raw)
        except (ValueError, Exception):
            raise KeyProblem("PEM public key cannot be read") from None
        return _wrap_native(native, private=False)
    key = _import_asymmetric_jwk(parse_jwk(value))
    return to_public(key) if key.is_private else key


def to_public(key: AsymmetricKey) -> AsymmetricKey:
    cls = _KTY_CLASS[key.key_type]
    public: AsymmetricKey = _quiet(lambda: cls.import_key(key.as_dict(private=False)))
    return public


def rsa_bits(key: RSAKey) -> int:
    return int(key.public_key.key_size)


def curve_of(key: ECKey | OKPKey) -> str:
    return str(key.curve_name)


def same_public_key(a: Key, b: Key) -> bool:
    """True when `a` and `b` share one public key (RFC 7638 thumbprints compare public members only)."""
    return a.key_type == b.key_type and thumbprint(a) == thumbprint(b)


def thumbprint(key: Key) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url."""
    return str(_public_view(key).thumbprint())


def public_members(key: Key) -> dict[str, Any]:
    """The key's JWK members without the private ones (all of them for an oct key's caller to refuse)."""
    return dict(_public_view(key).as_dict(private=False))


def public_jwk(key: AsymmetricKey, kid: str) -> dict[str, Any]:
    """The public JWK of `key` with only public members plus `kid`."""
    data = public_members(key)
    for member in _PRIVATE_MEMBERS:
        data.pop(member, None)
    data["kid"] = kid
    return data


def _public_view(key: Key) -> Key:
    """`key`, or for a private key read from PEM, its public half.

    Any member of a key read from PEM makes joserfc build its whole JWK and keep
    it on the key: for an RSA key, 2 KiB of private numbers as text, for as long
    as the config lives. The public half answers thumbprints and public members alike.
    """
    if isinstance(key, _PEM_PRIVATE):
        return _wrap_native(key.public_key, private=False)
    return key


def _import_asymmetric_jwk(data: dict[str, Any]) -> AsymmetricKey:
    kty = data["kty"]
    cls = _KTY_CLASS.get(kty)
    if cls is None:
        raise KeyProblem(f"JWK kty is '{_safe(kty)}', expected {either(_KTY_CLASS)}")
    try:
        key: AsymmetricKey = _quiet(lambda: cls.import_key(data))
        return key
    except (JoseError, ValueError, TypeError, KeyError):
        raise KeyProblem(f"{kty} JWK cannot be imported (missing or malformed members)") from None


def from_native_public(native: object) -> AsymmetricKey:
    """The joserfc key of a `cryptography` public key (a certificate's subject key)."""
    return _wrap_native(native, private=False)


def _wrap_native(native: object, *, private: bool) -> AsymmetricKey:
    # We load PEM with cryptography ourselves (clear errors, no material in them)
    # and hand joserfc the native key object.
    if isinstance(native, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return _PemRSAKey(native, native) if private else RSAKey(native, native)
    if isinstance(native, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if curve_by_native_name(native.curve.name) is None:
            raise KeyProblem(f"EC curve {native.curve.name} is not supported ({listed(curves('EC'))})")
        return _PemECKey(native, native) if private else ECKey(native, native)
    if isinstance(native, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return _PemOKPKey(native, native) if private else OKPKey(native, native)
    kind = "private" if private else "public"
    raise KeyProblem(f"PEM {kind} key is not an RSA, EC or Ed25519 key")


def _quiet(fn: Any) -> Any:
    # joserfc warns (SecurityWarning) on short keys; we report those as problems ourselves.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def _safe(value: object) -> str:
    """A short, printable rendering of a non-secret JWK member (kty) for messages."""
    text = value if isinstance(value, str) else type(value).__name__
    return text[:16]
