"""What a person can send through a conversation besides text (media, a WhatsApp template, reply buttons
or a list, a reaction), which channel kinds carry each, and how it is kept on the stored outbound
message: `delivery.send` sends a message from what is stored on it alone."""

from __future__ import annotations

import uuid
from typing import Any

import attrs

from application.ports.channel_gateway import (
    InteractiveMessage,
    ListRow,
    ListSection,
    OutboundMedia,
    ReplyButton,
    TemplateMessage,
)
from domain.common.ids import MessageId
from domain.conversations.message import Message, MessageType

MEDIA_TYPES = frozenset(
    {MessageType.IMAGE, MessageType.AUDIO, MessageType.VIDEO, MessageType.DOCUMENT, MessageType.STICKER}
)


@attrs.frozen
class Reaction:
    """An emoji on an earlier message of the same conversation, named by our id; "" removes ours."""

    message_id: MessageId
    emoji: str


@attrs.frozen
class OutboundReaction:
    """A reaction ready to send: the provider's id of the message reacted to has been looked up."""

    target_id: MessageId
    provider_message_id: str
    emoji: str


# What a request asks to send (a plain str is text) …
AgentContent = str | OutboundMedia | TemplateMessage | InteractiveMessage | Reaction
# … and what is stored and sent once a reaction's target is known.
SendableContent = str | OutboundMedia | TemplateMessage | InteractiveMessage | OutboundReaction

_NAMES: dict[type, str] = {
    str: "text",
    OutboundMedia: "media",
    TemplateMessage: "template",
    InteractiveMessage: "interactive",
    Reaction: "reaction",
    OutboundReaction: "reaction",
}


def kind_name(content: AgentContent | SendableContent) -> str:
    """The content kind a channel adapter lists among what it carries (`OutboundChannel.content_kinds`)."""
    return _NAMES[type(content)]


def stored_form(content: SendableContent) -> tuple[MessageType, str, dict[str, Any]]:
    """The message type, text and content under which `content` is stored. The text is what a person
    reading the timeline (or the assistant's history) sees: the caption, the body, the emoji."""
    if isinstance(content, str):
        return MessageType.TEXT, content, {}
    if isinstance(content, OutboundMedia):
        media = {"link": content.link, "media_id": content.media_id, "filename": content.filename}
        return content.type, content.caption, {"outbound": media}
    if isinstance(content, TemplateMessage):
        # The keys of the re-engagement template (delivery.fit_to_window), so both are sent alike.
        template: dict[str, Any] = {"template": content.name, "template_language": content.language}
        if content.components:
            template["template_components"] = list(content.components)
        return MessageType.TEMPLATE, "", template
    if isinstance(content, InteractiveMessage):
        interactive = {
            "buttons": [{"id": button.id, "title": button.title} for button in content.buttons],
            "list_button": content.list_button,
            "sections": [
                {
                    "title": section.title,
                    "rows": [
                        {"id": row.id, "title": row.title, "description": row.description} for row in section.rows
                    ],
                }
                for section in content.sections
            ],
            "header": content.header,
            "footer": content.footer,
        }
        return MessageType.INTERACTIVE, content.body, {"outbound": interactive}
    reaction = {"message_id": str(content.target_id), "provider_message_id": content.provider_message_id}
    return MessageType.REACTION, content.emoji, {"outbound": reaction}


def sendable(message: Message) -> SendableContent:
    """What to send for a stored outbound message: the inverse of `stored_form`."""
    content = message.content
    if message.type is MessageType.TEMPLATE:
        return TemplateMessage(
            name=str(content["template"]),
            language=str(content["template_language"]),
            components=tuple(content.get("template_components", ())),
        )
    if message.type in MEDIA_TYPES:
        media = content["outbound"]
        return OutboundMedia(
            type=message.type,
            link=media["link"],
            media_id=media["media_id"],
            caption=message.text,
            filename=media["filename"],
        )
    if message.type is MessageType.INTERACTIVE:
        interactive = content["outbound"]
        return InteractiveMessage(
            body=message.text,
            buttons=tuple(ReplyButton(button["id"], button["title"]) for button in interactive["buttons"]),
            list_button=interactive["list_button"],
            sections=tuple(
                ListSection(
                    section["title"],
                    tuple(ListRow(row["id"], row["title"], row["description"]) for row in section["rows"]),
                )
                for section in interactive["sections"]
            ),
            header=interactive["header"],
            footer=interactive["footer"],
        )
    if message.type is MessageType.REACTION:
        reaction = content["outbound"]
        return OutboundReaction(
            target_id=MessageId(uuid.UUID(reaction["message_id"])),
            provider_message_id=reaction["provider_message_id"],
            emoji=message.text,
        )
    return message.text
