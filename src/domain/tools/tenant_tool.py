"""A tenant's own tool: an HTTP endpoint the assistant may call during a turn (look up an order, book a
slot …). The model sees its name, description and JSON-schema parameters; the worker POSTs the arguments,
signed with the tool's secret, and gives the model whatever the endpoint answers."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any, NewType
from urllib.parse import urlsplit

import attrs

from domain.common.errors import InvariantViolation
from domain.common.ids import TenantId
from domain.common.time import utc_now

ToolId = NewType("ToolId", uuid.UUID)

SEARCH_KNOWLEDGE_BASE = "search_knowledge_base"
HANDOFF_TO_HUMAN = "handoff_to_human"
BUILTIN_TOOL_NAMES = frozenset({SEARCH_KNOWLEDGE_BASE, HANDOFF_TO_HUMAN})

# OpenAI's rule for function names; other OpenAI-protocol servers accept the same.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_DESCRIPTION = 1024
MAX_SCHEMA_BYTES = 16 * 1024
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 0.5, 30.0


@attrs.define
class TenantTool:
    id: ToolId
    tenant_id: TenantId
    name: str
    description: str
    parameters: dict[str, Any]
    url: str
    # AES-GCM ciphertext of the signing secret (context: the tool id); plaintext exists only in memory.
    secret_encrypted: bytes
    timeout_seconds: float = 10.0
    active: bool = True
    created_at: datetime = attrs.field(factory=utc_now)
    updated_at: datetime = attrs.field(factory=utc_now)

    def __attrs_post_init__(self) -> None:
        check_definition(self.name, self.description, self.parameters, self.url, self.timeout_seconds)

    def redefine(
        self, *, description: str, parameters: dict[str, Any], url: str, timeout_seconds: float, active: bool
    ) -> None:
        check_definition(self.name, description, parameters, url, timeout_seconds)
        self.description = description
        self.parameters = parameters
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.active = active
        self.updated_at = utc_now()

    def replace_secret(self, secret_encrypted: bytes) -> None:
        self.secret_encrypted = secret_encrypted
        self.updated_at = utc_now()


def check_definition(name: str, description: str, parameters: dict[str, Any], url: str, timeout: float) -> None:
    if not _NAME.match(name):
        raise InvariantViolation("a tool name is 1 to 64 letters, digits, '_' or '-'", details={"field": "name"})
    if name in BUILTIN_TOOL_NAMES:
        raise InvariantViolation(f"'{name}' is a built-in tool", details={"field": "name"})
    if not description.strip() or len(description) > MAX_DESCRIPTION:
        raise InvariantViolation(
            f"a tool description is 1 to {MAX_DESCRIPTION} characters", details={"field": "description"}
        )
    check_parameters_schema(parameters)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvariantViolation("a tool URL is an absolute http(s) URL", details={"field": "url"})
    if parts.username or parts.password:
        raise InvariantViolation("a tool URL must not carry credentials", details={"field": "url"})
    if not MIN_TIMEOUT_SECONDS <= timeout <= MAX_TIMEOUT_SECONDS:
        raise InvariantViolation(
            f"timeout_seconds is between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS}",
            details={"field": "timeout_seconds"},
        )


def check_parameters_schema(parameters: dict[str, Any]) -> None:
    """The function-calling contract: a JSON-schema object (properties, required) of bounded size."""
    if parameters.get("type") != "object":
        raise InvariantViolation(
            'parameters must be a JSON schema with "type": "object"', details={"field": "parameters"}
        )
    properties = parameters.get("properties", {})
    if not isinstance(properties, dict) or not all(isinstance(value, dict) for value in properties.values()):
        raise InvariantViolation("parameters.properties maps names to schemas", details={"field": "parameters"})
    required = parameters.get("required", [])
    if not isinstance(required, list) or not all(isinstance(item, str) and item in properties for item in required):
        raise InvariantViolation(
            "parameters.required lists names of declared properties", details={"field": "parameters"}
        )
    if len(json.dumps(parameters)) > MAX_SCHEMA_BYTES:
        raise InvariantViolation(
            f"parameters schema is larger than {MAX_SCHEMA_BYTES} bytes", details={"field": "parameters"}
        )
