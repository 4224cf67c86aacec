"""The one place where errors become HTTP responses: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from application.errors import (
    ApplicationError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from domain.common.errors import DomainError
from domain.common.text import NUL

logger = logging.getLogger(__name__)

_STATUS: dict[type[ApplicationError], int] = {
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    InvalidInput: 422,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    RateLimited: 429,
    ServiceUnavailable: 503,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    503: "service_unavailable",
}

# What each error status means on this API, for the OpenAPI document.
ERROR_DESCRIPTIONS = {
    400: "The body could not be read (not JSON, or not the payload this endpoint takes)",
    401: "No API key, or one that is unknown, revoked or expired (webhooks: no signature)",
    403: "The key may not do this, or not for this tenant (webhooks: a wrong signature)",
    404: "No such tenant, resource or route",
    409: "Conflicts with the current state (a name taken, a closed conversation, …)",
    411: "The upload does not say its Content-Length",
    413: "The body is larger than this endpoint accepts",
    415: "The body's content type is not one this endpoint reads",
    422: "The request is well formed but its values are not valid (see details)",
    429: "Rate limit exceeded; Retry-After says when to try again",
}

# The body of every error response (`error_response`).
ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["error"],
    properties={
        "error": Schema(
            type=OpenAPIType.OBJECT,
            required=["code", "message", "details"],
            properties={
                "code": Schema(type=OpenAPIType.STRING, description="Stable, machine-readable, e.g. validation_failed"),
                "message": Schema(type=OpenAPIType.STRING, description="What is wrong, for a person"),
                "details": Schema(
                    type=OpenAPIType.OBJECT,
                    additional_properties=True,
                    description="Which field, which limit, … (an object, often empty)",
                ),
            },
        )
    },
    examples=[{"error": {"code": "not_found", "message": "no such tenant", "details": {}}}],
)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    return Response(error_body(code, message, details), status_code=status, media_type=MediaType.JSON, headers=headers)


def application_error_status(error: ApplicationError) -> tuple[int, dict[str, str] | None]:
    """The status and extra headers an application error is answered with."""
    status = next((code for kind, code in _STATUS.items() if isinstance(error, kind)), 400)
    headers = {"Retry-After": str(error.retry_after_seconds)} if isinstance(error, RateLimited) else None
    return status, headers


async def refuse_nul_in_url(request: Request[Any, Any, Any]) -> Response[dict[str, Any]] | None:
    """`before_request`: a NUL character (%00) in the path or query cannot name anything here, and Postgres
    text or a file name cannot hold one; refused before a handler passes it on. (Bodies: `Strict`.)"""
    if NUL in request.scope["path"]:
        return error_response(404, "not_found", "no such resource")
    if b"%00" in request.scope["query_string"]:
        return error_response(
            422, "validation_failed", "query parameters must not contain NUL (%00) characters", {"source": "query"}
        )
    return None


def _application_error(_: Request[Any, Any, Any], error: ApplicationError) -> Response[dict[str, Any]]:
    status, headers = application_error_status(error)
    return error_response(status, error.code, error.message, error.details, headers)


def _domain_error(_: Request[Any, Any, Any], error: DomainError) -> Response[dict[str, Any]]:
    return error_response(422, error.code, error.message, error.details)


def _validation_error(_: Request[Any, Any, Any], error: ValidationException) -> Response[dict[str, Any]]:
    detail = str(error.detail)
    extra = error.extra if isinstance(error.extra, list) else []
    if "malformed" in detail.lower() or "json is malformed" in str(extra).lower():
        return error_response(400, "malformed_json", "the request body is not valid JSON", {"errors": extra})
    return error_response(
        422,
        "validation_failed",
        "the request does not match the expected schema",
        {"errors": _jsonable(extra)},
    )


def _http_error(_: Request[Any, Any, Any], error: HTTPException) -> Response[dict[str, Any]]:
    status = error.status_code
    headers = dict(error.headers) if error.headers else None
    if status == 400:
        # Litestar raises a bare 400 when the body cannot be decoded at all.
        return error_response(400, "malformed_request", f"the request could not be read: {error.detail}", None, headers)
    return error_response(status, _HTTP_CODES.get(status, "http_error"), str(error.detail), None, headers)


def _unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    logger.exception("unhandled error", extra={"route": request.url.path})
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "an unexpected error occurred")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    ApplicationError: _application_error,
    DomainError: _domain_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
