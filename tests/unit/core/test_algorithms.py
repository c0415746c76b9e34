"""worker.core.algorithms: the one table of algorithms agrees with what the JOSE library does."""

from __future__ import annotations

import pytest
from joserfc import jws
from joserfc.jwk import import_key

from worker.core import algorithms as jwa
from worker.core.keygen import generate_keypair


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")  # the alias is accepted on purpose
@pytest.mark.parametrize("alg", jwa.SIGNING, ids=lambda alg: alg.name)
def test_deterministic_means_the_same_signature_twice(alg: jwa.SigningAlg) -> None:
    # The replay compares tokens of deterministic algorithms byte for byte: the flag must be true.
    private, _ = generate_keypair(alg.key_type, None, alg.curve, alg.name, "k")
    key = import_key(private)
    header = {"alg": alg.name}
    tokens = {jws.serialize_compact(header, b"{}", key, algorithms=[alg.name]) for _ in range(2)}
    assert (len(tokens) == 1) is alg.deterministic


def test_every_signing_algorithm_names_its_key_type_and_curve_consistently() -> None:
    for alg in jwa.SIGNING:
        assert alg.key_type in jwa.KEY_TYPES
        assert (alg.curve is not None) == (alg.key_type in ("EC", "OKP"))
        assert (alg.min_key_bytes is not None) == (alg.key_type == "oct")
