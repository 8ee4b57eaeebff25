"""The base of every error the domain raises for input a user can fix."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the domain was broken.

    ``code`` is machine-readable (it becomes a GraphQL ``UserErrorCode``),
    ``message`` says what is wrong and how to fix it, ``details`` carries the
    names and numbers involved (and ``field``, the input at fault, when known).
    """

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return self.message
