"""Knowledge base over HTTP: uploads of every supported format end `ready` with sensible chunks, bad files
end `failed` with a reason, limits answer 413/415, duplicates are recognised, and search stays inside
one tenant."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import pytest
from dishka import AsyncContainer

from entrypoints.settings import HttpSettings, Settings
from tests.support.api import Client, as_key, create_tenant, create_tenant_key
from tests.support.knowledge import encrypt_pdf, make_docx, make_pdf, run_index_tasks

REFUNDS_MD = b"""# Store policies

## Refunds

Refunds are issued within 30 days of purchase when the item is returned unused.

## Shipping

Orders ship within two business days. International shipping takes up to three weeks.
"""

OPENING_HTML = b"""<!doctype html><html><head><title>Opening hours</title></head><body>
<h1>Opening hours</h1><p>The flagship store opens at nine in the morning and closes at six in the evening.</p>
<h2>Holidays</h2><p>On public holidays the store is closed all day.</p></body></html>"""

WARRANTY_TXT = b"Warranty\n\nEvery bicycle frame carries a lifetime warranty against manufacturing defects.\n"

# Two full pages: the chunk with the last line of page 2 starts on page 2, so its citation names that page.
PDF = make_pdf(
    [
        ["Assembly guide", "", "Attach the handlebar with the four hex bolts."]
        + [f"Step {step}: tighten bolt number {step} of the frame to the torque printed on it." for step in range(30)],
        ["Maintenance", ""]
        + [f"Check {item}: inspect the brake pads and tyre pressure before ride {item}." for item in range(30)]
        + ["Oil the chain every two hundred kilometres."],
    ],
    title="Bicycle assembly guide",
)
DOCX = make_docx(
    "Employee handbook",
    [("Leave", "Everyone gets twenty five days of paid leave."), ("Expenses", "Keep every receipt.")],
)


def files(*items: tuple[str, bytes, str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", item) for item in items]


async def upload(client: Client, tenant_id: str, *items: tuple[str, bytes, str], **kwargs: Any) -> Any:
    return await client.post(f"/api/tenants/{tenant_id}/documents", files=files(*items), **kwargs)


async def documents(client: Client, tenant_id: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/api/tenants/{tenant_id}/documents")
    assert response.status_code == 200, response.text
    return {item["filename"]: item for item in response.json()["items"]}


async def search(client: Client, tenant_id: str, query: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/tenants/{tenant_id}/search", json={"query": query, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_every_supported_format_is_indexed_with_pages_headings_and_citations(
    client: Client, container: AsyncContainer, database_url: str
) -> None:
    tenant = await create_tenant(client)
    response = await upload(
        client,
        tenant["id"],
        ("policies.md", REFUNDS_MD, "text/markdown"),
        ("hours.html", OPENING_HTML, "text/html"),
        ("warranty.txt", WARRANTY_TXT, "text/plain"),
        ("guide.pdf", PDF, "application/pdf"),
        ("handbook.docx", DOCX, "application/octet-stream"),
    )
    assert response.status_code == 202, response.text
    uploaded = response.json()["documents"]
    assert [(item["format"], item["status"], item["duplicate"]) for item in uploaded] == [
        ("md", "pending", False),
        ("html", "pending", False),
        ("txt", "pending", False),
        ("pdf", "pending", False),
        ("docx", "pending", False),
    ]

    assert await run_index_tasks(container, database_url) == 5
    indexed = await documents(client, tenant["id"])
    assert {name: item["status"] for name, item in indexed.items()} == dict.fromkeys(indexed, "ready")
    assert all(item["chunk_count"] >= 1 and item["progress"] == 100 for item in indexed.values())
    assert all(item["embedding_model"] == "all-MiniLM-L6-v2" for item in indexed.values())
    assert indexed["guide.pdf"]["page_count"] == 2
    # Titles come from the documents themselves where they have one.
    assert indexed["guide.pdf"]["title"] == "Bicycle assembly guide"
    assert indexed["hours.html"]["title"] == "Opening hours"
    assert indexed["handbook.docx"]["title"] == "Employee handbook"

    result = await search(client, tenant["id"], "how long do refunds take", top_k=3)
    best = result["passages"][0]
    assert "30 days" in best["text"]
    assert best["citation"]["document_title"] == "Store policies"
    # The small sections share one chunk, cited by the heading they have in common.
    assert best["citation"]["heading_path"] == ["Store policies"]
    # …which is the title too: named once, not "Store policies, Store policies".
    assert best["citation"]["label"] == "Store policies"
    assert best["scores"]["keyword"] > 0
    assert best["scores"]["vector"] > 0
    assert 0 < best["score"] <= 1

    oil = await search(client, tenant["id"], "chain oil", top_k=1)
    assert oil["passages"][0]["citation"]["page"] == 2
    assert oil["passages"][0]["citation"]["label"].startswith("Bicycle assembly guide, p. 2")

    leave = await search(client, tenant["id"], "paid leave days", top_k=1, mode="keyword")
    assert "twenty five days" in leave["passages"][0]["text"]
    assert leave["passages"][0]["scores"]["vector"] is None
    assert leave["mode"] == "keyword"


async def test_bad_files_end_failed_with_a_reason(client: Client, container: AsyncContainer, database_url: str) -> None:
    tenant = await create_tenant(client)
    response = await upload(
        client,
        tenant["id"],
        ("empty.txt", b"", "text/plain"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage without an xref", "application/pdf"),
        ("locked.pdf", encrypt_pdf(PDF, "secret"), "application/pdf"),
        ("broken.docx", b"PK\x03\x04" + b"\x00" * 64, "application/octet-stream"),
    )
    assert response.status_code == 202, response.text
    await run_index_tasks(container, database_url)
    failed = await documents(client, tenant["id"])
    assert {name: item["status"] for name, item in failed.items()} == dict.fromkeys(failed, "failed")
    assert failed["empty.txt"]["error"] == "the file is empty"
    assert "encrypted" in failed["locked.pdf"]["error"]
    assert failed["broken.pdf"]["error"]
    assert failed["broken.docx"]["error"]
    assert all(item["chunk_count"] == 0 for item in failed.values())


async def test_unsupported_types_are_refused_with_415_and_nothing_is_stored(client: Client) -> None:
    tenant = await create_tenant(client)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    response = await upload(
        client,
        tenant["id"],
        ("fine.txt", WARRANTY_TXT, "text/plain"),
        # The name and declared type say PDF; the content says PNG.
        ("scan.pdf", png, "application/pdf"),
    )
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert response.json()["error"]["details"]["filename"] == "scan.pdf"
    assert await documents(client, tenant["id"]) == {}

    form = await client.post(
        f"/api/tenants/{tenant['id']}/documents", content=b"a=b", headers={"Content-Type": "text/csv"}
    )
    assert form.status_code == 415


async def test_nul_characters_in_form_fields_or_file_names_are_refused(client: Client) -> None:
    tenant = await create_tenant(client)
    tagged = await upload(client, tenant["id"], ("fine.txt", WARRANTY_TXT, "text/plain"), data={"tags": "a\x00b"})
    assert tagged.status_code == 422, tagged.text
    # Written by hand: httpx would percent-encode the NUL in the file name.
    raw = (
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="fi\x00ne.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + WARRANTY_TXT + b"\r\n--b--\r\n"
    )
    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    named = await client.post(f"/api/tenants/{tenant['id']}/documents", content=raw, headers=multipart)
    assert named.status_code == 422, named.text
    assert await documents(client, tenant["id"]) == {}


class TestUploadLimit:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return attrs.evolve(settings, http=HttpSettings(max_body_bytes=64 * 1024, max_upload_bytes=200_000))

    async def test_uploads_over_the_size_limit_get_413(self, client: Client) -> None:
        tenant = await create_tenant(client)
        # Above the API-wide 64 KiB body limit, below the upload limit: accepted.
        medium = b"Paragraph about returns and refunds. " * 4000
        accepted = await upload(client, tenant["id"], ("medium.txt", medium, "text/plain"))
        assert accepted.status_code == 202, accepted.text
        # Over MAX_UPLOAD_BYTES plus the multipart allowance: refused before the body is read.
        refused = await upload(client, tenant["id"], ("huge.txt", b"x" * 1_400_000, "text/plain"))
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"]["code"] == "payload_too_large"
        # A file over the limit but within the multipart allowance is caught per file.
        per_file = await upload(client, tenant["id"], ("just_over.txt", b"y" * 250_000, "text/plain"))
        assert per_file.status_code == 413
        assert per_file.json()["error"]["details"]["filename"] == "just_over.txt"
        assert list(await documents(client, tenant["id"])) == ["medium.txt"]


async def test_identical_content_is_recognised_and_not_indexed_twice(
    client: Client, container: AsyncContainer, database_url: str
) -> None:
    tenant = await create_tenant(client)
    first = (await upload(client, tenant["id"], ("policies.md", REFUNDS_MD, "text/markdown"))).json()["documents"][0]
    await run_index_tasks(container, database_url)
    again = await upload(client, tenant["id"], ("copy-of-policies.md", REFUNDS_MD, "text/markdown"))
    assert again.status_code == 202
    [duplicate] = again.json()["documents"]
    assert duplicate["duplicate"] is True
    assert duplicate["id"] == first["id"]
    assert duplicate["status"] == "ready"
    assert await run_index_tasks(container, database_url) == 0
    assert list(await documents(client, tenant["id"])) == ["policies.md"]
    hits = await search(client, tenant["id"], "refunds", top_k=10)
    assert len({passage["chunk_id"] for passage in hits["passages"]}) == len(hits["passages"])
    assert len(hits["passages"]) == (await documents(client, tenant["id"]))["policies.md"]["chunk_count"]


async def test_get_reindex_and_delete_a_document(client: Client, container: AsyncContainer, database_url: str) -> None:
    tenant = await create_tenant(client)
    base = f"/api/tenants/{tenant['id']}/documents"
    created = (await upload(client, tenant["id"], ("warranty.txt", WARRANTY_TXT, "text/plain"))).json()["documents"][0]
    await run_index_tasks(container, database_url)
    fetched = (await client.get(f"{base}/{created['id']}")).json()
    assert fetched["status"] == "ready"
    before = await search(client, tenant["id"], "lifetime warranty")
    assert before["passages"]

    reindexed = await client.post(f"{base}/{created['id']}/reindex")
    assert reindexed.status_code == 202
    assert reindexed.json()["status"] == "pending"
    assert await run_index_tasks(container, database_url) == 1
    after = await search(client, tenant["id"], "lifetime warranty")
    assert after["passages"][0]["text"] == before["passages"][0]["text"]
    assert after["passages"][0]["chunk_id"] != before["passages"][0]["chunk_id"]

    assert (await client.delete(f"{base}/{created['id']}")).status_code == 204
    assert (await client.get(f"{base}/{created['id']}")).status_code == 404
    assert (await search(client, tenant["id"], "lifetime warranty"))["passages"] == []
    assert (await client.delete(f"{base}/{created['id']}")).status_code == 404


async def test_a_tenant_never_finds_another_tenants_chunks(
    client: Client, container: AsyncContainer, database_url: str
) -> None:
    acme = await create_tenant(client, "Acme")
    globex = await create_tenant(client, "Globex")
    await upload(client, acme["id"], ("acme.txt", b"Acme refunds are paid within 30 days of the return.", "text/plain"))
    await upload(
        client, globex["id"], ("globex.txt", b"Globex refunds are paid within 90 days of the return.", "text/plain")
    )
    await run_index_tasks(container, database_url)
    acme_key = await create_tenant_key(client, acme["id"], ["read"])
    for mode in ("hybrid", "keyword", "vector"):
        response = await client.post(
            f"/api/tenants/{acme['id']}/search",
            json={"query": "Globex refunds 90 days", "mode": mode, "top_k": 10},
            headers=as_key(acme_key),
        )
        assert response.status_code == 200, response.text
        texts = [passage["text"] for passage in response.json()["passages"]]
        assert texts, mode
        assert all("Acme" in text for text in texts), (mode, texts)
    # Acme's key cannot search Globex's knowledge base either.
    foreign = await client.post(
        f"/api/tenants/{globex['id']}/search", json={"query": "refunds"}, headers=as_key(acme_key)
    )
    assert foreign.status_code == 403


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(OPENING_HTML)))
        self.end_headers()
        self.wfile.write(OPENING_HTML)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web_page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/about/opening-hours"
    server.shutdown()
    server.server_close()


async def test_a_web_page_is_fetched_by_url_and_indexed(
    client: Client, container: AsyncContainer, database_url: str, web_page: str
) -> None:
    tenant = await create_tenant(client)
    response = await client.post(f"/api/tenants/{tenant['id']}/documents", json={"url": web_page, "tags": ["site"]})
    assert response.status_code == 202, response.text
    [document] = response.json()["documents"]
    assert (document["format"], document["source_url"], document["tags"]) == ("html", web_page, ["site"])
    await run_index_tasks(container, database_url)
    result = await search(client, tenant["id"], "when does the store open", tags=["site"])
    assert result["passages"][0]["citation"]["source_url"] == web_page
    assert (await search(client, tenant["id"], "when does the store open", tags=["other"]))["passages"] == []
    bad = await client.post(f"/api/tenants/{tenant['id']}/documents", json={"url": "ftp://example.com/x"})
    assert bad.status_code == 422
