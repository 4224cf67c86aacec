"""The API answers as its OpenAPI document says, checked from outside by schemathesis against a running
`metachat run`: requests generated from the document (valid and invalid parameters, bodies and headers,
with and without a key), and every answer must be no server error, a documented status, with the
documented content type, headers and body; and a request the document rules out must be refused.

Left out: `positive_data_acceptance` (some rules are stricter than a schema can say: an opaque cursor,
`since` before `until`, which kind a channel's config belongs to) and `unsupported_method` (the `Allow`
header of Litestar's automatic OPTIONS answer, litestar-org/litestar#4169, fixed in Litestar 3).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.platform_process import ADMIN_KEY, log_tail, running_platform

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "ignored_auth",
)
EXAMPLES_PER_OPERATION = 10


async def test_the_api_answers_as_its_openapi_document_says(
    database_url: str, tmp_path: Path, language_model: FakeOpenAIServer
) -> None:
    async with running_platform(database_url, tmp_path, language_model.base_url) as base_url:
        # A tenant of its own, so that tenant routes are exercised past their 404s.
        async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
            tenant = (await client.post("/api/tenants", json={"name": "Contract"})).json()
        config = tmp_path / "schemathesis.toml"
        config.write_text(f'[parameters]\n"path.tenant_id" = "{tenant["id"]}"\n')
        process = await asyncio.create_subprocess_exec(
            Path(sys.executable).with_name("schemathesis"),
            "--config-file",
            str(config),
            "run",
            f"{base_url}/api/docs/openapi.json",
            "--header",
            f"Authorization: Bearer {ADMIN_KEY}",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--workers",
            "1",
            "--seed",
            "1",
            "--no-color",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, f"{report[-8000:]}\n--- platform log ---\n{log_tail(tmp_path)}"
    assert "API Operations:" in report
