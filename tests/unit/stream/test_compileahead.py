"""worker/stream/compileahead.py: configs holding an RSA private key compiled in a thread as they arrive."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.configs import asymmetric_signature, base_config
from tests.support.keys import KeyForms
from worker.core.configtable import ConfigTable
from worker.stream.compileahead import CompileAhead


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_rsa_configs_are_compiled_ahead_and_symmetric_ones_left_for_their_first_request() -> None:
    table = ConfigTable()
    pem = KeyForms(rsa.generate_private_key(65537, 2048)).pkcs8
    signature = asymmetric_signature(pem, "RS256", "RSA", kid="k")
    ahead = CompileAhead(table)
    ahead.start()
    try:
        for index in range(3):
            config_id = f"rsa-{index}"
            table.apply(config_id.encode(), orjson.dumps(base_config(id=config_id, version=1, signature=signature)))
            ahead.offer(config_id)
        table.apply(b"hs", orjson.dumps(base_config(id="hs", version=1)))
        ahead.offer("hs")
        assert wait_until(lambda: not any(table.worth_compiling_ahead(f"rsa-{i}") for i in range(3)))
        assert wait_until(lambda: ahead.pending() == 0)
        assert table.compilations == 3  # the three RSA configs; one key check between them
        compiled = [table.resolve(f"rsa-{i}", None) for i in range(3)]
        assert table.compilations == 3
        assert len({id(c.signer.key) for c in compiled if c.signer is not None}) == 1
        table.resolve("hs", None)  # compiled at its first request
        assert table.compilations == 4
    finally:
        ahead.stop()
    assert ahead._thread is not None and not ahead._thread.is_alive()
