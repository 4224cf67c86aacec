"""`metachat run` in a subprocess on the test's database (in-process events and fan-out, the fake language
model), for tests that drive the platform from outside: a browser, an API fuzzer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from adapters.crypto.aes_gcm import generate_encoded_key

ADMIN_KEY = "e2e-admin-" + uuid.uuid4().hex
WIDGET_DIST = Path(__file__).resolve().parents[2] / "widget" / "dist"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def running_platform(database_url: str, work_dir: Path, language_model_url: str) -> AsyncIterator[str]:
    """Yields the platform's base URL once it serves the demo page; the admin key is ADMIN_KEY."""
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
        METACHAT_DATA_DIR=str(work_dir / "data"),
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=language_model_url,
        LOG_LEVEL="WARNING",
    )
    log_path = work_dir / "metachat-run.log"
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


def log_tail(work_dir: Path) -> str:
    return (work_dir / "metachat-run.log").read_text(errors="replace")[-4000:]


async def _wait_until_ready(base_url: str, process: asyncio.subprocess.Process, log_path: Path) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(600):
            if process.returncode is not None:
                pytest.fail(f"metachat run exited with {process.returncode}:\n{log_tail(log_path.parent)}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/demo")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    pytest.fail(f"metachat run did not answer within 60 s:\n{log_tail(log_path.parent)}")
