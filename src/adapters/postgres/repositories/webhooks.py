"""Tenant webhooks: subscriptions (headers and secrets encrypted), deliveries and their attempt log."""

from __future__ import annotations

import base64
import builtins
import json
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.tables import webhook_deliveries, webhook_delivery_attempts, webhook_subscriptions
from application.errors import InvalidInput
from application.ports.repositories import Page
from application.ports.security import SecretCipher
from application.ports.webhooks import DeliveryRecord, DueDelivery
from domain.common.ids import EventId, TenantId, WebhookId
from domain.webhooks.delivery import (
    AttemptOutcome,
    DeliveryAttempt,
    DeliveryId,
    DeliveryStatus,
    WebhookDelivery,
)
from domain.webhooks.subscription import WebhookSubscription

_OPEN = (DeliveryStatus.PENDING.value, DeliveryStatus.DELIVERING.value)

# Take due deliveries webhook by webhook, each webhook only up to its free in-flight slots, oldest
# first overall; the UPDATE re-checks the row, so two dispatchers never claim the same delivery.
_CLAIM_DUE = sa.text(
    """
    WITH picked AS (
      SELECT due.tenant_id, due.id
      FROM webhook_subscriptions s
      CROSS JOIN LATERAL (
        SELECT count(*) AS n FROM webhook_deliveries f
        WHERE f.tenant_id = s.tenant_id AND f.webhook_id = s.id
          AND f.status = 'delivering' AND f.next_attempt_at > now()
      ) busy
      CROSS JOIN LATERAL (
        SELECT d.tenant_id, d.id, d.next_attempt_at FROM webhook_deliveries d
        WHERE d.tenant_id = s.tenant_id AND d.webhook_id = s.id
          AND d.status IN ('pending', 'delivering') AND d.next_attempt_at <= now()
        ORDER BY d.next_attempt_at
        LIMIT greatest(:per_webhook - busy.n, 0)
      ) due
      WHERE s.active
      ORDER BY due.next_attempt_at
      LIMIT :limit
    )
    UPDATE webhook_deliveries d
    SET status = 'delivering', next_attempt_at = now() + make_interval(secs => :lease)
    FROM picked
    WHERE d.tenant_id = picked.tenant_id AND d.id = picked.id
      AND d.status IN ('pending', 'delivering') AND d.next_attempt_at <= now()
    RETURNING d.*
    """
)


