from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.postgres.tables import messages
from application.ports.webchat import TimelineEntry
from domain.common.ids import ConversationId, MessageId, TenantId
from domain.conversations.message import Direction, MessageType, SenderRole


class PostgresConversationTimeline:
    """Reads messages by their per-conversation sequence number (assigned by a trigger, migration 0006)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def after(
        self, tenant_id: TenantId, conversation_id: ConversationId, after_seq: int, limit: int
    ) -> list[TimelineEntry]:
        rows = await self._connection.execute(
            messages.select()
            .with_only_columns(
                messages.c.seq,
                messages.c.id,
                messages.c.direction,
                messages.c.sender,
                messages.c.type,
                messages.c.text,
                messages.c.content,
                messages.c.created_at,
            )
            .where(
                messages.c.tenant_id == tenant_id,
                messages.c.conversation_id == conversation_id,
                messages.c.seq > after_seq,
            )
            .order_by(messages.c.seq)
            .limit(limit)
        )
        return [
            TimelineEntry(
                seq=row.seq,
                message_id=MessageId(row.id),
                direction=Direction(row.direction),
                sender=SenderRole(row.sender),
                type=MessageType(row.type),
                text=row.text,
                content=row.content,
                created_at=row.created_at,
            )
            for row in rows
        ]
