"""Knowledge base API: upload (multipart files, or JSON {url}), list, read, delete, reindex; search."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, get_args

import msgspec
from dishka import FromDishka
from litestar import Controller, Request, delete, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, RequestBody, Schema
from litestar.params import FromPath, JSONBody, Parameter

from application.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from application.knowledge.import_web_page import ImportWebPage, ImportWebPageInput
from application.knowledge.manage_documents import (
    DeleteDocument,
    DocumentRef,
    GetDocument,
    ListDocuments,
    ListDocumentsInput,
    ReindexDocument,
)
from application.knowledge.search_knowledge import SearchKnowledge, SearchKnowledgeInput
from application.knowledge.upload_documents import UploadDocuments, UploadDocumentsInput, UploadedFile
from domain.common.ids import DocumentId, TenantId
from domain.common.text import NUL
from domain.knowledge.document import DocumentStatus
from domain.knowledge.retrieval import SearchMode
from entrypoints.http.openapi import documented, model_ref
from entrypoints.http.schemas.documents import (
    ChunkingName,
    DocumentPage,
    DocumentResponse,
    ImportUrlBody,
    SearchBody,
    SearchResponse,
    UploadResponse,
)
from entrypoints.http.security import Actor
from entrypoints.settings import Settings

# Multipart framing and form fields on top of the files themselves.
MULTIPART_OVERHEAD_BYTES = 1_048_576


async def upload_size_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The upload route lifts the API-wide body limit; this applies MAX_UPLOAD_BYTES before anything is read.

    The route's limit is configuration, known only once the app runs, hence a guard reading the settings
    rather than a `request_max_body_size` fixed at import. The ASGI server never delivers more than the
    announced Content-Length, so checking the header bounds what the handler can receive.
    """
    settings: Settings = await connection.state.dishka_container.get(Settings)
    declared = connection.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise HTTPException(status_code=411, detail="uploads need a Content-Length header")
    limit = settings.http.max_upload_bytes
    if int(declared) > limit + MULTIPART_OVERHEAD_BYTES:
        raise PayloadTooLarge(
            f"the upload is larger than the {limit} bytes allowed",
            details={"size_bytes": int(declared), "limit_bytes": limit},
        )


# The handler reads the body itself (a form of any number of files, or JSON), so it is described here.
_UPLOAD_BODY = RequestBody(
    required=True,
    content={
        "multipart/form-data": OpenAPIMediaType(
            schema=Schema(
                type=OpenAPIType.OBJECT,
                required=["files"],
                properties={
                    "files": Schema(
                        type=OpenAPIType.ARRAY,
                        items=Schema(type=OpenAPIType.STRING, content_media_type="application/octet-stream"),
                    ),
                    "tags": Schema(type=OpenAPIType.STRING, description="comma-separated, or the field repeated"),
                    "chunking": Schema(type=OpenAPIType.STRING, enum=list(get_args(ChunkingName))),
                },
            )
        ),
        "application/json": OpenAPIMediaType(schema=model_ref(ImportUrlBody)),
    },
)


