"""The local broker's JVM options: ours by default, Kafka's own variables when set."""

from __future__ import annotations

from worker.devtools.broker import jvm_options


def test_defaults_compile_with_c1_only_and_collect_serially_in_a_bounded_heap() -> None:
    options = jvm_options({})
    assert options[:3] == ["-Xms1g", "-Xmx1g", "-Xmn256m"]  # the whole heap from the start, a large young part
    assert "-XX:TieredStopAtLevel=1" in options
    assert "-XX:+UseSerialGC" in options
    assert "-XX:MaxTenuringThreshold=1" in options  # what survives one young collection is not copied again


def test_kafka_variables_replace_each_group_on_its_own() -> None:
    heap_only = jvm_options({"KAFKA_HEAP_OPTS": "-Xmx2g"})
    assert "-Xmx2g" in heap_only and "-Xmx1g" not in heap_only and "-Xmn256m" not in heap_only
    assert "-XX:TieredStopAtLevel=1" in heap_only  # performance options untouched

    tiered = jvm_options({"KAFKA_JVM_PERFORMANCE_OPTS": "-XX:+UseG1GC -XX:MaxGCPauseMillis=20"})
    assert "-XX:TieredStopAtLevel=1" not in tiered and "-XX:+UseSerialGC" not in tiered  # as Kafka's scripts run it
    assert tiered[:3] == ["-Xms1g", "-Xmx1g", "-Xmn256m"] and "-XX:MaxGCPauseMillis=20" in tiered
    assert "-XX:MaxTenuringThreshold=1" not in tiered


def test_values_are_split_like_a_shell_and_empty_means_unset() -> None:
    quoted = "-XX:+UseG1GC '-Dkafka.note=two words'"
    options = jvm_options({"KAFKA_JVM_PERFORMANCE_OPTS": quoted, "KAFKA_HEAP_OPTS": ""})
    assert "-Dkafka.note=two words" in options
    assert options[:3] == ["-Xms1g", "-Xmx1g", "-Xmn256m"]
