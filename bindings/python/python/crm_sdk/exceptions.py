"""The exceptions of the CRM SDK.

Every error the SDK raises is a :class:`CrmError` whose ``code`` is the same
string the HTTP server sends in ``error.code`` (``validation``,
``not_found``, ``duplicate_customer``, ``insufficient_points``,
``idempotency_conflict``, ``conflict``, ``unauthorized``, ``unavailable``,
``internal``, ...). Branch on the class or on ``code``.
"""

from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Type

__all__ = [
    "CrmError",
    "NotFoundError",
    "ConflictError",
    "DuplicateCustomerError",
    "InsufficientPointsError",
    "IdempotencyConflictError",
    "ValidationError",
    "UnauthorizedError",
    "UnavailableError",
    "FieldError",
]


class FieldError(NamedTuple):
    """One failing field of a :class:`ValidationError`."""

    field: str
    """The input field (``name``, ``address.city``, ``[3].email`` for row 3 of an import)."""
    rule: str
    """The rule that failed (``required``, ``email``, ``max_length``, ``unknown_field``, ...)."""
    message: str
    """A sentence a person can read."""


def _rebuild(cls: "Type[CrmError]", message: str, state: Dict[str, Any]) -> "CrmError":
    """Recreates a pickled exception (for multiprocessing and Dask)."""
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class CrmError(Exception):
    """Any error of the CRM SDK. ``code`` is the machine code of the failure."""

    code: str
    """The error code, as sent over HTTP (``ErrorCode`` in the Rust core)."""
    reason: Optional[str]
    """Why a conflict happened (``concurrent_change``, ``customer_inactive``, ...); ``None`` otherwise."""

    def __init__(self, message: str, *, code: str = "internal", reason: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


class NotFoundError(CrmError, LookupError):
    """No such customer, purchase, user, ... (code ``not_found``)."""

    def __init__(self, message: str, *, code: str = "not_found", reason: Optional[str] = None) -> None:
        super().__init__(message, code=code, reason=reason)


class ConflictError(CrmError):
    """The operation clashes with stored state (code ``conflict`` or a finer one).

    ``reason`` says which clash: only ``concurrent_change`` may succeed on a
    plain retry.
    """

    def __init__(self, message: str, *, code: str = "conflict", reason: Optional[str] = None) -> None:
        super().__init__(message, code=code, reason=reason)


class DuplicateCustomerError(ConflictError):
    """An active customer already holds this email or phone (code ``duplicate_customer``)."""

    field: str
    """``email`` or ``phone``."""
    existing_customer_code: str
    """The code of the customer that holds it (``RT00000001``)."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "duplicate_customer",
        field: str = "",
        existing_customer_code: str = "",
        reason: Optional[str] = None,
    ) -> None:
        super().__init__(message, code=code, reason=reason)
        self.field = field
        self.existing_customer_code = existing_customer_code


class InsufficientPointsError(ConflictError):
    """A redemption does not fit the available points (code ``insufficient_points``)."""

    requested: int
    """Points asked for."""
    available: int
    """Points available to redeem (0 while the customer is in debt)."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "insufficient_points",
        requested: int = 0,
        available: int = 0,
        reason: Optional[str] = None,
    ) -> None:
        super().__init__(message, code=code, reason=reason)
        self.requested = requested
        self.available = available


class IdempotencyConflictError(ConflictError):
    """An idempotency key (receipt, refund id, reference) was used before for
    another operation (code ``idempotency_conflict``). Use a new key."""

    def __init__(
        self, message: str, *, code: str = "idempotency_conflict", reason: Optional[str] = None
    ) -> None:
        super().__init__(message, code=code, reason=reason)


class ValidationError(CrmError, ValueError):
    """The input broke rules (code ``validation``); ``fields`` lists every failing field."""

    fields: List[FieldError]
    """Every failing field, with its rule and a message."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "validation",
        fields: Optional[List[FieldError]] = None,
        reason: Optional[str] = None,
    ) -> None:
        super().__init__(message, code=code, reason=reason)
        self.fields = list(fields or [])


class UnauthorizedError(CrmError):
    """Credentials were missing or wrong, or the user is disabled (code ``unauthorized``)."""

    def __init__(self, message: str, *, code: str = "unauthorized", reason: Optional[str] = None) -> None:
        super().__init__(message, code=code, reason=reason)


class UnavailableError(CrmError):
    """The database cannot be reached right now (code ``unavailable``).

    Retry later; retry writes with the same idempotency key (receipt, refund
    id, reference), since a write that failed this way may have been applied.
    """

    def __init__(self, message: str, *, code: str = "unavailable", reason: Optional[str] = None) -> None:
        super().__init__(message, code=code, reason=reason)
