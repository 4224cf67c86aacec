"""A tenant adds a web page to its knowledge base by URL: fetched once, then handled like an upload."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import attrs

from application.auth import Principal
from application.errors import InvalidInput
from application.knowledge.upload_documents import UploadDocuments, UploadDocumentsInput, UploadedFile, UploadLimits
from application.knowledge.views import DocumentView
from application.ports.web_pages import WebPageFetcher
from domain.common.ids import TenantId
from domain.tenants.api_key import Scope

MAX_URL_LENGTH = 2048


@attrs.frozen
class ImportWebPageInput:
    actor: Principal
    tenant_id: TenantId
    url: str
    tags: Sequence[str] = ()
    chunking: str = ""


class ImportWebPage:
    def __init__(self, fetcher: WebPageFetcher, upload: UploadDocuments, limits: UploadLimits) -> None:
        self._fetcher = fetcher
        self._upload = upload
        self._limits = limits

    async def execute(self, data: ImportWebPageInput) -> DocumentView:
        # Checked before fetching: a caller without the right must not make us reach out anywhere.
        data.actor.require(Scope.WRITE, data.tenant_id)
        url = data.url.strip()
        parts = urlsplit(url)
        if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("url must be an absolute http(s) URL", details={"field": "url"})
        page = await self._fetcher.fetch(url, self._limits.max_file_bytes)
        path_name = urlsplit(page.url).path.rstrip("/").rsplit("/", 1)[-1]
        filename = path_name or urlsplit(page.url).hostname or "page"
        views = await self._upload.execute(
            UploadDocumentsInput(
                actor=data.actor,
                tenant_id=data.tenant_id,
                files=[UploadedFile(filename=filename, content_type=page.content_type, data=page.content)],
                tags=data.tags,
                chunking=data.chunking,
                source_url=page.url,
            )
        )
        return views[0]
