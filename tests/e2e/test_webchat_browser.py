"""The web chat in a real browser against a real `metachat run`. Screenshots land in test-artifacts/.

Drives Debian's Chromium (/usr/bin/chromium, `apt-get install chromium`; .ci/run installs it) with the
Python Playwright package; the language model is the fake OpenAI-protocol server, so answers stream
word by word exactly as from a real model."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from adapters.crypto.aes_gcm import generate_encoded_key
from tests.fakes.openai_server import FakeOpenAIServer, ScriptedTurn

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
WIDGET_DIST = Path(__file__).resolve().parents[2] / "widget" / "dist"
ADMIN_KEY = "e2e-admin-" + uuid.uuid4().hex
FRAME = "iframe[src*='/widget/v/']"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def language_model() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
async def platform(database_url: str, tmp_path: Path, language_model: FakeOpenAIServer) -> AsyncIterator[str]:
    """`metachat run` in a subprocess, on the test's database, with in-process events and fan-out."""
    assert (WIDGET_DIST / "loader.js").is_file(), "the widget is not built: run `make widget` (scripts/build-widget.sh)"
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "RABBITMQ_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")
    }
    env.update(
        DATABASE_URL=database_url,
        METACHAT_SECRET_KEY=generate_encoded_key(),
        ADMIN_API_KEY=ADMIN_KEY,
        HOST="127.0.0.1",
        PORT=str(port),
        METACHAT_DATA_DIR=str(tmp_path / "data"),
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=language_model.base_url,
        LOG_LEVEL="WARNING",
    )
    log_path = tmp_path / "metachat-run.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            Path(sys.executable).with_name("metachat"), "run", env=env, stdout=log, stderr=log
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            await _wait_until_ready(base_url, process, log_path)
            yield base_url
        finally:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_until_ready(base_url: str, process: asyncio.subprocess.Process, log_path: Path) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(600):
            if process.returncode is not None:
                pytest.fail(f"metachat run exited with {process.returncode}:\n{_tail(log_path)}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/demo")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    pytest.fail(f"metachat run did not answer within 60 s:\n{_tail(log_path)}")


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-4000:]


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
    # On a narrow screen the open chat takes the whole viewport (once its resize transition is over).
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
