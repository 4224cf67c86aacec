"""The web chat in a real browser against a real `metachat run`: open the demo page, open the widget, ask
about a document uploaded through the API, watch the answer stream in with its citation, reload and see
the history. Screenshots land in test-artifacts/.

Drives Debian's Chromium (/usr/bin/chromium, `apt-get install chromium`; .ci/run installs it) with the
Python Playwright package; the language model is the fake OpenAI-protocol server, so answers stream
word by word exactly as from a real model."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, FrameLocator, Page, WebSocket, async_playwright

from tests.fakes.openai_server import FakeOpenAIServer, ScriptedTurn
from tests.support.platform_process import ADMIN_KEY, running_platform

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FRAME = "iframe[src*='/widget/v/']"
DEMO_TENANT = "Northwind Outdoor (demo)"
DOCUMENT_TITLE = "Trail Tent warranty"
DOCUMENT = (
    "# Trail Tent warranty\n\n"
    "Every Northwind Trail Tent comes with a seven-year warranty on its poles and seams. "
    "Send a photo of the damage to warranty@northwind.example and we ship the replacement part for free.\n"
)


@pytest.fixture
async def platform(database_url: str, tmp_path: Path, language_model: FakeOpenAIServer) -> AsyncIterator[str]:
    async with running_platform(database_url, tmp_path, language_model.base_url) as base_url:
        yield base_url


def _chromium() -> str:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (the end-to-end test drives /usr/bin/chromium)")
    return str(CHROMIUM)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = _chromium()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        await chromium.close()


async def _upload_document(base_url: str) -> None:
    """Through the API, like a tenant: the demo tenant's knowledge base holds only this document (its own
    demo document is removed, so retrieval has one candidate), then wait until it is indexed."""
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    ) as api:
        tenants = (await api.get("/api/tenants")).json()["items"]
        [tenant_id] = [tenant["id"] for tenant in tenants if tenant["name"] == DEMO_TENANT]
        documents = f"/api/tenants/{tenant_id}/documents"
        for existing in (await api.get(documents)).json()["items"]:
            assert (await api.delete(f"{documents}/{existing['id']}")).status_code == 204
        uploaded = await api.post(
            documents, files={"files": ("trail-tent-warranty.md", DOCUMENT.encode(), "text/markdown")}
        )
        assert uploaded.status_code in (200, 201, 202), uploaded.text
        document_id = uploaded.json()["documents"][0]["id"]
        for _ in range(300):
            document = (await api.get(f"{documents}/{document_id}")).json()
            if document["status"] == "ready":
                assert document["title"] == DOCUMENT_TITLE
                return
            assert document["status"] != "failed", document["error"]
            await asyncio.sleep(0.1)
    pytest.fail("the document was not indexed within 30 s")


def _record_frames(page: Page) -> list[dict[str, Any]]:
    """Every frame the widget's WebSocket receives, as the browser saw it."""
    frames: list[dict[str, Any]] = []

    def on_socket(socket: WebSocket) -> None:
        if "/ws/webchat" in socket.url:
            socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", on_socket)
    return frames


async def _open_widget(page: Page) -> FrameLocator:
    await page.locator(FRAME).wait_for(state="visible")
    widget = page.frame_locator(FRAME)
    await widget.get_by_role("button", name="Open chat: Northwind Outdoor").click()
    return widget


async def test_a_visitor_asks_about_a_document_and_finds_the_conversation_after_a_reload(
    platform: str, browser: Browser
) -> None:
    await _upload_document(platform)
    ARTIFACTS.mkdir(exist_ok=True)
    page = await browser.new_page(viewport={"width": 1100, "height": 760})
    frames = _record_frames(page)
    await page.goto(f"{platform}/demo")

    widget = await _open_widget(page)
    composer = widget.get_by_label("Your message")
    await composer.fill("How long is the warranty on the Trail Tent?")
    await composer.press("Enter")

    answer = widget.locator(".msg.bot:not(.greeting):not(.streaming)").last
    await answer.locator(".sources").wait_for(timeout=30000)
    await page.screenshot(path=str(ARTIFACTS / "webchat-answer.png"))

    # Streamed: the answer arrived as several deltas that add up to the stored message.
    [final] = [frame for frame in frames if frame["type"] == "message" and frame["role"] == "bot"]
    deltas = [frame for frame in frames if frame["type"] == "delta" and frame["replyId"] == final["id"]]
    assert len(deltas) > 1
    assert "".join(delta["text"] for delta in deltas) == final["text"]
    assert "seven-year warranty" in final["text"]
    # Its citation names the uploaded document, under the answer.
    [citation] = final["citations"]
    assert citation["title"].startswith(DOCUMENT_TITLE)
    await answer.locator(".sources li", has_text=DOCUMENT_TITLE).wait_for()
    assert "seven-year warranty" in await answer.locator(".body").inner_text()

    # A reload keeps the visitor (their id is in the site's storage) and shows the history.
    await page.reload()
    widget = await _open_widget(page)
    history = widget.locator(".msg:not(.greeting)")
    await history.nth(1).wait_for()
    texts = await history.locator(".body").all_inner_texts()
    assert texts[0] == "How long is the warranty on the Trail Tent?"
    assert "seven-year warranty" in texts[1]
    await widget.locator(".sources li", has_text=DOCUMENT_TITLE).wait_for()
    await page.screenshot(path=str(ARTIFACTS / "webchat-history.png"))


