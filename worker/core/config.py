"""The node config (CONTRACT.md §2) as frozen dataclasses, and its validation.

`parse_config` collects every problem before giving up; each problem starts with
the dotted path of the field at fault and never quotes key material. Fields
that hold secrets are `repr=False`.

Interpretations of the contract made here:
- `ttl` absent means 3600 seconds (one hour).
- `claims` absent means `{}` (so the default `iss` / `sub` flags then require
  `issuer` / `subject`).
- a field known to the config but not used by the chosen type (e.g.
  `private_key` on a symmetric signature) must be absent or null.
- a sealed secret's plaintext is the field's value as text (a password, a JWK
  JSON string or a PEM).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from joserfc.jwk import Key, OctKey

from worker.core import algorithms as jwa
from worker.core import keys as keyops
from worker.core.algorithms import DEFAULT_ENC, MIN_RSA_BITS
from worker.core.errors import NodeError
from worker.core.sealed import SealedError, open_sealed
from worker.core.templates import (
    CLAIM_TYPES,
    Template,
    TemplateSyntaxError,
    compile_template,
    convert,
    json_type_name,
)

DEFAULT_TTL = 3600

FLAG_DEFAULTS: dict[str, bool] = {"iat": True, "iss": True, "sub": True, "exp": True, "nbf": False, "jti": False}

EXPOSED_ATTRIBUTES = ("token", "header", "claims", "kid", "alg", "enc", "iat", "exp", "jti", "public_jwk")

# Larger integers cannot be read exactly by JSON consumers that use doubles.
_MAX_INT = 2**53 - 1
_TOP_FIELDS = ("id", "version", "ttl", "claims", "signature", "encryption", "store")
_CLAIMS_FIELDS = ("iat", "iss", "sub", "exp", "nbf", "jti", "issuer", "subject", "custom")
_CUSTOM_FIELDS = ("key", "value", "type")
_SIG_COMMON = ("type", "kid", "alg")
_SIG_SYMMETRIC = ("password", "jwk")
_SIG_ASYMMETRIC = ("key_type", "private_key", "public_key", "key_size", "curve")
_ENC_COMMON = ("type", "kid", "alg", "enc")
_ENC_SYMMETRIC = ("password", "jwk")
_ENC_ASYMMETRIC = ("key_type", "public_key", "public_jwk", "key_size", "curve")
_STORE_FIELDS = ("variable", "attributes", "frontend")

_FAILED = object()  # a field whose problem is already recorded


class ConfigInvalid(ValueError):
    """A config that breaks one or more rules; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CustomClaim:
    key: str
    type: str
    # Static values may be secrets too; templates are compiled once here.
    value: Any = field(repr=False)
    template: Template = field(repr=False, compare=False)


@dataclass(frozen=True)
class Claims:
    iat: bool = True
    iss: bool = True
    sub: bool = True
    exp: bool = True
    nbf: bool = False
    jti: bool = False
    issuer: str | None = None
    subject: str | None = None
    custom: tuple[CustomClaim, ...] = ()
    issuer_template: Template | None = field(default=None, repr=False, compare=False)
    subject_template: Template | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Signature:
    type: str  # "symmetric" | "asymmetric"
    alg: str
    key_type: str  # "oct", "RSA", "EC" or "OKP"
    key: Key = field(repr=False)  # the signing key (oct or private)
    kid: str | None = None
    key_size: int | None = None
    curve: str | None = None
    public_key: Key | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Encryption:
    type: str
    alg: str
    enc: str
    key_type: str  # "oct", "RSA" or "EC"
    key: Key = field(repr=False)  # oct key, or the recipient's public key
    kid: str | None = None
    key_size: int | None = None
    curve: str | None = None


@dataclass(frozen=True)
class Store:
    variable: str
    attributes: tuple[str, ...]
    frontend: bool = False


@dataclass(frozen=True)
class NodeConfig:
    id: str
    version: int
    ttl: int
    claims: Claims
    signature: Signature | None
    encryption: Encryption | None
    store: Store | None


def parse_config(raw: object, kek: Key | None = None) -> NodeConfig:
    """Validate a node config (a dict, or JSON text) and import its keys; raises ConfigInvalid."""
    parser = _Parser(kek)
    config = parser.parse(raw)
    if parser.problems or config is None:
        raise ConfigInvalid(parser.problems or ["config: invalid"])
    return config


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_kind = json_type_name  # JSON type name for messages (never the value)


