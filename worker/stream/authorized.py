"""Ask Kafka what the connected principal may do on topics and groups (KIP-430, Kafka 2.3+).

Metadata v8 and DescribeGroups v3 answer, per resource, the set of ACL
operations the caller is authorized for. aiokafka 0.14 speaks Metadata only
up to v5, and its DescribeGroups v3 reads the answer with the v2 layout
(dropping that set), so both requests are spelled out here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
    NotCoordinatorForGroupError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
    for_code,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Boolean, Bytes, Int16, Int32, Schema, String

# org.apache.kafka.common.acl.AclOperation codes: bit n of an authorized set is operation n.
OPERATION_CODES = {"Read": 3, "Write": 4, "Create": 5, "Delete": 6, "Alter": 7, "Describe": 8}
UNKNOWN = -(2**31)  # "not reported" (Kafka's Integer.MIN_VALUE)
_TRANSIENT = (GroupCoordinatorNotAvailableError, NotCoordinatorForGroupError, GroupLoadInProgressError)


@dataclass(frozen=True)
class Authorized:
    """The operations allowed on one resource; `None` when Kafka hides the resource entirely."""

    operations: frozenset[str] | None
    exists: bool = True

    def allows(self, operation: str) -> bool:
        return self.operations is not None and operation in self.operations


def _decode(bits: int) -> frozenset[str] | None:
    if bits == UNKNOWN:
        return None
    return frozenset(name for name, code in OPERATION_CODES.items() if bits & (1 << code))


async def topic_operations(client: AIOKafkaClient, topics: list[str]) -> dict[str, Authorized | None]:
    """Per topic: what we may do there (None: the broker did not report it, so cannot be checked)."""
    response = await client.send(client.get_random_node(), _AuthorizedMetadataRequest(topics))
    found: dict[str, Authorized | None] = {}
    for error_code, name, _internal, _partitions, bits in response.topics:
        error = for_code(error_code) if error_code else None
        if error is TopicAuthorizationFailedError:
            found[name] = Authorized(frozenset(), exists=False)  # not even Describe
        elif bits == UNKNOWN:
            found[name] = None
        else:
            found[name] = Authorized(_decode(bits), exists=error is not UnknownTopicOrPartitionError)
    return found


async def group_operations(client: AIOKafkaClient, group: str, attempts: int = 20) -> Authorized | None:
    """What we may do in a consumer group (None: not reported, e.g. the coordinator never came up)."""
    for _ in range(attempts):
        try:
            node = await client.coordinator_lookup(CoordinationType.GROUP, group)
            response = await client.send(node, _AuthorizedDescribeGroupsRequest([group]))
        except GroupAuthorizationFailedError:
            return Authorized(frozenset(), exists=False)
        except _TRANSIENT:
            # The first group lookup on a fresh cluster creates __consumer_offsets.
            await asyncio.sleep(0.5)
            continue
        error_code, _group, _state, _protocol_type, _protocol, _members, bits = response.groups[0]
        error = for_code(error_code) if error_code else None
        if error is GroupAuthorizationFailedError:
            return Authorized(frozenset(), exists=False)
        if error in _TRANSIENT:
            await asyncio.sleep(0.5)
            continue
        return None if bits == UNKNOWN else Authorized(_decode(bits))
    return None


class _MetadataResponseV8(Response):
    API_KEY = 3
    API_VERSION = 8
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("brokers", Array(("node_id", Int32), ("host", String("utf-8")), ("port", Int32), ("rack", String("utf-8")))),
        ("cluster_id", String("utf-8")),
        ("controller_id", Int32),
        (
            "topics",
            Array(
                ("error_code", Int16),
                ("name", String("utf-8")),
                ("is_internal", Boolean),
                (
                    "partitions",
                    Array(
                        ("error_code", Int16),
                        ("partition_index", Int32),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("replica_nodes", Array(Int32)),
                        ("isr_nodes", Array(Int32)),
                        ("offline_replicas", Array(Int32)),
                    ),
                ),
                ("topic_authorized_operations", Int32),
            ),
        ),
        ("cluster_authorized_operations", Int32),
    )


class _MetadataRequestV8(RequestStruct):
    API_KEY = 3
    API_VERSION = 8
    RESPONSE_TYPE = _MetadataResponseV8
    SCHEMA = Schema(
        ("topics", Array(String("utf-8"))),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
    )


class _AuthorizedMetadataRequest(Request[_MetadataRequestV8]):
    API_KEY = 3

    def __init__(self, topics: list[str]) -> None:
        self._topics = topics

    def build(self, request_struct_class: type[_MetadataRequestV8]) -> _MetadataRequestV8:
        # Never create a topic by asking about it.
        return request_struct_class(self._topics, False, False, True)


class _DescribeGroupsResponseV3(Response):
    API_KEY = 15
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "groups",
            Array(
                ("error_code", Int16),
                ("group", String("utf-8")),
                ("state", String("utf-8")),
                ("protocol_type", String("utf-8")),
                ("protocol", String("utf-8")),
                (
                    "members",
                    Array(
                        ("member_id", String("utf-8")),
                        ("client_id", String("utf-8")),
                        ("client_host", String("utf-8")),
                        ("member_metadata", Bytes),
                        ("member_assignment", Bytes),
                    ),
                ),
                ("authorized_operations", Int32),
            ),
        ),
    )


class _DescribeGroupsRequestV3(RequestStruct):
    API_KEY = 15
    API_VERSION = 3
    RESPONSE_TYPE = _DescribeGroupsResponseV3
    SCHEMA = Schema(("groups", Array(String("utf-8"))), ("include_authorized_operations", Boolean))


class _AuthorizedDescribeGroupsRequest(Request[_DescribeGroupsRequestV3]):
    API_KEY = 15

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(self, request_struct_class: type[_DescribeGroupsRequestV3]) -> _DescribeGroupsRequestV3:
        return request_struct_class(self._groups, True)
