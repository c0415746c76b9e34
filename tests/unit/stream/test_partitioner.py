"""worker/stream/partitioner.py: the Java client's murmur2 partitioner, key by key and for a batch in lanes."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from worker.stream.partitioner import murmur2, murmur2_many, partitions_for


@given(st.binary(max_size=200))
def test_murmur2_is_the_java_clients_as_aiokafka_computes_it(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@pytest.mark.parametrize("count", [1, 3, 8, 12])
def test_answers_land_where_the_java_default_partitioner_puts_their_key(count: int) -> None:
    partitions = list(range(count))
    keys = [f"exec-{i}".encode() for i in range(300)] + [b"", "é-ü".encode()]
    java = DefaultPartitioner()
    assert partitions_for(keys, [partitions] * len(keys)) == [java(k, partitions, partitions) for k in keys]


# Kafka's own test vectors (clients' UtilsTest.testMurmur2), as Java's signed ints.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("key", list(JAVA_MURMUR2))
def test_murmur2_gives_the_java_clients_values(key: bytes) -> None:
    assert murmur2(key) - (1 << 32 if murmur2(key) >= 1 << 31 else 0) == JAVA_MURMUR2[key]


@given(st.lists(st.binary(max_size=45), max_size=60))
def test_a_batch_hashes_as_each_key_alone(keys: list[bytes]) -> None:
    assert murmur2_many(keys) == [aiokafka_murmur2(key) for key in keys]


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 7, 8, 36, 37, 38, 39, 64])
@pytest.mark.parametrize("count", [4, 5, 35, 300])
def test_keys_of_one_length_hashed_in_lanes_give_the_java_values(length: int, count: int) -> None:
    # From four keys of a length on, they share one integer (the lanes); every tail length and lane count.
    keys = [bytes((i * 31 + j * 7 + 1) % 256 for j in range(length)) for i in range(count)]
    assert murmur2_many(keys) == [aiokafka_murmur2(key) for key in keys]


def test_lanes_give_kafkas_own_test_values() -> None:
    keys = [key for key in JAVA_MURMUR2 for _ in range(4)]  # four of each length: hashed in lanes
    assert murmur2_many(keys) == [JAVA_MURMUR2[key] % (1 << 32) for key in keys]


def test_a_batch_goes_where_the_java_partitioner_puts_each_key() -> None:
    java = DefaultPartitioner()
    keys: list[bytes | None] = [f"exec-{i:04d}".encode() for i in range(50)] + [b"", "é-ü".encode(), None]
    counts = [list(range(8)), list(range(3)), list(range(1))]
    partitions = [counts[i % 3] for i in range(len(keys))]
    chosen = partitions_for(keys, partitions)
    for key, parts, partition in zip(keys, partitions, chosen, strict=True):
        if key is None:
            assert partition in parts  # no key: any partition, as the Java client
        else:
            assert partition == java(key, parts, parts)
