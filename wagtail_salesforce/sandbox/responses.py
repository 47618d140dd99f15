"""API answers before HTTP framing, shared by the REST and Bulk API handlers.

:mod:`server` turns an :class:`ApiResponse` into bytes on the wire and adds the headers every
REST answer carries (``Sforce-Limit-Info``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import SfApiError, api_error

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"


@dataclass
class ApiResponse:
    """A response before framing: a JSON ``payload`` or ``raw`` bytes with a content type."""

    status: int
    payload: Any = None
    raw: bytes | None = None
    content_type: str = JSON_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.status == 204 or (self.payload is None and self.status != 200):
            return b""
        return json.dumps(self.payload, separators=(",", ":")).encode("utf-8")


def error_response(error: SfApiError) -> ApiResponse:
    """Salesforce's answer for ``error``: the error array, or the matching record URLs (300)."""
    if error.status == 300:
        return ApiResponse(300, list(error.record_urls))
    return ApiResponse(error.status, error.to_json())


def not_found_response() -> ApiResponse:
    return error_response(api_error(404, "NOT_FOUND", "The requested resource does not exist"))