class _Parser:
    def __init__(self, kek: Key | None) -> None:
        self.kek = kek
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    # -- generic field readers ------------------------------------------------

    def obj(self, raw: object, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            self.add(path, f"must be a JSON object, got {_kind(raw)}")
            return None
        for name in raw:
            if name not in allowed:
                self.add(f"{path}.{name}" if path != "config" else str(name), "unknown field")
        return raw

    def string(self, d: dict[str, Any], path: str, name: str, *, required: bool) -> str | None:
        value = d.get(name)
        if value is None:
            if required:
                self.add(f"{path}{name}", "required (a non-empty string)")
            return None
        if not isinstance(value, str) or not value.strip():
            got = "blank string" if isinstance(value, str) else _kind(value)
            self.add(f"{path}{name}", f"must be a non-empty string, got {got}")
            return None
        return value

    def flag(self, d: dict[str, Any], path: str, name: str, default: bool) -> bool:
        value = d.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add(f"{path}{name}", f"must be a boolean, got {_kind(value)}")
            return default
        return value

    def positive_int(self, d: dict[str, Any], path: str, name: str, default: int | None) -> int | None:
        value = d.get(name)
        if value is None:
            if default is None:
                self.add(f"{path}{name}", "required (an integer >= 1)")
            return default
        if not _is_int(value):
            self.add(f"{path}{name}", f"must be an integer >= 1, got {_kind(value)}")
            return None
        if not 1 <= value <= _MAX_INT:
            self.add(f"{path}{name}", f"must be an integer from 1 to 2^53 - 1, got {value}")
            return None
        return int(value)

    def unused(self, d: dict[str, Any], path: str, names: tuple[str, ...], why: str) -> None:
        for name in names:
            if d.get(name) is not None:
                self.add(f"{path}.{name}", f"not used by {why}")

    def secret(self, d: dict[str, Any], path: str, name: str) -> object:
        """The field's value, a sealed one opened; `_FAILED` when that failed (problem recorded)."""
        value = d.get(name)
        if isinstance(value, dict) and "sealed" in value:
            try:
                return open_sealed(value, self.kek, f"{path}.{name}")
            except SealedError as exc:
                self.problems.append(str(exc))
                return _FAILED
        return value

    # -- sections -------------------------------------------------------------

    def parse(self, raw: object) -> NodeConfig | None:
        if isinstance(raw, (str, bytes, bytearray)):
            try:
                raw = orjson.loads(raw)
            except orjson.JSONDecodeError:
                self.add("config", "not valid JSON")
                return None
        d = self.obj(raw, "config", _TOP_FIELDS)
        if d is None:
            return None
        config_id = self.string(d, "", "id", required=True)
        version = self.positive_int(d, "", "version", None)
        ttl = self.positive_int(d, "", "ttl", DEFAULT_TTL)
        claims = self.claims(d.get("claims"))
        encryption = self.encryption(d["encryption"]) if d.get("encryption") is not None else None
        has_encryption = d.get("encryption") is not None
        signature = self.signature(d.get("signature"), has_encryption)
        raw_signature = d.get("signature")
        asymmetric = isinstance(raw_signature, dict) and raw_signature.get("type") == "asymmetric"
        store = self.store(d.get("store"), asymmetric)
        if self.problems or config_id is None or version is None or ttl is None or claims is None:
            return None
        return NodeConfig(config_id, version, ttl, claims, signature, encryption, store)

    def claims(self, raw: object) -> Claims | None:
        d = self.obj({} if raw is None else raw, "claims", _CLAIMS_FIELDS)
        if d is None:
            return None
        flags = {name: self.flag(d, "claims.", name, default) for name, default in FLAG_DEFAULTS.items()}
        issuer, issuer_t = self.claim_text(d, "issuer", required=flags["iss"], flag="iss")
        subject, subject_t = self.claim_text(d, "subject", required=flags["sub"], flag="sub")
        enabled = {name for name, on in flags.items() if on}
        custom = self.custom(d.get("custom"), enabled)
        return Claims(
            **flags,
            issuer=issuer,
            subject=subject,
            custom=custom,
            issuer_template=issuer_t,
            subject_template=subject_t,
        )

    def claim_text(
        self, d: dict[str, Any], name: str, *, required: bool, flag: str
    ) -> tuple[str | None, Template | None]:
        value = d.get(name)
        path = f"claims.{name}"
        if value is None:
            if required:
                self.add(path, f"required when '{flag}' is on")
            return None, None
        if not isinstance(value, str) or not value:
            self.add(path, f"must be a non-empty string, got {_kind(value)}")
            return None, None
        try:
            return value, compile_template(value)
        except TemplateSyntaxError as exc:
            self.add(path, str(exc))
            return None, None

    def custom(self, raw: object, enabled: set[str]) -> tuple[CustomClaim, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.add("claims.custom", f"must be an array, got {_kind(raw)}")
            return ()
        seen: set[str] = set()
        out: list[CustomClaim] = []
        for i, item in enumerate(raw):
            path = f"claims.custom[{i}]"
            d = self.obj(item, path, _CUSTOM_FIELDS)
            if d is None:
                continue
            key = self.string(d, f"{path}.", "key", required=True)
            if key is not None:
                if key in seen:
                    self.add(f"{path}.key", f"'{key}' is already used by another custom claim")
                elif key in enabled:
                    self.add(f"{path}.key", f"'{key}' collides with the enabled default claim '{key}'")
                seen.add(key)
            claim_type = d.get("type")
            if claim_type not in CLAIM_TYPES:
                got = f"'{claim_type}'" if isinstance(claim_type, str) else _kind(claim_type)
                self.add(f"{path}.type", f"must be one of {', '.join(CLAIM_TYPES)}, got {got}")
                claim_type = None
            value = d.get("value")
            template: Template | None = None
            if value is None:
                self.add(f"{path}.value", "required (a static JSON value or a string holding templates)")
            else:
                try:
                    template = compile_template(value)
                except TemplateSyntaxError as exc:
                    self.add(f"{path}.value", str(exc))
            if template is not None and claim_type is not None and template.is_static:
                # Static values are converted once here, so a wrong one fails the config, not each request.
                try:
                    template = Template(static=convert(template.static, claim_type, path), is_static=True)
                except NodeError:
                    self.add(f"{path}.value", f"static value of type {_kind(value)} cannot be a {claim_type}")
                    template = None
            if key is not None and claim_type is not None and template is not None:
                out.append(CustomClaim(key=key, type=claim_type, value=value, template=template))
        return tuple(out)

    def signature(self, raw: object, has_encryption: bool) -> Signature | None:
        path = "signature"
        if raw is None:
            if not has_encryption:
                self.add(path, "required unless encryption is set (unsigned, unencrypted tokens are never issued)")
            return None
        d = self.obj(raw, path, _SIG_COMMON + _SIG_SYMMETRIC + _SIG_ASYMMETRIC)
        if d is None:
            return None
        alg = d.get("alg")
        kid = self.string(d, f"{path}.", "kid", required=False)
        if isinstance(alg, str) and alg.lower() == "none":
            self.add(f"{path}.alg", "'none' is never allowed: a signature needs a real algorithm")
            alg = None
        elif alg is None or not isinstance(alg, str):
            self.add(f"{path}.alg", "required")
            alg = None
        sig_type = d.get("type")
        if sig_type == "symmetric":
            return self.symmetric_signature(d, alg, kid)
        if sig_type == "asymmetric":
            return self.asymmetric_signature(d, alg, kid)
        self.add(f"{path}.type", "must be 'symmetric' or 'asymmetric'")
        return None

    def symmetric_signature(self, d: dict[str, Any], alg: str | None, kid: str | None) -> Signature | None:
        path = "signature"
        self.unused(d, path, _SIG_ASYMMETRIC, "symmetric signatures")
        if alg is not None and alg not in jwa.signing_algs("oct"):
            algs = jwa.listed(jwa.signing_algs("oct"))
            self.add(f"{path}.alg", f"'{alg}' is not a symmetric signing algorithm ({algs})")
            alg = None
        found = self.oct_key(d, path)
        if found is None:
            return None
        key, source = found
        if alg is None:
            return None
        size = len(key.raw_value)
        need = jwa.SIGNING_BY_NAME[alg].min_key_bytes
        assert need is not None  # every oct signing alg has one
        if size < need:
            self.add(
                f"{path}.{source}",
                f"HMAC secret is {size} bytes, {alg} needs at least {need} (RFC 7518 §3.2)",
            )
            return None
        if not self.jwk_fits(key, f"{path}.{source}", alg, "sig"):
            return None
        return Signature(type="symmetric", alg=alg, key_type="oct", key=key, kid=kid)

    def oct_key(self, d: dict[str, Any], path: str) -> tuple[OctKey, str] | None:
        """The oct key from `password` or `jwk` (exactly one), with the field it came from."""
        has_password = d.get("password") is not None
        has_jwk = d.get("jwk") is not None
        if has_password == has_jwk:
            self.add(path, "give exactly one of 'password' or 'jwk'")
            return None
        name = "password" if has_password else "jwk"
        value = self.secret(d, path, name)
        if value is _FAILED:
            return None
        try:
            if name == "password":
                if not isinstance(value, str) or not value:
                    self.add(f"{path}.password", f"must be a non-empty string, got {_kind(value)}")
                    return None
                return keyops.oct_from_password(value), name
            return keyops.oct_from_jwk(value), name
        except keyops.KeyProblem as exc:
            self.add(f"{path}.{name}", str(exc))
            return None

    def jwk_fits(self, key: Key, path: str, alg: str, use: str) -> bool:
        """A JWK's own `alg` / `use` members must agree with the config (joserfc enforces them)."""
        key_alg = key.get("alg")
        if key_alg is not None and key_alg != alg:
            self.add(path, f"JWK is meant for alg '{key_alg}', the config uses '{alg}'")
            return False
        key_use = key.get("use")
        if key_use is not None and key_use != use:
            self.add(path, f"JWK 'use' is '{key_use}', this field needs '{use}'")
            return False
        return True

    def key_type(self, d: dict[str, Any], path: str, allowed: tuple[str, ...]) -> str | None:
        value = d.get("key_type")
        if value not in allowed:
            got = f"'{value}'" if isinstance(value, str) else _kind(value)
            self.add(f"{path}.key_type", f"must be one of {', '.join(allowed)}, got {got}")
            return None
        return str(value)

    def asymmetric_signature(self, d: dict[str, Any], alg: str | None, kid: str | None) -> Signature | None:
        path = "signature"
        self.unused(d, path, _SIG_SYMMETRIC, "asymmetric signatures")
        key_types = jwa.asymmetric_key_types(jwa.SIGNING)
        key_type = self.key_type(d, path, key_types)
        if alg is not None and key_type is not None and alg not in jwa.signing_algs(key_type):
            known = jwa.SIGNING_BY_NAME.get(alg)
            if known is not None and known.key_type in key_types:
                self.add(f"{path}.alg", f"'{alg}' needs key_type {known.key_type}, not {key_type}")
            else:
                algs = jwa.listed(jwa.signing_algs(key_type))
                self.add(f"{path}.alg", f"'{alg}' is not a {key_type} signing algorithm ({algs})")
            alg = None
        if d.get("private_key") is None:
            self.add(f"{path}.private_key", "required for asymmetric signatures")
            return None
        material = self.secret(d, path, "private_key")
        if material is _FAILED:
            return None
        try:
            private = keyops.load_private(material)
        except keyops.KeyProblem as exc:
            self.add(f"{path}.private_key", str(exc))
            return None
        if key_type is None:
            return None
        if private.key_type != key_type:
            self.add(f"{path}.private_key", f"is an {private.key_type} key, key_type is {key_type}")
            return None
        needed_curve = jwa.signing_curve(alg) if alg is not None else None
        ok = self.check_key_shape(d, path, "private_key", private, alg, needed_curve)
        public: Key | None = None
        if d.get("public_key") is not None:
            try:
                public = keyops.load_public(d["public_key"])
            except keyops.KeyProblem as exc:
                self.add(f"{path}.public_key", str(exc))
                ok = False
            else:
                if not keyops.same_public_key(private, public):
                    self.add(f"{path}.public_key", "is not the public half of signature.private_key")
                    ok = False
        if alg is None or not ok or not self.jwk_fits(private, f"{path}.private_key", alg, "sig"):
            return None
        return Signature(
            type="asymmetric",
            alg=alg,
            key_type=key_type,
            key=private,
            kid=kid,
            key_size=d.get("key_size"),
            curve=d.get("curve"),
            public_key=public,
        )

    def check_key_shape(
        self,
        d: dict[str, Any],
        path: str,
        source: str,
        key: Key,
        alg: str | None,
        needed_curve: str | None,
    ) -> bool:
        """RSA size >= 2048 and equal to a declared key_size; EC / OKP curve fits alg and declared curve."""
        ok = True
        declared_size = d.get("key_size")
        declared_curve = d.get("curve")
        if isinstance(key, keyops.RSAKey):
            bits = keyops.rsa_bits(key)
            if declared_curve is not None:
                self.add(f"{path}.curve", "only for EC keys")
                ok = False
            if bits < MIN_RSA_BITS:
                self.add(f"{path}.{source}", f"RSA key is {bits} bits, at least {MIN_RSA_BITS} required")
                ok = False
            if declared_size is not None:
                if not _is_int(declared_size):
                    self.add(f"{path}.key_size", f"must be an integer, got {_kind(declared_size)}")
                    ok = False
                elif declared_size < MIN_RSA_BITS:
                    self.add(f"{path}.key_size", f"{declared_size} is under the {MIN_RSA_BITS}-bit minimum")
                    ok = False
                elif declared_size != bits:
                    self.add(f"{path}.key_size", f"declared {declared_size} bits, the key has {bits}")
                    ok = False
            return ok
        assert isinstance(key, (keyops.ECKey, keyops.OKPKey))
        curve = keyops.curve_of(key)
        if declared_size is not None:
            self.add(f"{path}.key_size", "only for RSA keys")
            ok = False
        if declared_curve is not None:
            allowed = jwa.curves(key.key_type)
            if declared_curve not in allowed:
                got = f"'{declared_curve}'" if isinstance(declared_curve, str) else _kind(declared_curve)
                self.add(f"{path}.curve", f"must be one of {jwa.listed(allowed)}, got {got}")
                ok = False
            elif declared_curve != curve:
                self.add(f"{path}.curve", f"declared {declared_curve}, the key is on {curve}")
                ok = False
        if isinstance(key, keyops.ECKey) and curve not in jwa.curves("EC"):
            self.add(f"{path}.{source}", f"curve {curve} is not supported ({jwa.listed(jwa.curves('EC'))})")
            ok = False
        if needed_curve is not None and needed_curve != curve:
            self.add(f"{path}.{source}", f"{alg} needs a {needed_curve} key, the key is on {curve}")
            ok = False
        return ok

    def encryption(self, raw: object) -> Encryption | None:
        path = "encryption"
        d = self.obj(raw, path, _ENC_COMMON + _ENC_SYMMETRIC + _ENC_ASYMMETRIC)
        if d is None:
            return None
        kid = self.string(d, f"{path}.", "kid", required=False)
        enc = d.get("enc") if d.get("enc") is not None else DEFAULT_ENC
        if not isinstance(enc, str) or enc not in jwa.CONTENT_ENCRYPTION_BY_NAME:
            got = f"'{enc}'" if isinstance(enc, str) else _kind(enc)
            self.add(f"{path}.enc", f"must be one of {jwa.listed(jwa.content_encs())}, got {got}")
            enc = None
        alg = d.get("alg")
        if not isinstance(alg, str):
            self.add(f"{path}.alg", "required")
            alg = None
        enc_type = d.get("type")
        if enc_type == "symmetric":
            return self.symmetric_encryption(d, alg, enc, kid)
        if enc_type == "asymmetric":
            return self.asymmetric_encryption(d, alg, enc, kid)
        self.add(f"{path}.type", "must be 'symmetric' or 'asymmetric'")
        return None

    def symmetric_encryption(
        self, d: dict[str, Any], alg: str | None, enc: str | None, kid: str | None
    ) -> Encryption | None:
        path = "encryption"
        self.unused(d, path, _ENC_ASYMMETRIC, "symmetric encryption")
        if alg is not None and alg not in jwa.key_management_algs("oct"):
            algs = jwa.listed(jwa.key_management_algs("oct"))
            self.add(f"{path}.alg", f"'{alg}' is not a symmetric key management algorithm ({algs})")
            alg = None
        found = self.oct_key(d, path)
        if found is None or alg is None or enc is None:
            return None
        key, source = found
        size = len(key.raw_value)
        wrap_bytes = jwa.KEY_MANAGEMENT_BY_NAME[alg].key_bytes
        need = wrap_bytes if wrap_bytes is not None else jwa.CONTENT_ENCRYPTION_BY_NAME[enc].key_bytes
        if size != need:
            what = f"dir with {enc}" if alg == "dir" else alg
            self.add(f"{path}.{source}", f"{what} needs a key of exactly {need} bytes, got {size}")
            return None
        if not self.jwk_fits(key, f"{path}.{source}", alg, "enc"):
            return None
        return Encryption(type="symmetric", alg=alg, enc=enc, key_type="oct", key=key, kid=kid)

    def asymmetric_encryption(
        self, d: dict[str, Any], alg: str | None, enc: str | None, kid: str | None
    ) -> Encryption | None:
        path = "encryption"
        self.unused(d, path, _ENC_SYMMETRIC, "asymmetric encryption")
        key_type = self.key_type(d, path, jwa.asymmetric_key_types(jwa.KEY_MANAGEMENT))
        if alg is not None and key_type is not None and alg not in jwa.key_management_algs(key_type):
            algs = jwa.listed(jwa.key_management_algs(key_type))
            self.add(f"{path}.alg", f"'{alg}' is not an {key_type} key management algorithm ({algs})")
            alg = None
        given = [name for name in ("public_key", "public_jwk") if d.get(name) is not None]
        if not given:
            self.add(f"{path}.public_key", "required for asymmetric encryption (or public_jwk)")
            return None
        loaded: list[Key] = []
        for name in given:
            try:
                if name == "public_jwk":
                    loaded.append(keyops.load_public(keyops.parse_jwk(d[name])))
                else:
                    loaded.append(keyops.load_public(d[name]))
            except keyops.KeyProblem as exc:
                self.add(f"{path}.{name}", str(exc))
        if len(loaded) != len(given):
            return None
        if len(loaded) == 2 and not keyops.same_public_key(loaded[0], loaded[1]):
            self.add(f"{path}.public_jwk", "is not the same key as encryption.public_key")
            return None
        key, source = loaded[0], given[0]
        if key_type is None:
            return None
        if key.key_type != key_type:
            self.add(f"{path}.{source}", f"is an {key.key_type} key, key_type is {key_type}")
            return None
        if not self.check_key_shape(d, path, source, key, alg, None):
            return None
        if alg is None or enc is None or not self.jwk_fits(key, f"{path}.{source}", alg, "enc"):
            return None
        return Encryption(
            type="asymmetric",
            alg=alg,
            enc=enc,
            key_type=key_type,
            key=key,
            kid=kid,
            key_size=d.get("key_size"),
            curve=d.get("curve"),
        )

    def store(self, raw: object, asymmetric_signature: bool) -> Store | None:
        if raw is None:
            return None
        path = "store"
        d = self.obj(raw, path, _STORE_FIELDS)
        if d is None:
            return None
        variable = self.string(d, "store.", "variable", required=True)
        frontend = self.flag(d, "store.", "frontend", False)
        attributes = d.get("attributes")
        if not isinstance(attributes, list) or not attributes:
            self.add(f"{path}.attributes", "must be a non-empty array of attribute names")
            return None
        seen: list[str] = []
        for i, name in enumerate(attributes):
            if name not in EXPOSED_ATTRIBUTES:
                got = f"'{name}'" if isinstance(name, str) else _kind(name)
                names = ", ".join(EXPOSED_ATTRIBUTES)
                self.add(f"{path}.attributes[{i}]", f"{got} is not an exposed attribute ({names})")
            elif name in seen:
                self.add(f"{path}.attributes[{i}]", f"'{name}' is listed twice")
            else:
                seen.append(name)
        if "public_jwk" in seen and not asymmetric_signature:
            self.add(f"{path}.attributes", "'public_jwk' needs an asymmetric signature key")
        if variable is None or len(seen) != len(attributes):
            return None
        return Store(variable=variable, attributes=tuple(seen), frontend=frontend)
