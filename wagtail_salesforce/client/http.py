"""The HTTP layer under simple-salesforce: one ``requests.Session`` per client.

The transport adapter enforces TLS verification against the configured CA file (whatever the
caller or the environment asks for), applies default timeouts, counts API calls and reads
``Sforce-Limit-Info`` from every answer. It also tells apart failures where the request never
left this machine from failures where it was sent but no answer came back, because only the
former make a non-idempotent create safe to repeat.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError

logger = logging.getLogger(__name__)

Timeout = float | tuple[float, float]

_LIMIT_INFO = re.compile(r"(?:^|[;,\s])api-usage=(?P<used>\d+)/(?P<max>\d+)")


def parse_limit_info(header: str | None) -> tuple[int, int] | None:
    """``(used, max)`` from a ``Sforce-Limit-Info`` header such as ``api-usage=18/15000``."""
    if not header:
        return None
    match = _LIMIT_INFO.search(header)
    if match is None:
        return None
    return int(match.group("used")), int(match.group("max"))


def counts_as_api_call(path: str, status: int) -> bool:
    """Whether Salesforce counts this answered request against the org's daily API requests.

    OAuth endpoints are not API calls. Requests turned away before any work is done are not
    counted either: 401 (no valid session), 403 (the daily limit is spent, or no access) and 5xx
    (the server could not take the request). Everything else under the REST API is: a composite
    request once, each queryMore page once, a validation error once.
    """
    if path.startswith("/services/oauth2/"):
        return False
    return status not in (401, 403) and status < 500


def loggable_path(path: str) -> str:
    """``path`` fit for logs: an external-ID value (``/sobjects/Lead/Email__c/<value>``) may be
    personal data, so it is replaced by ``...``. (Query strings are never logged at all.)"""
    parts = path.split("/")
    if "sobjects" in parts:
        value_at = parts.index("sobjects") + 3
        if len(parts) > value_at and parts[value_at]:
            parts[value_at:] = ["..."]
    return "/".join(parts)


@dataclass(frozen=True)
class ResponseInfo:
    """What the transport reports to its observer about one answered request."""

    method: str
    path: str
    status: int
    counted: bool
    api_usage: tuple[int, int] | None


class RequestNotSent(requests.ConnectionError):
    """The connection could not be made: Salesforce never saw the request (safe to repeat)."""


class ResponseLost(requests.ConnectionError):
    """The request was sent but no (complete) answer came back: its outcome is unknown."""


class TLSVerificationError(requests.ConnectionError):
    """The server's certificate was not trusted (or the TLS handshake failed)."""


def classify_transport_error(error: requests.RequestException) -> requests.RequestException:
    """Re-label a requests failure by whether the request could have reached Salesforce."""
    if isinstance(error, RequestNotSent | ResponseLost | TLSVerificationError):
        return error
    if isinstance(error, requests.exceptions.SSLError):
        return TLSVerificationError(*error.args, request=error.request)
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return RequestNotSent(*error.args, request=error.request)
    if isinstance(error, requests.exceptions.ConnectionError):
        reason = error.args[0] if error.args else None
        # requests wraps a failed connect in MaxRetryError; a failure after sending (reset,
        # remote disconnect) arrives as urllib3's ProtocolError or an OSError instead.
        if isinstance(reason, MaxRetryError):
            return RequestNotSent(*error.args, request=error.request)
        return ResponseLost(*error.args, request=error.request)
    # A garbled body is as good as no answer: a create behind it may well have been saved.
    if isinstance(
        error,
        requests.exceptions.ReadTimeout
        | requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError
        | requests.exceptions.JSONDecodeError,
    ):
        return ResponseLost(*error.args, request=error.request)
    return error


class SalesforceTransport(HTTPAdapter):
    """An ``HTTPAdapter`` that always verifies TLS against ``verify`` and reports each answer."""

    def __init__(
        self,
        *,
        verify: str | bool,
        timeout: Timeout,
        observer: Callable[[ResponseInfo], None] | None = None,
    ) -> None:
        if verify is False:
            raise ValueError("TLS verification cannot be turned off for Salesforce")
        self._verify = verify
        self._timeout = timeout
        self._observer = observer
        super().__init__()

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Timeout | None = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        path = urlsplit(request.url or "").path
        log_path = loggable_path(path)
        started = time.monotonic()
        try:
            # The caller's `verify` is ignored on purpose: REQUESTS_CA_BUNDLE or a stray
            # verify=False must never weaken the trust we were configured with.
            response = super().send(
                request,
                stream=stream,
                timeout=timeout if timeout is not None else self._timeout,
                verify=self._verify,
                cert=cert,
                proxies=proxies,
            )
        except requests.RequestException as error:
            # Paths only: query strings carry SOQL with personal data.
            logger.info(
                "Salesforce %s %s failed: %s", request.method, log_path, type(error).__name__
            )
            raise classify_transport_error(error) from error
        counted = counts_as_api_call(path, response.status_code)
        info = ResponseInfo(
            method=request.method or "",
            path=path,
            status=response.status_code,
            counted=counted,
            api_usage=parse_limit_info(response.headers.get("Sforce-Limit-Info")),
        )
        logger.debug(
            "Salesforce %s %s -> %s in %.0f ms",
            request.method,
            log_path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if self._observer is not None:
            self._observer(info)
        return response


def build_session(
    *,
    ca_file: str | None,
    timeout: Timeout,
    observer: Callable[[ResponseInfo], None] | None = None,
    session: requests.Session | None = None,
) -> requests.Session:
    """A session whose every HTTP(S) request goes through a :class:`SalesforceTransport`."""
    session = session if session is not None else requests.Session()
    verify: str | bool = ca_file if ca_file else True
    session.verify = verify
    transport = SalesforceTransport(verify=verify, timeout=timeout, observer=observer)
    session.mount("https://", transport)
    session.mount("http://", transport)
    return session
