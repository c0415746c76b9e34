"""What a compiled config keeps: a worker holds thousands of them for its whole life.

Measured with tracemalloc, which counts Python objects only (not OpenSSL's own
memory for an RSA key). Before these bounds were set, an HS256 config of the
contract's shape held 4.7 KiB once used (this table's count), and an RS256 one read
from PEM 8 KiB.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.configs import IAT, asymmetric_signature, base_config, hs256
from tests.support.keys import KeyForms
from worker.core import engine
from worker.core.configtable import ConfigTable

STORE = {"user": {"id": "u-1", "email": "u1@example.com", "roles": ["a", "b"]}}


def held_per_config(records: list[tuple[bytes, bytes]]) -> float:
    """Bytes of Python objects a table keeps per config, once every config has answered a request.

    The first record is used outside the count and kept: what every config of that shape shares
    (templates, the algorithm's registry) is the first one's cost, not each config's.
    """
    (first_key, first_value), *records = records
    first = ConfigTable()
    first.apply(first_key, first_value)
    engine.generate(first.resolve(first_key.decode(), None), store=STORE, iat=IAT, execution_id="e-1")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        table = ConfigTable()
        for key, value in records:
            table.apply(key, value)
        for key, _ in records:
            compiled = table.resolve(key.decode(), None)
            engine.generate(compiled, store=STORE, iat=IAT, execution_id="e-1")
        del compiled
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(table) == len(records)
    return held / len(records)


def test_a_used_hs256_config_holds_under_two_and_a_half_kib() -> None:
    records = [
        (f"hs-{i}".encode(), orjson.dumps(base_config(id=f"hs-{i}", signature=hs256(f"secret-{i:04}-" + "s" * 40))))
        for i in range(300)
    ]
    assert held_per_config(records) < 2560


@pytest.mark.parametrize("form", ["pkcs8", "pkcs1"])
def test_a_used_rs256_config_read_from_pem_holds_under_three_kib(form: str) -> None:
    # Each its own key: a key's memory is counted once per config, as when no two configs share one.
    pems = [KeyForms(rsa.generate_private_key(65537, 2048)).private_form(form) for _ in range(12)]
    records = [
        (
            f"rsa-{i}".encode(),
            orjson.dumps(base_config(id=f"rsa-{i}", signature=asymmetric_signature(pem, "RS256", "RSA", kid="k"))),
        )
        for i, pem in enumerate(pems)
    ]
    assert held_per_config(records) < 3072


def test_configs_spelled_alike_share_their_templates_until_the_last_one_goes() -> None:
    a = engine.compile_config(orjson.dumps(base_config(id="a")))
    b = engine.compile_config(orjson.dumps(base_config(id="b")))
    assert a.config.claims.subject_template is b.config.claims.subject_template
    email_a, email_b = a.config.claims.custom[0], b.config.claims.custom[0]
    assert email_a.key == "email" and email_a.template is email_b.template
    subject = weakref.ref(a.config.claims.subject_template)
    email = weakref.ref(email_a.template)
    del a, b, email_a, email_b
    gc.collect()
    assert subject() is None and email() is None


def test_a_shared_template_renders_each_request_from_its_own_store() -> None:
    a = engine.compile_config(orjson.dumps(base_config(id="a")))
    b = engine.compile_config(orjson.dumps(base_config(id="b")))
    first = engine.generate(a, store=STORE, iat=IAT, execution_id="e-1")
    second = engine.generate(b, store={"user": {"id": "u-2", "email": "x@y", "roles": []}}, iat=IAT, execution_id="e")
    assert (first.claims["sub"], first.claims["email"]) == ("u-1", "u1@example.com")
    assert (second.claims["sub"], second.claims["email"], second.claims["roles"]) == ("u-2", "x@y", [])
