"""The base of Quark's errors and one base class per HTTP status.

``quark.api.faults`` maps these bases to statuses; the leaves, whose class
names are the wire ``type``, are in ``quark.errors``, which re-exports these
(callers name every error ``errors.X``).
"""

from __future__ import annotations

from typing import Any


class QuarkError(Exception):
    """Base of every error that reaches a client with a 4xx/5xx."""

    message = "An unknown exception occurred."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.message.format(**kwargs)
            except (KeyError, IndexError):  # a template bug must not hide the error
                message = self.message
        self.msg = message
        super().__init__(message)

    @property
    def type_name(self) -> str:
        return getattr(self, "wire_type", None) or type(self).__name__


# --- base classes (one HTTP status each) -------------------------------------


class BadRequest(QuarkError):
    message = "Bad {resource} request: {msg}."


class NotAuthorized(QuarkError):
    message = "Not authorized."


class NotFound(QuarkError):
    message = "An unknown exception occurred."


class Conflict(QuarkError):
    message = "A conflict occurred."


class InUse(Conflict):
    message = "The resource is in use."


class UnprocessableEntity(QuarkError):
    message = "The request cannot be processed."


class PreconditionFailed(QuarkError):
    message = "Precondition failed."


class RequestEntityTooLarge(QuarkError):
    message = "Request is too large."


class ServiceUnavailable(QuarkError):
    message = "The service is unavailable."


class MethodNotAllowed(QuarkError):
    message = "The method is not allowed for the requested URL."
