"""Tenants' own HTTP tools: register, list, read, redefine, remove. The URL passes the same address
policy as webhooks (no internal hosts unless the operator allows them); the signing secret is stored
encrypted and never shown again after registration."""

from __future__ import annotations

from typing import Any

import attrs

from application.auth import Principal
from application.errors import NotFound
from application.ports.security import SecretCipher
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webhooks import WebhookUrlPolicy
from application.tools.views import RegisteredTenantTool, TenantToolView
from domain.common.errors import InvariantViolation
from domain.common.ids import TenantId, new_id
from domain.tenants.api_key import Scope
from domain.tools.tenant_tool import TenantTool, ToolId, check_definition
from domain.webhooks.signature import new_signing_secret

MAX_TOOLS_PER_TENANT = 32
MIN_SECRET_LENGTH = 16


@attrs.frozen
class RegisterTenantToolInput:
    actor: Principal
    tenant_id: TenantId
    name: str
    description: str
    parameters: dict[str, Any]
    url: str
    secret: str | None = None
    timeout_seconds: float = 10.0
    active: bool = True


class RegisterTenantTool:
    def __init__(self, uow_factory: UnitOfWorkFactory, cipher: SecretCipher, url_policy: WebhookUrlPolicy) -> None:
        self._uow_factory = uow_factory
        self._cipher = cipher
        self._url_policy = url_policy

    async def execute(self, data: RegisterTenantToolInput) -> RegisteredTenantTool:
        data.actor.require(Scope.WRITE, data.tenant_id)
        check_definition(data.name, data.description, data.parameters, data.url, data.timeout_seconds)
        secret = _checked_secret(data.secret) if data.secret is not None else new_signing_secret()
        await self._url_policy.check(data.url)
        tool_id = ToolId(new_id())
        tool = TenantTool(
            id=tool_id,
            tenant_id=data.tenant_id,
            name=data.name,
            description=data.description,
            parameters=data.parameters,
            url=data.url,
            secret_encrypted=self._cipher.encrypt(secret.encode(), context=tool_id.bytes),
            timeout_seconds=data.timeout_seconds,
            active=data.active,
        )
        async with self._uow_factory(data.tenant_id) as uow:
            if await uow.tenants.get(data.tenant_id) is None:
                raise NotFound("tenant not found")
            if len(await uow.tenant_tools.list(data.tenant_id)) >= MAX_TOOLS_PER_TENANT:
                raise InvariantViolation(f"a tenant has at most {MAX_TOOLS_PER_TENANT} tools")
            await uow.tenant_tools.add(tool)
            await uow.commit()
        return RegisteredTenantTool(tool=TenantToolView.of(tool), secret=secret)


@attrs.frozen
class ListTenantToolsInput:
    actor: Principal
    tenant_id: TenantId


class ListTenantTools:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: ListTenantToolsInput) -> list[TenantToolView]:
        data.actor.require(Scope.READ, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            if await uow.tenants.get(data.tenant_id) is None:
                raise NotFound("tenant not found")
            tools = await uow.tenant_tools.list(data.tenant_id)
        return [TenantToolView.of(tool) for tool in tools]


@attrs.frozen
class TenantToolRef:
    actor: Principal
    tenant_id: TenantId
    tool_id: ToolId


class GetTenantTool:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: TenantToolRef) -> TenantToolView:
        data.actor.require(Scope.READ, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            tool = await uow.tenant_tools.get(data.tenant_id, data.tool_id)
        if tool is None:
            raise NotFound("tool not found")
        return TenantToolView.of(tool)


@attrs.frozen
class ReplaceTenantToolInput:
    actor: Principal
    tenant_id: TenantId
    tool_id: ToolId
    description: str
    parameters: dict[str, Any]
    url: str
    timeout_seconds: float = 10.0
    active: bool = True
    # None keeps the stored secret.
    secret: str | None = None


class ReplaceTenantTool:
    def __init__(self, uow_factory: UnitOfWorkFactory, cipher: SecretCipher, url_policy: WebhookUrlPolicy) -> None:
        self._uow_factory = uow_factory
        self._cipher = cipher
        self._url_policy = url_policy

    async def execute(self, data: ReplaceTenantToolInput) -> TenantToolView:
        data.actor.require(Scope.WRITE, data.tenant_id)
        secret = None if data.secret is None else _checked_secret(data.secret)
        await self._url_policy.check(data.url)
        async with self._uow_factory(data.tenant_id) as uow:
            tool = await uow.tenant_tools.get(data.tenant_id, data.tool_id)
            if tool is None:
                raise NotFound("tool not found")
            tool.redefine(
                description=data.description,
                parameters=data.parameters,
                url=data.url,
                timeout_seconds=data.timeout_seconds,
                active=data.active,
            )
            if secret is not None:
                tool.replace_secret(self._cipher.encrypt(secret.encode(), context=tool.id.bytes))
            await uow.tenant_tools.update(tool)
            await uow.commit()
        return TenantToolView.of(tool)


class DeleteTenantTool:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, data: TenantToolRef) -> None:
        data.actor.require(Scope.WRITE, data.tenant_id)
        async with self._uow_factory(data.tenant_id) as uow:
            if not await uow.tenant_tools.delete(data.tenant_id, data.tool_id):
                raise NotFound("tool not found")
            await uow.commit()


def _checked_secret(secret: str) -> str:
    if not MIN_SECRET_LENGTH <= len(secret) <= 256:
        raise InvariantViolation(f"a tool secret is {MIN_SECRET_LENGTH} to 256 characters", details={"field": "secret"})
    return secret
