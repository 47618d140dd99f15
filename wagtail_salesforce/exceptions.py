"""The package's exceptions: one hierarchy, each Salesforce ``errorCode`` mapped exactly once.

Messages never contain secrets (tokens, consumer secrets); callers may log them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext_lazy as _


class SalesforceError(Exception):
    """Base class of every error raised by wagtail-salesforce."""


class ConfigError(SalesforceError):
    """The YAML configuration is invalid (see ``wagtail_salesforce.config``)."""


# --- connection -----------------------------------------------------------------------------


class NotConnected(SalesforceError):
    """The site has no usable Salesforce connection (not configured, disabled or disconnected)."""


class ReauthorizationRequired(NotConnected):
    """The refresh token was revoked or expired: an administrator must click Connect again."""


class OAuthError(SalesforceError):
    """An OAuth endpoint answered with ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str = "", status: int | None = None) -> None:
        self.error = error
        self.description = description
        self.status = status
        super().__init__(f"{error}: {description}" if description else error)


# --- REST API -------------------------------------------------------------------------------


class ApiError(SalesforceError):
    """Salesforce answered a REST call with an error.

    ``index`` is the record's position in a batch (sObject Collections), else None.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        error_code: str = "UNKNOWN",
        status: int | None = None,
        fields: Sequence[str] = (),
        index: int | None = None,
        content: Any = None,
    ) -> None:
        self.message = message
        self.error_code = error_code
        self.status = status
        self.fields = list(fields)
        self.index = index
        self.content = content
        super().__init__(f"{error_code}: {message}" if error_code else message)


class TransientError(ApiError):
    """Worth retrying later: 5xx, dropped connections, row locks."""

    retryable = True


class NetworkError(TransientError):
    """No HTTP answer at all (connection refused or reset, timeout before sending)."""


class OutcomeUnknown(SalesforceError):
    """A non-idempotent call was sent but its answer was lost: look the record up, then retry."""


class BatchOutcomeUnknown(OutcomeUnknown):
    """A chunked create lost one chunk's answer part-way through a batch.

    ``completed`` holds the per-record results of the chunks answered before it (indexes
    ``0 .. unknown_from - 1``); records ``unknown_from .. unknown_to - 1`` may or may not exist
    (look them up); records from ``unknown_to`` on were not sent.
    """

    def __init__(
        self, message: str, *, completed: Sequence[Any], unknown_from: int, unknown_to: int
    ) -> None:
        self.completed = list(completed)
        self.unknown_from = unknown_from
        self.unknown_to = unknown_to
        super().__init__(message)


class TLSVerificationFailed(SalesforceError):
    """The server's TLS certificate is not trusted (see the ``CA_FILE`` setting). Not retried."""


class SessionExpired(ApiError):
    """401 INVALID_SESSION_ID: the client refreshes once and repeats the call."""


class ApiLimitExceeded(ApiError):
    """403 REQUEST_LIMIT_EXCEEDED: the daily API requests are spent; pause, do not retry now."""


class BudgetExhausted(ApiLimitExceeded):
    """The plugin's own API budget holds this call back; nothing was sent to Salesforce.

    Raised by the client before a call when the org's usage (everyone's, as ``Sforce-Limit-Info``
    reports it) has reached what the budget lets this kind of work spend (see
    ``wagtail_salesforce.client.budget``). A subclass of :class:`ApiLimitExceeded` so every
    caller that pauses on the org's limit pauses on the budget the same way; its ``status`` is
    403, the status Salesforce refuses a call past the limit with, so code that tells "stop the
    batch, keep the records for later" by status treats both alike.
    """

    code = "API_BUDGET_EXHAUSTED"

    def __init__(self, message: str, *, priority: str = "", used: int = 0, budget: int = 0) -> None:
        self.priority = priority
        self.used = used
        self.budget = budget
        super().__init__(message, error_code=self.code, status=403)


class InsufficientAccess(ApiError):
    """403 other than the API limit: the Salesforce user lacks access."""


