"""Domain errors carry a stable machine-readable code; the HTTP layer maps them to status codes."""

from typing import Any


class DomainError(Exception):
    """An invariant of the domain was violated by the caller's input (maps to 422)."""

    code = "invalid"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvariantViolation(DomainError):
    code = "invariant_violation"
