"""Errors a use case reports; the HTTP layer maps each class to one status code."""

from typing import Any


class ApplicationError(Exception):
    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(ApplicationError):
    code = "not_found"


class Conflict(ApplicationError):
    code = "conflict"


class Unauthorized(ApplicationError):
    code = "unauthorized"


class Forbidden(ApplicationError):
    code = "forbidden"


class InvalidInput(ApplicationError):
    code = "invalid_input"


class PayloadTooLarge(ApplicationError):
    code = "payload_too_large"


class UnsupportedMediaType(ApplicationError):
    code = "unsupported_media_type"


class RateLimited(ApplicationError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message, details={"retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class ServiceUnavailable(ApplicationError):
    """A dependency (database, broker, provider) is down; the caller may retry later."""

    code = "service_unavailable"
