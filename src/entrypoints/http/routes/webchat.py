"""Web chat over HTTP: the public session endpoint the widget's loader calls from the tenant's page
(cross-origin, so it answers CORS itself), and the built widget files."""

from __future__ import annotations

from typing import Any

from dishka import FromDishka
from litestar import Request, Response, get, post, route
from litestar.enums import HttpMethod
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT, HTTP_304_NOT_MODIFIED, HTTP_404_NOT_FOUND

from application.errors import Forbidden, NotFound, RateLimited
from application.webchat.start_session import StartWebChatSession, StartWebChatSessionInput
from entrypoints.http.errors import error_response
from entrypoints.http.openapi import documented
from entrypoints.http.schemas.webchat import StartWebChatSessionBody, WebChatSessionResponse
from entrypoints.http.security import limit_public
from entrypoints.http.widget_assets import WidgetAsset, WidgetAssets

SESSIONS_PATH = "/api/webchat/sessions"
SOCKET_PATH = "/ws/webchat"
# A page load asks once, then refreshes every ~12 minutes; this leaves room for many visitors behind one NAT.
SESSIONS_PER_MINUTE_PER_IP = 60
# The chat frame runs only its own script and talks only to the platform: a message that slipped markup
# past the renderer still could not run or send anything anywhere. Any site may frame it.
FRAME_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src https: http: data:; base-uri 'none'; form-action 'none'; frame-ancestors *"
)


_REFUSALS: dict[type[Exception], int] = {Forbidden: 403, NotFound: 404, RateLimited: 429}


def _cors(origin: str | None) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


@route(SESSIONS_PATH, http_method=[HttpMethod.OPTIONS], include_in_schema=False, name="webchat_sessions_preflight")
async def webchat_sessions_preflight(request: Request[Any, Any, Any]) -> Response[None]:
    # Which origins may embed a widget depends on the widget id in the body, which a preflight does not
    # carry: every origin may ask, and the POST itself is refused for origins the channel does not allow.
    return Response(
        None,
        status_code=HTTP_204_NO_CONTENT,
        headers={
            **_cors(request.headers.get("origin")),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "content-type",
            "Access-Control-Max-Age": "600",
        },
    )


@post(
    SESSIONS_PATH,
    summary="Start a web chat session (public: called by the widget)",
    tags=["webchat"],
    opt=documented(403, 404, 429),
)
async def start_webchat_session(
    request: Request[Any, Any, Any],
    data: JSONBody[StartWebChatSessionBody],
    use_case: FromDishka[StartWebChatSession],
) -> Response[Any]:
    """Checks the page's Origin against the widget's allowed origins and returns a token for
    `/ws/webchat?token=…`, valid for 15 minutes; ask again (with the same visitorId) before it expires."""
    origin = request.headers.get("origin")
    try:
        await limit_public(request, "webchat-sessions", SESSIONS_PER_MINUTE_PER_IP)
        view = await use_case.execute(
            StartWebChatSessionInput(widget_id=data.widget_id, origin=origin, visitor_id=data.visitor_id)
        )
    except (Forbidden, NotFound, RateLimited) as error:
        # Readable by the page, so the loader stops (or waits) instead of retrying blindly.
        status, headers = _REFUSALS[type(error)], _cors(origin)
        if isinstance(error, RateLimited):
            headers["Retry-After"] = str(error.retry_after_seconds)
        return error_response(status, error.code, error.message, error.details, headers)
    return Response(
        WebChatSessionResponse.of(view, SOCKET_PATH),
        status_code=200,
        headers={**_cors(origin), "Cache-Control": "no-store"},
    )


@get("/widget/loader.js", include_in_schema=False, name="widget_loader")
async def widget_loader(request: Request[Any, Any, Any], assets: FromDishka[WidgetAssets]) -> Response[Any]:
    return _serve(request, assets.loader())


@get("/widget/v/{version:str}/{name:str}", include_in_schema=False, name="widget_file")
async def widget_file(
    request: Request[Any, Any, Any], version: FromPath[str], name: FromPath[str], assets: FromDishka[WidgetAssets]
) -> Response[Any]:
    return _serve(request, assets.versioned(version, name))


def _serve(request: Request[Any, Any, Any], asset: WidgetAsset | None) -> Response[Any]:
    if asset is None:
        return error_response(HTTP_404_NOT_FOUND, "not_found", "no such widget file")
    headers = {"Cache-Control": asset.cache_control, "ETag": asset.etag, "X-Content-Type-Options": "nosniff"}
    if asset.media_type.startswith("text/html"):
        headers["Content-Security-Policy"] = FRAME_POLICY
    if request.headers.get("if-none-match") == asset.etag:
        return Response(None, status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


WEBCHAT_HANDLERS = [webchat_sessions_preflight, start_webchat_session, widget_loader, widget_file]