async def test_answers_render_markdown_lite_safely_and_the_widget_works_by_keyboard_on_a_phone(
    platform: str, browser: Browser, language_model: FakeOpenAIServer
) -> None:
    language_model.chat.enqueue(
        ScriptedTurn(
            text=(
                "**Free shipping** over $50, see [our policy](https://northwind.example/shipping).\n"
                "- Standard: 3-5 days\n- Express: next day\n"
                '<img src="x" onerror="window.hacked = true"> and `code`'
            )
        )
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page = await browser.new_page(viewport={"width": 390, "height": 740}, is_mobile=True, has_touch=True)
    await page.goto(f"{platform}/demo")
    await page.locator(FRAME).wait_for(state="visible")
    widget = page.frame_locator(FRAME)
    launcher = widget.get_by_role("button", name="Open chat: Northwind Outdoor")

    await launcher.focus()
    await page.keyboard.press("Enter")
    composer = widget.get_by_label("Your message")
    await composer.wait_for()
    assert await composer.evaluate("element => element === document.activeElement")
    # On a narrow screen the open chat takes the whole viewport.
    await page.wait_for_function(
        "selector => { const box = document.querySelector(selector).getBoundingClientRect();"
        " return box.width === innerWidth && box.height === innerHeight && box.top === 0; }",
        arg=FRAME,
    )
    await page.keyboard.type("How much is shipping?")
    await page.keyboard.press("Enter")

    answer = widget.locator(".msg.bot:not(.greeting):not(.streaming)").last
    await answer.locator("strong", has_text="Free shipping").wait_for(timeout=30000)
    link = answer.locator("a", has_text="our policy")
    assert await link.get_attribute("href") == "https://northwind.example/shipping"
    assert await link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert await answer.locator("li").all_inner_texts() == ["Standard: 3-5 days", "Express: next day"]
    assert await answer.locator("code").inner_text() == "code"
    # Markup in an answer is text, never HTML.
    assert await answer.locator("img").count() == 0
    assert '<img src="x"' in await answer.inner_text()
    assert await widget.locator("body").evaluate("() => window.hacked === undefined")
    await page.screenshot(path=str(ARTIFACTS / "webchat-phone.png"))

    await page.keyboard.press("Escape")
    await launcher.wait_for()
    assert await launcher.evaluate("element => element === document.activeElement")
    assert await launcher.get_attribute("aria-expanded") == "false"


@pytest.fixture
def tenant_site(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """Another origin serving plain files: the tenant's own website."""
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, server.server_address[1]
    server.shutdown()
    server.server_close()


async def test_the_snippet_works_on_an_allowed_site_and_stays_away_from_others(
    platform: str, browser: Browser, tenant_site: tuple[Path, int]
) -> None:
    root, port = tenant_site
    allowed = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=platform, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
        tenant = (await api.post("/api/tenants", json={"name": "Outfitters"})).json()
        channel = await api.post(
            f"/api/tenants/{tenant['id']}/channels",
            json={
                "kind": "webchat",
                "name": "Website",
                "config": {"allowed_origins": [allowed], "title": "Outfitters", "position": "left"},
            },
        )
    widget_id = channel.json()["config"]["widget_id"]
    snippet = f'<script src="{platform}/widget/loader.js" data-widget-id="{widget_id}" async></script>'
    _write_page(root / "index.html", f"<h1>Outfitters</h1>{snippet}")

    page = await browser.new_page(viewport={"width": 1000, "height": 700})
    await page.goto(f"{allowed}/index.html")
    await page.locator(FRAME).wait_for(state="visible")
    box = await page.locator(FRAME).bounding_box()
    assert box is not None
    assert box["x"] < 100  # position: left
    widget = page.frame_locator(FRAME)
    await widget.get_by_role("button", name="Open chat: Outfitters").click()
    await widget.get_by_label("Your message").fill("hello from the shop's own site")
    await widget.get_by_label("Your message").press("Enter")
    await widget.locator(".msg.visitor:not(.pending)", has_text="hello from the shop's own site").wait_for()

    # The same page on an origin the channel does not list: the session is refused, nothing shows.
    stranger = await browser.new_page()
    warnings: list[str] = []
    stranger.on("console", lambda message: warnings.append(message.text))
    await stranger.goto(f"http://localhost:{port}/index.html")
    await stranger.wait_for_function("() => document.querySelector('iframe') !== null")
    await stranger.wait_for_timeout(1500)
    assert not await stranger.locator(FRAME).is_visible()
    assert any("not available on this site (403)" in warning for warning in warnings), warnings


def _write_page(path: Path, body: str) -> None:
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{body}</body></html>")