class ApiDisabledForOrg(InsufficientAccess):
    """403 API_DISABLED_FOR_ORG: the org's edition has no API access (Salesforce says "The REST
    API is not enabled for this Organization."). OAuth still works, so Connect succeeds and then
    every call fails; ``explanation`` says why in plain words, with the fix."""

    explanation = _(
        "This Salesforce org does not include API access, so the site cannot send it leads. "
        "Salesforce includes the API in Enterprise, Unlimited, Performance and Developer "
        "Edition; a Professional Edition org needs the API add-on, bought from Salesforce. "
        "Once the org has API access, the connected user's profile also needs the "
        "\"API Enabled\" permission."
    )


class NotFound(ApiError):
    """404: the record or resource does not exist (or was deleted)."""


class RecordRejected(ApiError):
    """A permanent, record-level error (validation): retrying the same data fails the same way."""


class DuplicateDetected(RecordRejected):
    """An active duplicate rule blocked the save (DUPLICATES_DETECTED)."""


class DuplicateValue(RecordRejected):
    """A unique value already exists, e.g. "Already a campaign member." (DUPLICATE_VALUE)."""


class ConvertedLead(RecordRejected):
    """The lead was converted and can no longer be updated (CANNOT_UPDATE_CONVERTED_LEAD)."""


class MultipleMatches(ApiError):
    """300: an upsert's external ID matched several records."""


class QueryError(ApiError):
    """The SOQL query was rejected (MALFORMED_QUERY, INVALID_FIELD in a query, ...)."""


# errorCode -> exception class. Codes not listed fall back by HTTP status (see ``error_class``).
ERROR_CODES: dict[str, type[ApiError]] = {
    "INVALID_SESSION_ID": SessionExpired,
    "REQUEST_LIMIT_EXCEEDED": ApiLimitExceeded,
    "INSUFFICIENT_ACCESS": InsufficientAccess,
    "INSUFFICIENT_ACCESS_OR_READONLY": InsufficientAccess,
    "API_DISABLED_FOR_ORG": ApiDisabledForOrg,
    "NOT_FOUND": NotFound,
    "ENTITY_IS_DELETED": NotFound,
    "INVALID_ID_FIELD": NotFound,
    "MALFORMED_ID": RecordRejected,
    "MALFORMED_QUERY": QueryError,
    "INVALID_QUERY_FILTER_OPERATOR": QueryError,
    "INVALID_QUERY_LOCATOR": QueryError,
    "INVALID_TYPE": QueryError,
    "INVALID_FIELD": RecordRejected,
    "REQUIRED_FIELD_MISSING": RecordRejected,
    "STRING_TOO_LONG": RecordRejected,
    "INVALID_EMAIL_ADDRESS": RecordRejected,
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": RecordRejected,
    "INVALID_CROSS_REFERENCE_KEY": RecordRejected,
    "INVALID_FIELD_FOR_INSERT_UPDATE": RecordRejected,
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": RecordRejected,
    "FIELD_INTEGRITY_EXCEPTION": RecordRejected,
    "INVALID_TYPE_ON_FIELD_IN_RECORD": RecordRejected,
    "JSON_PARSER_ERROR": RecordRejected,
    "DUPLICATE_VALUE": DuplicateValue,
    "DUPLICATES_DETECTED": DuplicateDetected,
    "CANNOT_UPDATE_CONVERTED_LEAD": ConvertedLead,
    "UNABLE_TO_LOCK_ROW": TransientError,
    "SERVER_UNAVAILABLE": TransientError,
    "ALL_OR_NONE_OPERATION_ROLLED_BACK": TransientError,
}


def error_class(error_code: str | None, status: int | None) -> type[ApiError]:
    """The exception class for a Salesforce ``errorCode``, falling back on the HTTP status."""
    if error_code and error_code in ERROR_CODES:
        return ERROR_CODES[error_code]
    if status is None:
        return ApiError
    if status == 300:
        return MultipleMatches
    if status == 401:
        return SessionExpired
    if status == 403:
        return InsufficientAccess
    if status == 404:
        return NotFound
    if status >= 500:
        return TransientError
    if status == 400:
        return RecordRejected
    return ApiError


def api_error(
    error_code: str | None,
    message: str,
    *,
    status: int | None = None,
    fields: Sequence[str] = (),
    index: int | None = None,
    content: Any = None,
) -> ApiError:
    """Build the right exception for one Salesforce error entry."""
    cls = error_class(error_code, status)
    return cls(
        message,
        error_code=error_code or "UNKNOWN",
        status=status,
        fields=fields,
        index=index,
        content=content,
    )