class DocumentController(Controller):
    path = "/api/tenants/{tenant_id:uuid}/documents"
    tags = ["knowledge base"]

    @post(
        "/",
        summary="Upload documents (multipart, field `files`, one or many) or import a web page (JSON {url})",
        description=(
            "multipart/form-data: any number of file parts (PDF, DOCX, TXT, Markdown, HTML; the type is read from "
            "the content), optional `tags` (repeated or comma-separated) and `chunking` (fixed, recursive, semantic, "
            'qa). application/json: {"url": ..., "tags": [...], "chunking": ...}. Documents start `pending`; '
            "the worker indexes them. Identical content already uploaded comes back with `duplicate: true`."
        ),
        status_code=202,
        guards=[upload_size_guard],
        request_max_body_size=None,
        opt=documented(400, 409, 411, 413, 415, 422, body=_UPLOAD_BODY, models=(ImportUrlBody,)),
    )
    async def upload(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        upload: FromDishka[UploadDocuments],
        import_page: FromDishka[ImportWebPage],
    ) -> UploadResponse:
        media_type, _ = request.content_type
        if media_type == "application/json":
            body = _decode_json(await request.body())
            view = await import_page.execute(
                ImportWebPageInput(
                    actor=actor,
                    tenant_id=TenantId(tenant_id),
                    url=body.url,
                    tags=body.tags,
                    chunking=body.chunking or "",
                )
            )
            return UploadResponse(documents=[DocumentResponse.of(view)])
        if media_type != RequestEncodingType.MULTI_PART:
            raise UnsupportedMediaType(
                "send multipart/form-data with files, or application/json with a url",
                details={"content_type": media_type},
            )
        form = await request.form()
        files: list[UploadedFile] = []
        tags: list[str] = []
        chunking = ""
        try:
            for name, value in form.multi_items():
                if NUL in (value.filename if isinstance(value, UploadFile) else str(value)):
                    # Postgres text cannot hold it (as for JSON bodies, see `Strict`).
                    raise InvalidInput("form fields and file names must not contain NUL (\\u0000) characters")
                if isinstance(value, UploadFile):
                    files.append(UploadedFile(value.filename, value.content_type or None, await value.read()))
                elif name == "tags":
                    tags.extend(tag for tag in str(value).split(","))
                elif name == "chunking":
                    chunking = str(value).strip()
        finally:
            for value in form.values():
                if isinstance(value, UploadFile):
                    await value.close()
        views = await upload.execute(
            UploadDocumentsInput(actor=actor, tenant_id=TenantId(tenant_id), files=files, tags=tags, chunking=chunking)
        )
        return UploadResponse(documents=[DocumentResponse.of(view) for view in views])

    @get("/", summary="List the knowledge base's documents with their indexing status")
    async def list_documents(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        use_case: FromDishka[ListDocuments],
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
        status: Annotated[DocumentStatus | None, Parameter(description="only documents in this state")] = None,
    ) -> DocumentPage:
        page = await use_case.execute(
            ListDocumentsInput(actor=actor, tenant_id=TenantId(tenant_id), limit=limit, cursor=cursor, status=status)
        )
        return DocumentPage(items=[DocumentResponse.of(view) for view in page.items], next_cursor=page.next_cursor)

    @get("/{document_id:uuid}", summary="Get a document and its indexing status")
    async def get_document(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        use_case: FromDishka[GetDocument],
    ) -> DocumentResponse:
        view = await use_case.execute(_ref(actor, tenant_id, document_id))
        return DocumentResponse.of(view)

    @delete("/{document_id:uuid}", summary="Delete a document and its chunks", status_code=204)
    async def delete_document(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        use_case: FromDishka[DeleteDocument],
    ) -> None:
        await use_case.execute(_ref(actor, tenant_id, document_id))

    @post("/{document_id:uuid}/reindex", summary="Parse, chunk and embed a document again", status_code=202)
    async def reindex(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        document_id: FromPath[uuid.UUID],
        use_case: FromDishka[ReindexDocument],
    ) -> DocumentResponse:
        view = await use_case.execute(_ref(actor, tenant_id, document_id))
        return DocumentResponse.of(view)


class KnowledgeSearchController(Controller):
    path = "/api/tenants/{tenant_id:uuid}/search"
    tags = ["knowledge base"]

    @post(
        "/",
        summary="Search the knowledge base (hybrid, keyword or vector) with score breakdown and citations",
        status_code=200,
    )
    async def search(
        self,
        actor: Actor,
        tenant_id: FromPath[uuid.UUID],
        data: JSONBody[SearchBody],
        use_case: FromDishka[SearchKnowledge],
    ) -> SearchResponse:
        result = await use_case.execute(
            SearchKnowledgeInput(
                actor=actor,
                tenant_id=TenantId(tenant_id),
                query=data.query,
                top_k=data.top_k,
                mode=SearchMode(data.mode),
                min_score=data.min_score,
                document_ids=tuple(DocumentId(document_id) for document_id in data.document_ids),
                tags=tuple(data.tags),
            )
        )
        return SearchResponse.of(result)


def _ref(actor: Actor, tenant_id: uuid.UUID, document_id: uuid.UUID) -> DocumentRef:
    return DocumentRef(actor=actor, tenant_id=TenantId(tenant_id), document_id=DocumentId(document_id))


def _decode_json(raw: bytes) -> ImportUrlBody:
    try:
        return msgspec.json.decode(raw, type=ImportUrlBody)
    except msgspec.ValidationError as error:
        raise InvalidInput(f"the request does not match the expected schema: {error}") from error
    except msgspec.DecodeError as error:
        raise ClientException(status_code=400, detail="the request body is not valid JSON") from error
