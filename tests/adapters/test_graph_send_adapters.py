"""The real WhatsApp/Messenger adapters and Graph client against a local fake Graph API."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from adapters.memory.rate_limiter import MemorySendPacer
from adapters.messenger.channel import MessengerChannel
from adapters.meta.graph_client import GraphApiClient, RetryPolicy
from adapters.redis.rate_limiter import RedisSendPacer
from adapters.whatsapp.channel import WhatsAppChannel
from application.channels.channel_registry import ChannelRegistry
from application.ports.channel_adapters import MediaUnavailable
from application.ports.channel_gateway import (
    ChannelSendError,
    InteractiveMessage,
    ListRow,
    ListSection,
    OutboundMedia,
    ReplyButton,
    SendFailure,
    TemplateMessage,
)
from domain.channels.channel import Channel, ChannelKind, MessengerConfig, WhatsAppConfig
from domain.channels.inbound import MediaRef
from domain.common.ids import ChannelId, TenantId, new_id
from domain.conversations.message import MessageType
from tests.fakes.graph_api import FakeGraphApi, GraphResponse
from tests.support.meta import CONTACT, PAGE_ID, PHONE_NUMBER_ID, PSID

WA_PATH = f"/v25.0/{PHONE_NUMBER_ID}/messages"
FB_PATH = "/v25.0/me/messages"


@pytest.fixture
async def client(graph: FakeGraphApi) -> AsyncIterator[GraphApiClient]:
    client = GraphApiClient(
        graph.base_url,
        graph.version,
        retry=RetryPolicy(base_delay_seconds=0.01, max_delay_seconds=0.05),
        pacer=MemorySendPacer(),
    )
    yield client
    await client.aclose()


@pytest.fixture
def registry(client: GraphApiClient) -> ChannelRegistry:
    whatsapp, messenger = WhatsAppChannel(client), MessengerChannel(client)
    return ChannelRegistry(outbound=[whatsapp, messenger], inbound=[whatsapp, messenger])


def whatsapp_channel(graph: FakeGraphApi, rate: int = 1000) -> Channel:
    return Channel(
        id=ChannelId(new_id()),
        tenant_id=TenantId(new_id()),
        kind=ChannelKind.WHATSAPP,
        name="Support",
        config=WhatsAppConfig(phone_number_id=PHONE_NUMBER_ID, send_rate_per_second=rate),
        secrets={"access_token": graph.access_token},
    )


def messenger_channel(graph: FakeGraphApi) -> Channel:
    return Channel(
        id=ChannelId(new_id()),
        tenant_id=TenantId(new_id()),
        kind=ChannelKind.MESSENGER,
        name="Page",
        config=MessengerConfig(page_id=PAGE_ID),
        secrets={"page_access_token": graph.page_token},
    )


async def test_whatsapp_text_reply_goes_out_with_bearer_token_and_e164_recipient(
    graph: FakeGraphApi, registry: ChannelRegistry
) -> None:
    ids = await registry.send_text(whatsapp_channel(graph), CONTACT, "Hello 👋", reply_to="wamid.in1")
    assert ids == ["wamid.FAKE1"]
    sent = graph.sent()[0]
    assert sent.path == WA_PATH
    assert sent.headers["authorization"] == f"Bearer {graph.access_token}"
    assert sent.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+" + CONTACT,
        "type": "text",
        "text": {"body": "Hello 👋", "preview_url": False},
        "context": {"message_id": "wamid.in1"},
    }


async def test_long_text_is_split_per_channel_limit_and_only_the_first_part_quotes(
    graph: FakeGraphApi, registry: ChannelRegistry
) -> None:
    text = "A full sentence that keeps going. " * 300  # ~10k characters
    wa_ids = await registry.send_text(whatsapp_channel(graph), CONTACT, text, reply_to="wamid.in1")
    fb_ids = await registry.send_text(messenger_channel(graph), PSID, text)
    wa_bodies = [r.json for r in graph.sent() if r.path == WA_PATH]
    fb_bodies = [r.json for r in graph.sent() if r.path == FB_PATH]
    assert len(wa_ids) == len(wa_bodies) == 3
    assert len(fb_ids) == len(fb_bodies) == 6
    assert all(len(b["text"]["body"]) <= 4096 for b in wa_bodies)
    assert all(len(b["message"]["text"]) <= 2000 for b in fb_bodies)
    assert [("context" in b) for b in wa_bodies] == [True, False, False]
    assert " ".join(b["text"]["body"] for b in wa_bodies) == text.strip()


async def test_whatsapp_media_interactive_template_reaction_read_and_typing(
    graph: FakeGraphApi, registry: ChannelRegistry
) -> None:
    channel = whatsapp_channel(graph)
    await registry.send_media(
        channel, CONTACT, OutboundMedia(MessageType.IMAGE, link="https://x.example/a.jpg", caption="pic")
    )
    await registry.send_media(channel, CONTACT, OutboundMedia(MessageType.DOCUMENT, media_id="123", filename="a.pdf"))
    await registry.send_interactive(
        channel, CONTACT, InteractiveMessage(body="Pick", buttons=(ReplyButton("y", "Yes"), ReplyButton("n", "No")))
    )
    await registry.send_interactive(
        channel,
        CONTACT,
        InteractiveMessage(
            body="Menu", list_button="Options", sections=(ListSection("Main", (ListRow("r1", "One", "first"),)),)
        ),
    )
    components = ({"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},)
    await registry.send_template(channel, CONTACT, TemplateMessage("welcome", "en_US", components))
    await registry.send_reaction(channel, CONTACT, "wamid.in1", "👍")
    await registry.mark_read(channel, CONTACT, "wamid.in1")
    await registry.typing(channel, CONTACT, True, "wamid.in1")
    await registry.typing(channel, CONTACT, False, "wamid.in1")  # WhatsApp has no "off": nothing sent
    bodies = [r.json for r in graph.sent()]
    assert bodies[0]["image"] == {"link": "https://x.example/a.jpg", "caption": "pic"}
    assert bodies[1]["document"] == {"id": "123", "filename": "a.pdf"}
    assert bodies[2]["interactive"]["action"]["buttons"][1] == {"type": "reply", "reply": {"id": "n", "title": "No"}}
    assert bodies[3]["interactive"]["action"]["sections"][0]["rows"] == [
        {"id": "r1", "title": "One", "description": "first"}
    ]
    assert bodies[4]["template"] == {"name": "welcome", "language": {"code": "en_US"}, "components": list(components)}
    assert bodies[5]["reaction"] == {"message_id": "wamid.in1", "emoji": "👍"}
    assert bodies[6] == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.in1"}
    assert bodies[7]["typing_indicator"] == {"type": "text"}
    assert len(bodies) == 8


async def test_interactive_over_whatsapp_limits_fails_before_calling_meta(
    graph: FakeGraphApi, registry: ChannelRegistry
) -> None:
    buttons = tuple(ReplyButton(str(n), f"B{n}") for n in range(4))
    with pytest.raises(ChannelSendError) as raised:
        await registry.send_interactive(whatsapp_channel(graph), CONTACT, InteractiveMessage(body="x", buttons=buttons))
    assert raised.value.reason is SendFailure.INVALID_REQUEST
    assert graph.sent() == []


async def test_messenger_sends_with_page_token_metadata_and_sender_actions_alone(
    graph: FakeGraphApi, registry: ChannelRegistry
) -> None:
    channel = messenger_channel(graph)
    ids = await registry.send_text(channel, PSID, "Hi", reply_to="m_in")
    await registry.send_media(
        channel, PSID, OutboundMedia(MessageType.IMAGE, link="https://x.example/a.jpg", caption="c")
    )
    await registry.send_interactive(channel, PSID, InteractiveMessage(body="Pick", buttons=(ReplyButton("y", "Yes"),)))
    await registry.send_interactive(
        channel,
        PSID,
        InteractiveMessage(body="Menu", list_button="x", sections=(ListSection("s", (ListRow("r1", "One"),)),)),
    )
    await registry.send_reaction(channel, PSID, "m_in", "❤️")
    await registry.typing(channel, PSID, True)
    await registry.typing(channel, PSID, False)
    await registry.mark_read(channel, PSID, "m_in")
    await registry.send_text(channel, "user_ref:abc", "plugin user")
    assert ids == ["m_FAKE1"]
    requests = graph.sent()
    assert all(r.query["access_token"] == graph.page_token for r in requests)
    bodies = [r.json for r in requests]
    assert bodies[0] == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hi", "metadata": "metachat"},
        "reply_to": {"mid": "m_in"},
    }
    assert bodies[1]["message"]["attachment"] == {
        "type": "image",
        "payload": {"url": "https://x.example/a.jpg", "is_reusable": True},
    }
    assert bodies[2]["message"]["text"] == "c"
    assert bodies[3]["message"]["attachment"]["payload"]["buttons"] == [
        {"type": "postback", "title": "Yes", "payload": "y"}
    ]
    assert bodies[4]["message"]["quick_replies"] == [{"content_type": "text", "title": "One", "payload": "r1"}]
    assert bodies[5] == {
        "recipient": {"id": PSID},
        "sender_action": "react",
        "payload": {"message_id": "m_in", "reaction": "❤️"},
    }
    assert [b.get("sender_action") for b in bodies[6:9]] == ["typing_on", "typing_off", "mark_seen"]
    assert all("message" not in b for b in bodies[5:9])
    assert bodies[9]["recipient"] == {"user_ref": "abc"}


async def test_messenger_has_no_templates(graph: FakeGraphApi, registry: ChannelRegistry) -> None:
    with pytest.raises(ChannelSendError) as raised:
        await registry.send_template(messenger_channel(graph), PSID, TemplateMessage("x", "en"))
    assert raised.value.reason is SendFailure.UNSUPPORTED


async def test_throttling_and_server_errors_are_retried_with_backoff(
    graph: FakeGraphApi, registry: ChannelRegistry
) -> None:
    graph.script.enqueue(
        "POST",
        WA_PATH,
        GraphResponse.error(400, code=130429, message="Rate limit hit"),
        GraphResponse.of_json({"error": "upstream"}, status=502),
        GraphResponse.error(429, code=4, message="Application request limit reached", headers={"Retry-After": "0"}),
    )
    assert await registry.send_text(whatsapp_channel(graph), CONTACT, "retry me") == ["wamid.FAKE1"]
    assert len(graph.sent()) == 4


async def test_retryable_errors_give_up_after_the_last_attempt(graph: FakeGraphApi, registry: ChannelRegistry) -> None:
    graph.script.enqueue("POST", WA_PATH, *[GraphResponse.error(500, code=131000, message="Something went wrong")] * 4)
    with pytest.raises(ChannelSendError) as raised:
        await registry.send_text(whatsapp_channel(graph), CONTACT, "x")
    assert raised.value.retryable
    assert raised.value.code == "131000"
    assert len(graph.sent()) == 4


async def test_a_long_retry_after_is_left_to_the_caller(graph: FakeGraphApi, registry: ChannelRegistry) -> None:
    graph.script.enqueue("POST", WA_PATH, GraphResponse.error(429, code=80007, headers={"Retry-After": "60"}))
    with pytest.raises(ChannelSendError) as raised:
        await registry.send_text(whatsapp_channel(graph), CONTACT, "x")
    assert raised.value.reason is SendFailure.RATE_LIMITED
    assert raised.value.retry_after_seconds == 60
    assert len(graph.sent()) == 1


@pytest.mark.parametrize(
    ("response", "reason", "code"),
    [
        (
            GraphResponse.error(400, code=131047, message="Re-engagement message", details="24h"),
            SendFailure.WINDOW_CLOSED,
            "131047",
        ),
        (
            GraphResponse.error(400, code=131026, message="Message undeliverable"),
            SendFailure.INVALID_RECIPIENT,
            "131026",
        ),
        (GraphResponse.error(401, code=190, message="token expired"), SendFailure.AUTH, "190"),
        (
            GraphResponse.error(400, code=132001, message="Template does not exist"),
            SendFailure.INVALID_REQUEST,
            "132001",
        ),
        (GraphResponse.error(400, code=131048, message="Spam rate limit hit"), SendFailure.POLICY, "131048"),
    ],
)
async def test_permanent_errors_are_not_retried(
    graph: FakeGraphApi, registry: ChannelRegistry, response: GraphResponse, reason: SendFailure, code: str
) -> None:
    graph.script.enqueue("POST", WA_PATH, response)
    with pytest.raises(ChannelSendError) as raised:
        await registry.send_text(whatsapp_channel(graph), CONTACT, "x")
    assert raised.value.reason is reason
    assert raised.value.code == code
    assert not raised.value.retryable
    assert raised.value.as_message_error().code == code
    assert len(graph.sent()) == 1


@pytest.mark.parametrize(
    ("code", "subcode", "reason"),
    [
        (10, 2018278, SendFailure.WINDOW_CLOSED),
        (100, 2018001, SendFailure.INVALID_RECIPIENT),
        (551, None, SendFailure.INVALID_RECIPIENT),
    ],
)
async def test_messenger_window_and_recipient_errors(
    graph: FakeGraphApi, registry: ChannelRegistry, code: int, subcode: int | None, reason: SendFailure
) -> None:
    graph.script.enqueue("POST", FB_PATH, GraphResponse.error(400, code=code, subcode=subcode))
    with pytest.raises(ChannelSendError) as raised:
        await registry.send_text(messenger_channel(graph), PSID, "x")
    assert raised.value.reason is reason


async def test_sends_of_one_number_are_paced_to_its_rate(graph: FakeGraphApi, registry: ChannelRegistry) -> None:
    channel = whatsapp_channel(graph, rate=20)
    started = time.perf_counter()
    for _ in range(6):
        await registry.send_text(channel, CONTACT, "tick")
    # Six sends at 20/s need at least five 50 ms gaps.
    assert time.perf_counter() - started >= 0.24


async def test_the_pace_holds_across_worker_processes_sharing_redis(graph: FakeGraphApi, redis_url: str) -> None:
    # Two clients with one Redis pacer stand for two worker processes answering one number's contacts.
    redis = Redis.from_url(redis_url)
    pacer = RedisSendPacer(redis, namespace=f"test:{uuid.uuid4().hex}")
    workers = [GraphApiClient(graph.base_url, graph.version, pacer=pacer) for _ in range(2)]
    channel = whatsapp_channel(graph, rate=20)
    try:
        registries = [ChannelRegistry(outbound=[WhatsAppChannel(client)], inbound=[]) for client in workers]
        started = time.perf_counter()

        async def send_three(registry: ChannelRegistry) -> None:
            for _ in range(3):
                await registry.send_text(channel, CONTACT, "tick")

        await asyncio.gather(*(send_three(registry) for registry in registries))
        elapsed = time.perf_counter() - started
    finally:
        for client in workers:
            await client.aclose()
        await redis.aclose()
    # Six sends at 20/s between them need five 50 ms gaps, not three sends each side by side.
    assert len(graph.sent()) == 6
    assert elapsed >= 0.24


async def test_whatsapp_media_download_refreshes_an_expired_url(graph: FakeGraphApi, registry: ChannelRegistry) -> None:
    graph.add_media("media-1", b"\xff\xd8jpeg-bytes", "image/jpeg")
    graph.expire_next_download.add("media-1")
    adapter = registry.inbound(ChannelKind.WHATSAPP)
    fetched = await adapter.fetch_media(
        whatsapp_channel(graph), MediaRef(MessageType.IMAGE, provider_media_id="media-1"), 1000
    )
    assert fetched.data == b"\xff\xd8jpeg-bytes"
    assert fetched.mime_type == "image/jpeg"
    lookups = [r for r in graph.requests if r.path == "/v25.0/media-1"]
    assert len(lookups) == 2


async def test_media_over_the_size_limit_is_refused(graph: FakeGraphApi, registry: ChannelRegistry) -> None:
    graph.add_media("big", b"x" * 5000, "video/mp4")
    adapter = registry.inbound(ChannelKind.WHATSAPP)
    with pytest.raises(MediaUnavailable, match="larger"):
        await adapter.fetch_media(whatsapp_channel(graph), MediaRef(MessageType.VIDEO, provider_media_id="big"), 4999)
    url = graph.add_cdn_file("big.jpg", b"y" * 5000, "image/jpeg")
    messenger = registry.inbound(ChannelKind.MESSENGER)
    with pytest.raises(MediaUnavailable, match="larger"):
        await messenger.fetch_media(messenger_channel(graph), MediaRef(MessageType.IMAGE, url=url), 100)
    fetched = await messenger.fetch_media(messenger_channel(graph), MediaRef(MessageType.IMAGE, url=url), 5000)
    assert len(fetched.data) == 5000


async def test_an_unreachable_graph_api_is_a_temporary_network_failure_after_retries() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # Nothing listens on the port: every connection attempt is refused.
    client = GraphApiClient(
        f"http://127.0.0.1:{port}",
        "v25.0",
        retry=RetryPolicy(max_attempts=2, base_delay_seconds=0.01),
        pacer=MemorySendPacer(),
    )
    try:
        with pytest.raises(ChannelSendError) as raised:
            await client.post(f"{PHONE_NUMBER_ID}/messages", {"type": "text"}, bearer="token")
        assert raised.value.reason is SendFailure.TEMPORARY
        assert raised.value.code == "network"
        with pytest.raises(MediaUnavailable, match="media download failed") as refused:
            await client.download(f"http://127.0.0.1:{port}/file.jpg", bearer=None, max_bytes=100)
        assert refused.value.retryable
    finally:
        await client.aclose()


async def test_a_graph_api_slower_than_the_timeout_is_a_temporary_network_failure(graph: FakeGraphApi) -> None:
    client = GraphApiClient(
        graph.base_url, graph.version, retry=RetryPolicy(max_attempts=1), timeout_seconds=0.2, pacer=MemorySendPacer()
    )
    graph.delay_seconds = 1.0
    try:
        with pytest.raises(ChannelSendError) as raised:
            await client.post(f"{PHONE_NUMBER_ID}/messages", {"type": "text"}, bearer=graph.access_token)
        assert (raised.value.reason, raised.value.code) == (SendFailure.TEMPORARY, "network")
    finally:
        await client.aclose()
