"""The sandbox's API error: Salesforce's REST ``[{message, errorCode, fields}]`` as an exception."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SfApiError(Exception):
    """A Salesforce REST error: HTTP ``status``, ``error_code``, ``message`` and ``fields``.

    For an upsert whose external id matches several records (status 300), ``record_urls`` lists
    the matching records' URLs, which is the body Salesforce returns in that case.
    """

    def __init__(
        self, status: int, error_code: str, message: str, fields: Sequence[str] = ()
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = list(fields)
        self.record_urls: list[str] = []

    def to_json(self) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields:
            body["fields"] = list(self.fields)
        return [body]


def api_error(
    status: int, code: str, message: str, fields: Sequence[str] = ()
) -> SfApiError:
    """Shorthand for ``SfApiError(status, code, message, fields)`` where errors are raised."""
    return SfApiError(status, code, message, fields)
