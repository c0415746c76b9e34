"""Grant ACLs on the local secured broker, the way `kafka-acls.sh --add` does.

aiokafka 0.14 has no CreateAcls, so the request (v1, Kafka 2.0+; v0 is gone
from Kafka 4) is spelled out here. The options follow kafka-acls's names
(`--allow-principal`, `--operation`, `--topic`, `--group`, `--cluster`,
`--resource-pattern-type`), so an ACL list written for kafka-acls applies
here unchanged.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Int8, Int16, Int32, Schema, String

# Kafka's org.apache.kafka.common.resource.ResourceType / PatternType and acl.AclOperation codes.
RESOURCE_TYPES = {"topic": 2, "group": 3, "cluster": 4, "transactional-id": 5}
PATTERN_TYPES = {"literal": 3, "prefixed": 4}
OPERATIONS = {
    "all": 2,
    "read": 3,
    "write": 4,
    "create": 5,
    "delete": 6,
    "alter": 7,
    "describe": 8,
    "clusteraction": 9,
    "describeconfigs": 10,
    "alterconfigs": 11,
    "idempotentwrite": 12,
}
# Which operations each resource type takes (kafka-acls refuses the others).
VALID = {
    "topic": {"read", "write", "create", "describe", "delete", "alter", "describeconfigs", "alterconfigs", "all"},
    "group": {"read", "describe", "delete", "all"},
    "cluster": {
        "create", "clusteraction", "describeconfigs", "alterconfigs", "idempotentwrite", "alter", "describe", "all",
    },
    "transactional-id": {"describe", "write", "all"},
}  # fmt: skip
# How kafka-acls spells them, for messages.
NAMES = {
    "all": "All", "read": "Read", "write": "Write", "create": "Create", "delete": "Delete", "alter": "Alter",
    "describe": "Describe", "clusteraction": "ClusterAction", "describeconfigs": "DescribeConfigs",
    "alterconfigs": "AlterConfigs", "idempotentwrite": "IdempotentWrite",
}  # fmt: skip
CLUSTER_NAME = "kafka-cluster"
ALLOW = 3


class AclError(ValueError):
    pass


@dataclass(frozen=True)
class AclBinding:
    principal: str  # User:name
    operation: str  # a key of OPERATIONS
    resource_type: str  # a key of RESOURCE_TYPES
    resource_name: str
    pattern_type: str = "literal"
    host: str = "*"

    def __str__(self) -> str:
        pattern = " (prefix)" if self.pattern_type == "prefixed" else ""
        return f"{self.principal} {NAMES[self.operation]} on {self.resource_type} {self.resource_name}{pattern}"


def operation_key(name: str) -> str:
    """kafka-acls spells operations Read, DescribeConfigs, IdempotentWrite ...; any case works."""
    key = name.replace("_", "").replace("-", "").lower()
    if key not in OPERATIONS:
        raise AclError(f"unknown operation {name!r}")
    return key


def bindings(
    principal: str,
    operations: Iterable[str],
    topics: Iterable[str] = (),
    groups: Iterable[str] = (),
    cluster: bool = False,
    transactional_ids: Iterable[str] = (),
    pattern_type: str = "literal",
    host: str = "*",
) -> list[AclBinding]:
    """Every (operation, resource) pair, as one `kafka-acls --add` command makes them."""
    if not principal.startswith("User:"):
        raise AclError(f"principal {principal!r}: expected User:NAME")
    if pattern_type not in PATTERN_TYPES:
        raise AclError(f"resource pattern type {pattern_type!r}: expected literal or prefixed")
    resources = [("topic", t) for t in topics] + [("group", g) for g in groups]
    resources += [("transactional-id", t) for t in transactional_ids]
    if cluster:
        resources.append(("cluster", CLUSTER_NAME))
    keys = [operation_key(op) for op in operations]
    if not resources or not keys:
        raise AclError("give at least one operation and one resource (--topic, --group, --cluster ...)")
    found = []
    for (kind, name), op in itertools.product(resources, keys):
        if op not in VALID[kind]:
            valid = ", ".join(NAMES[key] for key in sorted(VALID[kind]))
            raise AclError(f"operation {NAMES[op]} does not apply to a {kind} (valid: {valid})")
        found.append(AclBinding(principal, op, kind, name, "literal" if kind == "cluster" else pattern_type, host))
    return found


class _CreateAclsResponseV1(Response):
    API_KEY = 30
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", Array(("error_code", Int16), ("error_message", String("utf-8")))),
    )


class _CreateAclsRequestV1(RequestStruct):
    API_KEY = 30
    API_VERSION = 1
    RESPONSE_TYPE = _CreateAclsResponseV1
    SCHEMA = Schema(
        (
            "creations",
            Array(
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
                ("resource_pattern_type", Int8),
                ("principal", String("utf-8")),
                ("host", String("utf-8")),
                ("operation", Int8),
                ("permission_type", Int8),
            ),
        ),
    )


class CreateAclsRequest(Request[_CreateAclsRequestV1]):
    API_KEY = 30

    def __init__(self, acls: list[AclBinding]) -> None:
        self._acls = acls

    def build(self, request_struct_class: type[_CreateAclsRequestV1]) -> _CreateAclsRequestV1:
        return request_struct_class(
            [
                (
                    RESOURCE_TYPES[acl.resource_type],
                    acl.resource_name,
                    PATTERN_TYPES[acl.pattern_type],
                    acl.principal,
                    acl.host,
                    OPERATIONS[acl.operation],
                    ALLOW,
                )
                for acl in self._acls
            ]
        )


async def create_acls(client_options: dict[str, Any], acls: list[AclBinding]) -> None:
    """Create the ACLs (as a principal allowed to, the admin); the first refusal is an AclError."""
    client = AIOKafkaClient(**client_options)
    await client.bootstrap()
    try:
        response = await client.send(client.get_random_node(), CreateAclsRequest(acls))
    finally:
        await client.close()
    for acl, (code, message) in zip(acls, response.results, strict=True):
        if code:
            refused = f"{for_code(code).__name__} {message or ''}".strip()
            raise AclError(f"{acl}: {refused}")
