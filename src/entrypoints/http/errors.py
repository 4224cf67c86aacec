"""The one place where errors become HTTP responses: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
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


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    return Response(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _application_error(_: Request[Any, Any, Any], error: ApplicationError) -> Response[dict[str, Any]]:
    status = next((code for kind, code in _STATUS.items() if isinstance(error, kind)), 400)
    headers = {"Retry-After": str(error.retry_after_seconds)} if isinstance(error, RateLimited) else None
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
