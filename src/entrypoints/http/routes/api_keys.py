from __future__ import annotations

import uuid

from dishka import FromDishka
from litestar import Controller, delete, get, post
from litestar.params import FromPath, JSONBody

from application.api_keys.issue_api_key import IssueApiKey, IssueApiKeyInput
from application.api_keys.manage_api_keys import (
    ApiKeyRef,
    ListApiKeys,
    ListApiKeysInput,
    RevokeApiKey,
    RotateApiKey,
    RotateApiKeyInput,
)
from domain.common.ids import ApiKeyId, TenantId
from domain.tenants.api_key import Scope
from entrypoints.http.schemas.api_keys import (
    ApiKeyResponse,
    CreateApiKeyBody,
    IssuedApiKeyResponse,
    RotateApiKeyBody,
)
from entrypoints.http.security import Actor


class ApiKeyController(Controller):
    path = "/api/tenants/{tenant_id:uuid}/api-keys"
    tags = ["api keys"]

    @post("/", summary="Issue an API key for the tenant (the plaintext is returned once)")
    async def create(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        data: JSONBody[CreateApiKeyBody],
        use_case: FromDishka[IssueApiKey],
    ) -> IssuedApiKeyResponse:
        issued = await use_case.execute(
            IssueApiKeyInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                name=data.name,
                scopes=frozenset(Scope(scope) for scope in data.scopes),
                expires_at=data.expires_at,
                require_signature=data.require_signature,
            )
        )
        return IssuedApiKeyResponse.of(issued)

    @get("/", summary="List the tenant's API keys (prefix, scopes, expiry, last use)")
    async def list_keys(
        self, actor: Actor, tenant_id: FromPath[uuid.UUID], use_case: FromDishka[ListApiKeys]
    ) -> list[ApiKeyResponse]:
        views = await use_case.execute(ListApiKeysInput(actor=actor, tenant_id=TenantId(tenant_id)))
        return [ApiKeyResponse.of(view) for view in views]

    @delete("/{key_id:uuid}", summary="Revoke an API key", status_code=204)
    async def revoke(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        key_id: FromPath[uuid.UUID],
        use_case: FromDishka[RevokeApiKey],
    ) -> None:
        await use_case.execute(ApiKeyRef(actor=actor, tenant_id=TenantId(tenant_id), key_id=ApiKeyId(key_id)))

    @post("/{key_id:uuid}/rotate", summary="Issue a replacement; the old key keeps working for the overlap")
    async def rotate(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        key_id: FromPath[uuid.UUID],
        data: JSONBody[RotateApiKeyBody],
        use_case: FromDishka[RotateApiKey],
    ) -> IssuedApiKeyResponse:
        issued = await use_case.execute(
            RotateApiKeyInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                key_id=ApiKeyId(key_id),
                overlap_seconds=data.overlap_seconds,
            )
        )
        return IssuedApiKeyResponse.of(issued)
