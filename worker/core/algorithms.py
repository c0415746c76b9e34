"""The JOSE algorithms this node supports, written once as data (RFC 7518, RFC 8037).

Config validation, sealed secrets, key generation and their messages all read
these tables; nothing else lists algorithms, curves or key types. The order of
each table is the order used in messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

KEY_TYPES = ("oct", "RSA", "EC", "OKP")

# RSA keys below this size are refused, whatever the algorithm.
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class Curve:
    name: str  # JOSE name ("crv")
    key_type: str
    native_name: str | None = None  # cryptography's name, where it has one


@dataclass(frozen=True)
class SigningAlg:
    name: str
    key_type: str
    curve: str | None = None  # ECDSA / EdDSA: the one curve the alg signs with
    min_key_bytes: int | None = None  # HMAC: at least the hash output (RFC 7518 §3.2)
    # The same key and payload always give the same signature (HMAC, RSASSA-PKCS1-v1_5,
    # Ed25519); PSS and ECDSA draw a random salt / nonce per signature.
    deterministic: bool = True


@dataclass(frozen=True)
class PasswordBased:
    """PBES2 (RFC 7518 §4.8): a password stretched by PBKDF2 into an AES key-wrap key."""

    hash_bits: int
    # RFC 7518 §4.8.1.2 recommends at least 1000 iterations; joserfc refuses more
    # than 300 000, and jwcrypto by default refuses to decrypt above 16 384.
    min_iterations: int = 1000
    default_iterations: int = 8192
    max_iterations: int = 300_000
    # The salt input (`p2s`) is random per token: at least 8 bytes (§4.8.1.1).
    min_salt_bytes: int = 8
    default_salt_bytes: int = 16
    max_salt_bytes: int = 64
    # RFC 7518 sets no floor; NIST SP 800-63B asks memorized secrets for at least 8.
    min_password_bytes: int = 8


@dataclass(frozen=True)
class KeyManagementAlg:
    name: str
    key_type: str  # what a config's encryption key must be
    key_bytes: int | None = None  # AES key wrap: the exact key size (`dir` takes the enc's size)
    # Key types of a JWTGEN_KEK that may have sealed a secret with this alg.
    kek_key_types: tuple[str, ...] = ()
    password_based: PasswordBased | None = None  # PBES2: the key is a password of any length


@dataclass(frozen=True)
class ContentEnc:
    name: str
    key_bytes: int  # the content-encryption key length (what `dir` needs exactly)


CURVES = (
    Curve("P-256", "EC", "secp256r1"),
    Curve("P-384", "EC", "secp384r1"),
    Curve("P-521", "EC", "secp521r1"),
    Curve("Ed25519", "OKP"),
)

SIGNING = (
    SigningAlg("HS256", "oct", min_key_bytes=32),
    SigningAlg("HS384", "oct", min_key_bytes=48),
    SigningAlg("HS512", "oct", min_key_bytes=64),
    SigningAlg("RS256", "RSA"),
    SigningAlg("RS384", "RSA"),
    SigningAlg("RS512", "RSA"),
    SigningAlg("PS256", "RSA", deterministic=False),
    SigningAlg("PS384", "RSA", deterministic=False),
    SigningAlg("PS512", "RSA", deterministic=False),
    SigningAlg("ES256", "EC", curve="P-256", deterministic=False),
    SigningAlg("ES384", "EC", curve="P-384", deterministic=False),
    SigningAlg("ES512", "EC", curve="P-521", deterministic=False),
    SigningAlg("Ed25519", "OKP", curve="Ed25519"),
    SigningAlg("EdDSA", "OKP", curve="Ed25519"),  # the RFC 8037 spelling many verifiers still expect
)

_OCT = ("oct",)
_ECDH_KEKS = ("EC", "OKP")  # ECDH-ES also works with an X25519 (OKP) KEK
# RSA1_5 is deliberately absent (RFC 9864 deprecates it).
KEY_MANAGEMENT = (
    KeyManagementAlg("A128KW", "oct", 16, _OCT),
    KeyManagementAlg("A192KW", "oct", 24, _OCT),
    KeyManagementAlg("A256KW", "oct", 32, _OCT),
    KeyManagementAlg("A128GCMKW", "oct", 16, _OCT),
    KeyManagementAlg("A192GCMKW", "oct", 24, _OCT),
    KeyManagementAlg("A256GCMKW", "oct", 32, _OCT),
    KeyManagementAlg("dir", "oct", None, _OCT),
    # Never used for sealing: a KEK is a key, not a password.
    KeyManagementAlg("PBES2-HS256+A128KW", "oct", None, (), PasswordBased(256)),
    KeyManagementAlg("PBES2-HS384+A192KW", "oct", None, (), PasswordBased(384)),
    KeyManagementAlg("PBES2-HS512+A256KW", "oct", None, (), PasswordBased(512)),
    KeyManagementAlg("RSA-OAEP", "RSA", None, ("RSA",)),
    KeyManagementAlg("RSA-OAEP-256", "RSA", None, ("RSA",)),
    KeyManagementAlg("ECDH-ES", "EC", None, _ECDH_KEKS),
    KeyManagementAlg("ECDH-ES+A128KW", "EC", None, _ECDH_KEKS),
    KeyManagementAlg("ECDH-ES+A192KW", "EC", None, _ECDH_KEKS),
    KeyManagementAlg("ECDH-ES+A256KW", "EC", None, _ECDH_KEKS),
)

CONTENT_ENCRYPTION = (
    ContentEnc("A128GCM", 16),
    ContentEnc("A192GCM", 24),
    ContentEnc("A256GCM", 32),
    ContentEnc("A128CBC-HS256", 32),
    ContentEnc("A192CBC-HS384", 48),
    ContentEnc("A256CBC-HS512", 64),
)

DEFAULT_ENC = "A256GCM"  # a config's `enc` when absent; also what sealing uses
# What `jwtgen keys seal` encrypts with, per KEK key type.
SEAL_ALG_BY_KEY_TYPE = {"RSA": "RSA-OAEP-256", "EC": "ECDH-ES+A256KW", "OKP": "ECDH-ES+A256KW", "oct": "A256KW"}

SIGNING_BY_NAME = {alg.name: alg for alg in SIGNING}
KEY_MANAGEMENT_BY_NAME = {alg.name: alg for alg in KEY_MANAGEMENT}
CONTENT_ENCRYPTION_BY_NAME = {enc.name: enc for enc in CONTENT_ENCRYPTION}


def signing_algs(key_type: str) -> tuple[str, ...]:
    return tuple(alg.name for alg in SIGNING if alg.key_type == key_type)


def key_management_algs(key_type: str) -> tuple[str, ...]:
    return tuple(alg.name for alg in KEY_MANAGEMENT if alg.key_type == key_type)


def kek_algs(key_type: str) -> tuple[str, ...]:
    """Key management algs a JWTGEN_KEK of `key_type` may have sealed with."""
    return tuple(alg.name for alg in KEY_MANAGEMENT if key_type in alg.kek_key_types)


def password_based(alg: str) -> PasswordBased | None:
    """The PBES2 rules of a key management alg, or None when its key is not a password."""
    found = KEY_MANAGEMENT_BY_NAME.get(alg)
    return found.password_based if found is not None else None


def content_encs() -> tuple[str, ...]:
    return tuple(CONTENT_ENCRYPTION_BY_NAME)


def asymmetric_key_types(algs: Iterable[SigningAlg | KeyManagementAlg]) -> tuple[str, ...]:
    """The non-oct key types used by `algs`, in table order."""
    return tuple(dict.fromkeys(alg.key_type for alg in algs if alg.key_type != "oct"))


def curves(key_type: str) -> tuple[str, ...]:
    return tuple(curve.name for curve in CURVES if curve.key_type == key_type)


def curve_by_native_name(native_name: str) -> str | None:
    """The JOSE name of a cryptography EC curve name, or None when unsupported."""
    return next((curve.name for curve in CURVES if curve.native_name == native_name), None)


def signing_curve(alg: str) -> str | None:
    """The curve a signing alg needs (ES256 -> P-256), or None when it has no curve."""
    found = SIGNING_BY_NAME.get(alg)
    return found.curve if found is not None else None


def listed(names: Iterable[str]) -> str:
    """'a, b, c' for messages."""
    return ", ".join(names)


def either(names: Iterable[str]) -> str:
    """'a, b or c' for messages."""
    *head, last = names
    return f"{', '.join(head)} or {last}" if head else last
