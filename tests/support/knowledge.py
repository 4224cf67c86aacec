"""Knowledge base test helpers: real small PDF/DOCX files generated on the spot, running the pending
`document.index` tasks of the outbox in-process, the way the worker would, and storing an indexed document
directly when a test needs knowledge but not the indexing."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import NamedTuple

import asyncpg
import docx
from dishka import AsyncContainer
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from application.knowledge.index_document import INDEX_DOCUMENT_TASK, IndexDocument, IndexDocumentInput
from application.ports.embeddings import Embedder
from application.ports.tasks import Task
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.common.ids import ChunkId, DocumentId, TenantId, new_id
from domain.knowledge.document import Chunk, KnowledgeDocument
from tests.support.services import asyncpg_dsn


def make_pdf(pages: Sequence[Sequence[str]], title: str | None = None) -> bytes:
    """One drawn line per string, top to bottom; each inner sequence is a page."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    if title:
        pdf.setTitle(title)
    for lines in pages:
        y = 780.0
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypt_pdf(pdf: bytes, password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(password, owner_password=password + "-owner", algorithm="AES-256")
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def make_docx(title: str, sections: Sequence[tuple[str, str]]) -> bytes:
    document = docx.Document()
    document.add_paragraph(title, style="Title")
    for heading, text in sections:
        document.add_heading(heading, level=1)
        document.add_paragraph(text)
    output = io.BytesIO()
    document.save(output)
    return output.getvalue()


async def pending_index_tasks(database_url: str) -> list[Task]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT tenant_id, payload FROM outbox WHERE kind = 'task' AND type = $1 AND published_at IS NULL"
            " ORDER BY seq",
            INDEX_DOCUMENT_TASK,
        )
        await connection.execute(
            "UPDATE outbox SET published_at = now() WHERE kind = 'task' AND type = $1 AND published_at IS NULL",
            INDEX_DOCUMENT_TASK,
        )
    finally:
        await connection.close()
    tasks = []
    for row in rows:
        envelope = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
        tasks.append(Task(name=INDEX_DOCUMENT_TASK, tenant_id=TenantId(row["tenant_id"]), payload=envelope["payload"]))
    return tasks


async def run_index_tasks(container: AsyncContainer, database_url: str) -> int:
    """Index every document waiting in the outbox, as the worker's `document.index` handler would."""
    tasks = await pending_index_tasks(database_url)
    for task in tasks:
        async with container() as request:
            await (await request.get(IndexDocument)).execute(IndexDocumentInput.from_task(task))
    return len(tasks)


class IndexedDocument(NamedTuple):
    id: DocumentId
    chunk_ids: list[ChunkId]


async def store_indexed_document(
    uow_factory: UnitOfWorkFactory,
    tenant_id: TenantId,
    title: str,
    texts: Sequence[str],
    embedder: Embedder,
    tags: tuple[str, ...] = (),
) -> IndexedDocument:
    """A ready document with one chunk per text, embedded by `embedder`, as indexing would leave it."""
    document = KnowledgeDocument(
        id=DocumentId(new_id()),
        tenant_id=tenant_id,
        title=title,
        filename=f"{title.lower().replace(' ', '-')}.md",
        format="md",
        content_hash=new_id().hex,
        size_bytes=sum(len(text) for text in texts),
        storage_key="unused",
        tags=tags,
    )
    vectors = await embedder.embed(texts)
    chunks = [
        Chunk(
            id=ChunkId(new_id()),
            tenant_id=tenant_id,
            document_id=document.id,
            ordinal=ordinal,
            text=text,
            token_count=len(text.split()),
            embedding_model=embedder.model_name,
            embedding=vector,
        )
        for ordinal, (text, vector) in enumerate(zip(texts, vectors, strict=True))
    ]
    document.mark_ready(chunk_count=len(chunks), page_count=None, embedding_model=embedder.model_name)
    async with uow_factory(tenant_id) as uow:
        await uow.documents.add(document)
        await uow.knowledge.replace_chunks(tenant_id, document.id, chunks, "en")
        await uow.commit()
    return IndexedDocument(document.id, [chunk.id for chunk in chunks])
