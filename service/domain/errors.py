"""The base of every error the domain raises for input a user can fix."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the domain was broken.

    ``code`` is machine-readable (it becomes a GraphQL ``UserErrorCode``),
    ``message`` says what is wrong and how to fix it, ``details`` carries the
    names and numbers involved as JSON-ready data (and ``field``, the input at
    fault, when known). The allocation errors (``service.domain.allocation``)
    put the child keys under ``details["children"]`` and amounts as ``int``.
    """

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"code": ..., "message": ..., "details": {...}}``."""
        return {"code": self.code, "message": self.message, "details": dict(self.details)}


class InvalidInputError(DomainError):
    """Input that breaks a rule the user can fix; ``field`` names the input."""

    def __init__(self, code: str, message: str, field: str | None = None, **details: object):
        super().__init__(code=code, message=message, details={"field": field, **details})
        self.field = field