class PostgresWebhookRepository:
    def __init__(self, connection: AsyncConnection, cipher: SecretCipher) -> None:
        self._connection = connection
        self._cipher = cipher

    # Subscriptions

    async def add(self, subscription: WebhookSubscription) -> None:
        await self._connection.execute(webhook_subscriptions.insert().values(**self._row(subscription)))

    async def get(self, tenant_id: TenantId, webhook_id: WebhookId) -> WebhookSubscription | None:
        row = (
            await self._connection.execute(
                webhook_subscriptions.select().where(
                    webhook_subscriptions.c.tenant_id == tenant_id, webhook_subscriptions.c.id == webhook_id
                )
            )
        ).one_or_none()
        return None if row is None else self._to_subscription(row._mapping)

    async def list(self, tenant_id: TenantId) -> list[WebhookSubscription]:
        rows = await self._connection.execute(
            webhook_subscriptions.select()
            .where(webhook_subscriptions.c.tenant_id == tenant_id)
            .order_by(webhook_subscriptions.c.created_at, webhook_subscriptions.c.id)
        )
        return [self._to_subscription(row._mapping) for row in rows]

    async def update(self, subscription: WebhookSubscription) -> None:
        values = {
            key: value for key, value in self._row(subscription).items() if key not in ("tenant_id", "id", "created_at")
        }
        await self._connection.execute(
            webhook_subscriptions.update()
            .where(
                webhook_subscriptions.c.tenant_id == subscription.tenant_id,
                webhook_subscriptions.c.id == subscription.id,
            )
            .values(**values)
        )

    async def delete(self, tenant_id: TenantId, webhook_id: WebhookId) -> bool:
        result = await self._connection.execute(
            webhook_subscriptions.delete().where(
                webhook_subscriptions.c.tenant_id == tenant_id, webhook_subscriptions.c.id == webhook_id
            )
        )
        return bool(result.rowcount)

    async def active_for(self, tenant_ids: Collection[TenantId]) -> builtins.list[WebhookSubscription]:
        if not tenant_ids:
            return []
        rows = await self._connection.execute(
            webhook_subscriptions.select().where(
                webhook_subscriptions.c.tenant_id.in_(list(tenant_ids)), webhook_subscriptions.c.active
            )
        )
        return [self._to_subscription(row._mapping) for row in rows]

    # Deliveries

    async def add_deliveries(self, deliveries: builtins.list[WebhookDelivery]) -> None:
        if not deliveries:
            return
        await self._connection.execute(
            insert(webhook_deliveries)
            .values([_delivery_row(delivery) for delivery in deliveries])
            .on_conflict_do_nothing(index_elements=["tenant_id", "webhook_id", "event_id"])
        )

    async def get_delivery(self, tenant_id: TenantId, delivery_id: DeliveryId) -> WebhookDelivery | None:
        row = (
            await self._connection.execute(
                webhook_deliveries.select().where(
                    webhook_deliveries.c.tenant_id == tenant_id, webhook_deliveries.c.id == delivery_id
                )
            )
        ).one_or_none()
        return None if row is None else _to_delivery(row._mapping)

    async def list_deliveries(
        self,
        tenant_id: TenantId,
        webhook_id: WebhookId,
        *,
        limit: int,
        cursor: str | None,
        status: DeliveryStatus | None = None,
    ) -> Page[DeliveryRecord]:
        table = webhook_deliveries
        query = (
            table.select()
            .where(table.c.tenant_id == tenant_id, table.c.webhook_id == webhook_id)
            .order_by(table.c.created_at.desc(), table.c.id.desc())
            .limit(limit + 1)
        )
        if status is not None:
            query = query.where(table.c.status == status.value)
        if cursor is not None:
            created_at, last_id = _decode_cursor(cursor)
            query = query.where(sa.tuple_(table.c.created_at, table.c.id) < sa.tuple_(created_at, last_id))
        rows = (await self._connection.execute(query)).all()
        deliveries = [_to_delivery(row._mapping) for row in rows[:limit]]
        attempts: dict[uuid.UUID, builtins.list[DeliveryAttempt]] = {delivery.id: [] for delivery in deliveries}
        if deliveries:
            attempt_rows = await self._connection.execute(
                webhook_delivery_attempts.select()
                .where(
                    webhook_delivery_attempts.c.tenant_id == tenant_id,
                    webhook_delivery_attempts.c.delivery_id.in_(list(attempts)),
                )
                .order_by(webhook_delivery_attempts.c.delivery_id, webhook_delivery_attempts.c.number)
            )
            for attempt_row in attempt_rows:
                attempt = _to_attempt(attempt_row._mapping)
                attempts[attempt.delivery_id].append(attempt)
        last = deliveries[-1] if deliveries and len(rows) > limit else None
        return Page(
            items=[DeliveryRecord(delivery=delivery, attempts=attempts[delivery.id]) for delivery in deliveries],
            next_cursor=None if last is None else _encode_cursor(last),
        )

    async def update_delivery(self, delivery: WebhookDelivery) -> None:
        await self._connection.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.tenant_id == delivery.tenant_id, webhook_deliveries.c.id == delivery.id)
            .values(**_delivery_state(delivery))
        )

    async def claim_due(
        self, *, limit: int, lease_seconds: float, per_webhook_limit: int
    ) -> builtins.list[DueDelivery]:
        rows = (
            await self._connection.execute(
                _CLAIM_DUE, {"limit": limit, "lease": lease_seconds, "per_webhook": per_webhook_limit}
            )
        ).all()
        if not rows:
            return []
        deliveries = [_to_delivery(row._mapping) for row in rows]
        keys = {(delivery.tenant_id, delivery.webhook_id) for delivery in deliveries}
        subscription_rows = await self._connection.execute(
            webhook_subscriptions.select().where(
                sa.tuple_(webhook_subscriptions.c.tenant_id, webhook_subscriptions.c.id).in_(list(keys))
            )
        )
        subscriptions = {
            (subscription.tenant_id, subscription.id): subscription
            for subscription in (self._to_subscription(row._mapping) for row in subscription_rows)
        }
        return [
            DueDelivery(delivery=delivery, subscription=subscriptions[(delivery.tenant_id, delivery.webhook_id)])
            for delivery in deliveries
            if (delivery.tenant_id, delivery.webhook_id) in subscriptions
        ]

    async def record_attempt(self, delivery: WebhookDelivery, attempt: DeliveryAttempt) -> None:
        await self._connection.execute(
            insert(webhook_delivery_attempts)
            .values(
                tenant_id=delivery.tenant_id,
                delivery_id=delivery.id,
                number=attempt.number,
                attempted_at=attempt.attempted_at,
                duration_ms=attempt.duration_ms,
                status_code=attempt.status_code,
                error=attempt.error,
                response_excerpt=attempt.response_excerpt,
                outcome=attempt.outcome.value,
            )
            # A delivery whose claim lapsed mid-attempt may be retried by another worker with the same
            # number; the first record of that number stays.
            .on_conflict_do_nothing()
        )
        await self.update_delivery(delivery)

    async def next_due_at(self) -> datetime | None:
        value: datetime | None = (
            await self._connection.execute(
                sa.select(sa.func.min(webhook_deliveries.c.next_attempt_at)).where(
                    webhook_deliveries.c.status.in_(_OPEN), webhook_deliveries.c.next_attempt_at > sa.func.now()
                )
            )
        ).scalar_one()
        return value

    # Mapping

    def _row(self, subscription: WebhookSubscription) -> dict[str, Any]:
        context = _headers_context(subscription.id)
        return {
            "tenant_id": subscription.tenant_id,
            "id": subscription.id,
            "url": subscription.url,
            "event_types": list(subscription.event_types),
            "headers_encrypted": (
                self._cipher.encrypt(json.dumps(subscription.headers).encode(), context=context)
                if subscription.headers
                else None
            ),
            "secret_encrypted": subscription.secret_encrypted,
            "previous_secret_encrypted": subscription.previous_secret_encrypted,
            "previous_secret_expires_at": subscription.previous_secret_expires_at,
            "active": subscription.active,
            "description": subscription.description,
            "created_at": subscription.created_at,
            "updated_at": subscription.updated_at,
        }

    def _to_subscription(self, row: sa.RowMapping) -> WebhookSubscription:
        headers: dict[str, str] = {}
        if row["headers_encrypted"] is not None:
            headers = json.loads(
                self._cipher.decrypt(row["headers_encrypted"], context=_headers_context(WebhookId(row["id"])))
            )
        return WebhookSubscription(
            id=WebhookId(row["id"]),
            tenant_id=TenantId(row["tenant_id"]),
            url=row["url"],
            event_types=tuple(row["event_types"]),
            secret_encrypted=row["secret_encrypted"],
            headers=headers,
            active=row["active"],
            description=row["description"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            previous_secret_encrypted=row["previous_secret_encrypted"],
            previous_secret_expires_at=row["previous_secret_expires_at"],
        )


def _headers_context(webhook_id: WebhookId) -> bytes:
    return b"webhook-headers:" + webhook_id.bytes


def _delivery_row(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "tenant_id": delivery.tenant_id,
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "body": delivery.body,
        "created_at": delivery.created_at or sa.func.now(),
        **_delivery_state(delivery),
    }


def _delivery_state(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at or sa.func.now(),
        "retry_until": delivery.retry_until,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "completed_at": delivery.completed_at,
    }


def _to_delivery(row: sa.RowMapping) -> WebhookDelivery:
    return WebhookDelivery(
        id=DeliveryId(row["id"]),
        tenant_id=TenantId(row["tenant_id"]),
        webhook_id=WebhookId(row["webhook_id"]),
        event_id=EventId(row["event_id"]),
        event_type=row["event_type"],
        body=row["body"],
        retry_until=row["retry_until"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        completed_at=row["completed_at"],
    )


def _to_attempt(row: sa.RowMapping) -> DeliveryAttempt:
    return DeliveryAttempt(
        delivery_id=DeliveryId(row["delivery_id"]),
        number=row["number"],
        attempted_at=row["attempted_at"],
        duration_ms=row["duration_ms"],
        status_code=row["status_code"],
        error=row["error"],
        response_excerpt=row["response_excerpt"],
        outcome=AttemptOutcome(row["outcome"]),
    )


def _encode_cursor(delivery: WebhookDelivery) -> str:
    assert delivery.created_at is not None
    return base64.urlsafe_b64encode(f"{delivery.created_at.isoformat()}|{delivery.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created_at, last_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created_at), uuid.UUID(last_id)
    except ValueError as error:
        raise InvalidInput("cursor is not valid", details={"field": "cursor"}) from error
