"""`signature.headers`: extra protected header members of the JWS, checked once.

`typ` overrides "JWT", `cty` / `x5c` / `x5t` / `x5t#S256` and any other member
are written as given. Members that decide how a verifier processes the token
(which key, which algorithm, what is critical) are set by the node itself or
never: they cannot be set here. `x5c` must start with a certificate of the
signing key; `x5t` / `x5t#S256` must be the thumbprints of that certificate.
"""

from __future__ import annotations

import itertools
from typing import Any

from joserfc.jwk import Key

from worker.core import certs
from worker.core import keys as keyops
from worker.core.config.fields import Problems, got, kind

_PATH = "signature.headers"

# Member -> why it cannot be set here.
RESERVED: dict[str, str] = {
    "alg": "it is signature.alg",
    "kid": "it is signature.kid",
    "crit": "the node emits no extension a verifier must understand",
    "enc": "it belongs to encryption",
    "zip": "it belongs to encryption (and compression before encryption leaks content)",
    "jku": "a verifier must not be told where to fetch the key from the token itself",
    "jwk": "a verifier must not take the key from the token itself",
    "x5u": "a verifier must not be told where to fetch the certificate from the token itself",
    "b64": "it changes what is signed (RFC 7797)",
}
_TEXT = ("typ", "cty", "x5t", "x5t#S256")


def parse_headers(problems: Problems, raw: object, signing_key: Key | None, asymmetric: bool) -> dict[str, Any]:
    """The checked members (in config order), or {} once a problem is recorded.

    `signing_key` is None when the key itself could not be read (its problem is recorded).
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add(_PATH, f"must be a JSON object of header members, got {kind(raw)}")
        return {}
    before = len(problems.items)
    for name, value in raw.items():
        path = f"{_PATH}.{name}"
        if not name:
            problems.add(_PATH, "a member name is empty")
        elif name in RESERVED:
            problems.add(path, f"cannot be set here: {RESERVED[name]}")
        elif value is None:
            problems.add(path, "must not be null (leave the member out instead)")
        elif name in _TEXT and (not isinstance(value, str) or not value):
            problems.add(path, f"must be a non-empty string, got {got(value)}")
    if len(problems.items) == before:
        _certificates(problems, raw, signing_key, asymmetric)
    return dict(raw) if len(problems.items) == before else {}


def _certificates(problems: Problems, d: dict[str, Any], signing_key: Key | None, asymmetric: bool) -> None:
    """x5c starts with the signing key's certificate, each next one issued it; x5t / x5t#S256 are its thumbprints."""
    chain = d.get("x5c")
    thumbprints = [name for name in ("x5t", "x5t#S256") if name in d]
    if chain is None:
        for name in thumbprints:
            problems.add(f"{_PATH}.{name}", "needs signature.headers.x5c (the certificate it is the thumbprint of)")
        return
    if not asymmetric:
        problems.add(f"{_PATH}.x5c", "needs an asymmetric signature (a certificate holds a public key)")
        return
    if not isinstance(chain, list) or not chain:
        problems.add(f"{_PATH}.x5c", f"must be a non-empty array of base64 DER certificates, got {got(chain)}")
        return
    loaded: list[certs.Certificate] = []
    for i, entry in enumerate(chain):
        try:
            loaded.append(certs.from_der_b64(entry))
        except keyops.KeyProblem as exc:
            problems.add(f"{_PATH}.x5c[{i}]", str(exc))
    if len(loaded) != len(chain):
        return
    leaf = loaded[0]
    if signing_key is not None and not keyops.same_public_key(leaf.public_key, signing_key):
        problems.add(f"{_PATH}.x5c[0]", "is not a certificate of the signing key (signature.private_key)")
    for i, (issued, issuer) in enumerate(itertools.pairwise(loaded)):
        try:
            issued.native.verify_directly_issued_by(issuer.native)
        except (ValueError, TypeError, Exception):  # cryptography: InvalidSignature, unsupported key types
            problems.add(f"{_PATH}.x5c[{i + 1}]", f"did not issue x5c[{i}] (the chain goes leaf first)")
    expected = {"x5t": certs.x5t(leaf), "x5t#S256": certs.x5t_s256(leaf)}
    for name in thumbprints:
        if d[name] != expected[name]:
            problems.add(f"{_PATH}.{name}", "is not the thumbprint of the x5c[0] certificate")
