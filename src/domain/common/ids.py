"""Identifiers. UUIDs everywhere; NewTypes keep a tenant id from being passed where a channel id is due."""

import uuid
from typing import NewType

TenantId = NewType("TenantId", uuid.UUID)
ChannelId = NewType("ChannelId", uuid.UUID)
ApiKeyId = NewType("ApiKeyId", uuid.UUID)
ConversationId = NewType("ConversationId", uuid.UUID)
MessageId = NewType("MessageId", uuid.UUID)
DocumentId = NewType("DocumentId", uuid.UUID)
ChunkId = NewType("ChunkId", uuid.UUID)
WebhookId = NewType("WebhookId", uuid.UUID)
EventId = NewType("EventId", uuid.UUID)

# Platform-level rows (admin keys, unauthenticated request logs) use the nil tenant so every
# tenant-keyed table can keep tenant_id NOT NULL and first in its primary key.
PLATFORM_TENANT = TenantId(uuid.UUID(int=0))


def new_id() -> uuid.UUID:
    return uuid.uuid4()
