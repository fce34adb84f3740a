"""Request errors: one exception type carrying HTTP status, machine-readable code and the field at fault.

Core server code raises `RequestError`; `server.app` maps it (and pydantic's, and routing's) to
`{"error": {"code", "field", "message"}, "model": {...}}` in one place.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class RequestError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "field": self.field, "message": self.message}


def field_path(loc: tuple, prefix: str = "") -> str:
    """('bids', 3, 0) -> 'bids[3][0]'; a prefix like 'snapshots[2]' comes first."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def from_validation_error(err: ValidationError) -> RequestError:
    """The first pydantic error as a RequestError: JSON syntax -> 400, anything else -> 422."""
    first = err.errors(include_url=False)[0]
    kind = first["type"]
    if kind == "json_invalid":
        return RequestError(400, "malformed_json", f"body is not valid JSON: {first['msg']}", None)
    where = field_path(tuple(first["loc"]))
    count = err.error_count()
    more = f" (and {count - 1} more error{'s' if count > 2 else ''})" if count > 1 else ""
    return RequestError(422, kind, f"{where or 'body'}: {first['msg']}{more}", where or None)


def parse_body(model: type[Model], body: bytes) -> Model:
    """A JSON body as `model`; refused as a RequestError (400 or 422) naming the first field at fault."""
    try:
        return model.model_validate_json(body)
    except ValidationError as err:
        raise from_validation_error(err) from None
