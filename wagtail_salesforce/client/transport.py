"""How the client reaches Salesforce: session, TLS, retries, error mapping and call counting.

Two layers live here.

* The **session** (:func:`build_session`, :func:`configured_session`): a ``requests.Session``
  whose adapter verifies TLS against the configured CA file (whatever the caller or the
  environment asks for), applies default timeouts, reads ``Sforce-Limit-Info`` from every answer
  and tells an observer about each one. It also tells apart failures where the request never left
  this machine from failures where it was sent but no answer came back, because only the former
  make a non-idempotent create safe to repeat. The OAuth module makes its requests through the
  same session factory, so TLS, timeouts and network errors behave alike everywhere.
* The **transport** (:class:`Transport`): one connection's calls. It binds simple-salesforce to
  the session, sends each call with the access token current at that moment, refreshes once on
  an expired session, retries transient failures with jittered backoff, translates every failure
  into :mod:`wagtail_salesforce.exceptions` and counts the calls the way Salesforce does.

Retry rules. An *answer* from Salesforce that is transient (5xx, ``UNABLE_TO_LOCK_ROW``) means the
save was rolled back, so any call may be repeated, a create included. A request that never left
this machine (connection refused, connect timeout) may be repeated too. A request that was sent
but whose answer was lost (read timeout, connection reset) is repeated only when it is idempotent
(GET, PATCH update/upsert, DELETE, queries); a lost create raises :class:`OutcomeUnknown` so the
caller looks the record up instead of creating a duplicate.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError
from urllib3.exceptions import MaxRetryError

from wagtail_salesforce import conf
from wagtail_salesforce.core.backoff import backoff_delay
from wagtail_salesforce.exceptions import (
    ApiError,
    MultipleMatches,
    NetworkError,
    OutcomeUnknown,
    ReauthorizationRequired,
    SalesforceError,
    SessionExpired,
    TLSVerificationFailed,
    TransientError,
    api_error,
)
from wagtail_salesforce.observability import get_logger

from .budget import ApiBudget

logger = get_logger(__name__)

T = TypeVar("T")

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
    """What the session reports to its observer about one answered request."""

    method: str
    path: str
    status: int
    counted: bool
    api_usage: tuple[int, int] | None


# --- failures before an answer ----------------------------------------------------------------


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


def failure_from_transport(
    error: requests.RequestException, *, operation: str, idempotent: bool
) -> SalesforceError:
    """Our exception for a request that got no usable answer (TLS, network, lost answer).

    Messages name the host (never a path or query: those may carry personal data).
    """
    error = classify_transport_error(error)
    host = urlsplit(getattr(error.request, "url", None) or "").netloc or "Salesforce"
    if isinstance(error, TLSVerificationError):
        return TLSVerificationFailed(
            f"The TLS certificate of {host} is not trusted (check WAGTAIL_SALESFORCE['CA_FILE'])."
        )
    if isinstance(error, RequestNotSent):
        return NetworkError(f"Could not connect to {host}.", error_code="CONNECTION_FAILED")
    if isinstance(error, ResponseLost) and not idempotent:
        return OutcomeUnknown(
            f"{operation} was sent to {host} but its answer was lost; "
            "look the record up before trying again."
        )
    if isinstance(error, ResponseLost):
        return NetworkError(f"The answer from {host} was lost.", error_code="RESPONSE_LOST")
    return NetworkError(
        f"HTTP failure talking to {host} ({type(error).__name__}).", error_code="HTTP_FAILURE"
    )


# --- error answers ------------------------------------------------------------------------------


def _error_entries(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        return [entry for entry in content if isinstance(entry, dict)]
    return []


def error_from_response(status: int, content: Any) -> ApiError:
    """Our exception for an error answer (``content`` is the decoded body, or its text)."""
    entries = _error_entries(content)
    if status == 300:
        return MultipleMatches(
            "The external ID matches more than one record.",
            error_code="MULTIPLE_CHOICES",
            status=status,
            content=content,
        )
    if entries:
        first = entries[0]
        # sObject Collections say "statusCode" where the rest of the REST API says "errorCode".
        return api_error(
            first.get("errorCode") or first.get("statusCode"),
            str(first.get("message") or ""),
            status=status,
            fields=first.get("fields") or (),
            content=content,
        )
    return api_error(None, f"Salesforce answered HTTP {status}.", status=status, content=content)


def _decoded_body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


# --- the session --------------------------------------------------------------------------------


class SalesforceAdapter(HTTPAdapter):
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
        logger.debug(
            "Salesforce %s %s -> %s in %.0f ms",
            request.method,
            log_path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if self._observer is not None:
            self._observer(
                ResponseInfo(
                    method=request.method or "",
                    path=path,
                    status=response.status_code,
                    counted=counts_as_api_call(path, response.status_code),
                    api_usage=parse_limit_info(response.headers.get("Sforce-Limit-Info")),
                )
            )
        return response


def build_session(
    *,
    ca_file: str | None,
    timeout: Timeout,
    observer: Callable[[ResponseInfo], None] | None = None,
    session: requests.Session | None = None,
) -> requests.Session:
    """A session whose every HTTP(S) request goes through a :class:`SalesforceAdapter`."""
    session = session if session is not None else requests.Session()
    verify: str | bool = ca_file if ca_file else True
    session.verify = verify
    adapter = SalesforceAdapter(verify=verify, timeout=timeout, observer=observer)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def default_timeout() -> Timeout:
    """The ``TIMEOUT`` setting: seconds, or ``(connect, read)``."""
    value = conf.get("TIMEOUT")
    if isinstance(value, list | tuple):
        connect, read = value
        return (float(connect), float(read))
    return float(value)


def configured_session() -> requests.Session:
    """A session with the configured trust (``CA_FILE``) and timeouts, for one-off requests
    such as the OAuth endpoints'. Settings are read now, so a test's settings apply."""
    return build_session(ca_file=conf.get("CA_FILE"), timeout=default_timeout())


# --- backoff ------------------------------------------------------------------------------------


def retry_delay(retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (1 for the first) of one call.

    Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**(retry - 1))]``
    with ``base`` = ``RETRY_BACKOFF_SECONDS`` and ``cap`` = ``RETRY_BACKOFF_MAX_SECONDS``.
    Full jitter spreads the retries of many workers hit by the same outage. This is the
    client's only retry delay; the formula is the plugin's one, in ``core.backoff``.
    """
    return backoff_delay(
        retry,
        base=float(conf.get("RETRY_BACKOFF_SECONDS")),
        cap=float(conf.get("RETRY_BACKOFF_MAX_SECONDS")),
    )


# --- one connection's calls ---------------------------------------------------------------------


class Credentials(Protocol):
    """What the client needs from a connection (``wagtail_salesforce.connection`` provides one)."""

    @property
    def connection_key(self) -> str:
        """A short, non-secret label for logs and counters."""
        ...

    @property
    def instance_url(self) -> str: ...

    @property
    def access_token(self) -> str: ...

    @property
    def api_version(self) -> str:
        """e.g. ``"62.0"``."""
        ...

    def refresh(self, stale_access_token: str) -> None:
        """Obtain a new access token, unless another process already replaced the stale one.

        Raises :class:`ReauthorizationRequired` on ``invalid_grant`` (and marks the connection).
        """
        ...

    def record_api_usage(self, used: int, limit: int) -> None:
        """Called with the org's usage whenever an answer carries ``Sforce-Limit-Info``."""
        ...


def api_version(version: str) -> str:
    """``"62.0"`` from ``"62.0"`` or ``"v62.0"``; ``ValueError`` for anything else."""
    version = version.removeprefix("v")
    if not re.fullmatch(r"\d{2,3}\.\d", version):
        raise ValueError(f"Not a Salesforce API version: {version!r}")
    return version


class Transport:
    """The calls of one connection: everything the operations and Bulk API jobs send.

    ``api_calls`` counts the calls made the way Salesforce counts them (a ``/composite`` request
    once, each queryMore page once; OAuth and 401 answers not at all). ``api_usage`` is
    ``(used, max)`` from the latest ``Sforce-Limit-Info`` header.

    ``on_api_call`` (optional) is called with ``1`` for each counted call, as it happens: the
    connection uses it for its per-day counter. It runs inside the HTTP call, so it must be quick;
    its exceptions are logged and swallowed (a counter must never fail a call that succeeded).

    ``budget`` (:class:`~.budget.ApiBudget`) is asked before every call whether the current
    priority may spend one; it starts from ``api_usage`` (the last usage stored for the
    connection, if any) and follows every ``Sforce-Limit-Info`` header.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        ca_file: str | None = None,
        session: requests.Session | None = None,
        on_api_call: Callable[[int], None] | None = None,
        timeout: Timeout | None = None,
        api_usage: tuple[int, int] | None = None,
    ) -> None:
        self.credentials = credentials
        self.version = api_version(credentials.api_version)
        self.api_calls = 0
        self.api_usage: tuple[int, int] | None = api_usage
        self.budget = ApiBudget(api_usage, on_guess=self._record_usage)
        self._on_api_call = on_api_call
        self._lock = threading.Lock()
        self.session = build_session(
            ca_file=ca_file if ca_file is not None else conf.get("CA_FILE"),
            timeout=timeout if timeout is not None else default_timeout(),
            observer=self._observe,
            session=session,
        )
        self._instance_url = ""
        self._simple: Salesforce | None = None

    @property
    def connection_key(self) -> str:
        return self.credentials.connection_key

    def _observe(self, info: ResponseInfo) -> None:
        if info.counted:
            with self._lock:
                self.api_calls += 1
            if self._on_api_call is not None:
                try:
                    self._on_api_call(1)
                except Exception:
                    logger.exception("API call counter hook failed for %s", self.connection_key)
        if info.api_usage is not None:
            self.api_usage = info.api_usage
            self.budget.observe(*info.api_usage)
            self._record_usage(*info.api_usage)

    def _record_usage(self, used: int, org_max: int) -> None:
        """Keep the org's usage on the connection (read, or assumed after a lost answer)."""
        try:
            self.credentials.record_api_usage(used, org_max)
        except Exception:
            logger.exception("Recording API usage failed for %s", self.connection_key)

    # --- simple-salesforce, bound to this session ------------------------------------------

    def simple(self) -> Salesforce:
        """simple-salesforce bound to the current instance URL (a refresh may move it)."""
        instance_url = self.credentials.instance_url
        if self._simple is None or instance_url != self._instance_url:
            if not instance_url.startswith("https://"):
                raise ValueError("Salesforce's API is only reachable over https://")
            # The session id given here is never used: every call sends its own Authorization
            # header with the token current at that moment (see call()).
            self._simple = Salesforce(
                instance_url=instance_url,
                session_id="unused",  # noqa: S106
                version=self.version,
                session=self.session,
                object_pairs_hook=dict,
            )
            self._instance_url = instance_url
        return self._simple

    def sobject(self, name: str) -> SFType:
        """simple-salesforce's resource for the (already validated) sObject ``name``."""
        sf = self.simple()
        return SFType(
            name,
            "unused",
            sf.sf_instance,
            sf_version=self.version,
            session=self.session,
            salesforce=sf,
            object_pairs_hook=dict,
        )

    # --- calls -----------------------------------------------------------------------------

    def _attempt(
        self, operation: str, send: Callable[[dict[str, str]], T], token: str, idempotent: bool
    ) -> T:
        try:
            return send({"Authorization": f"Bearer {token}"})
        except SimpleSalesforceError as error:
            raise error_from_response(error.status, error.content) from error
        except requests.RequestException as error:
            raise failure_from_transport(
                error, operation=operation, idempotent=idempotent
            ) from error

    def call(self, operation: str, send: Callable[[dict[str, str]], T], *, idempotent: bool) -> T:
        """Run ``send(headers)`` with the current token; refresh once on an expired session,
        retry transient failures (see the module docstring), raise our exceptions.

        ``send`` may raise simple-salesforce's errors, requests' errors or ours (an
        :class:`ApiError` from :func:`error_from_response`); ``operation`` names the call in logs.
        Each attempt first asks the budget; :class:`BudgetExhausted` means nothing was sent.
        """
        max_retries = int(conf.get("MAX_RETRIES"))
        retries = 0
        refreshed = False
        while True:
            token = self.credentials.access_token
            try:
                with self.budget.spend(operation):
                    return self._attempt(operation, send, token, idempotent)
            except SessionExpired:
                if refreshed:
                    logger.warning(
                        "%s: session still rejected after a refresh (%s)",
                        operation,
                        self.connection_key,
                    )
                    raise
                logger.info("%s: session expired; refreshing (%s)", operation, self.connection_key)
                try:
                    self.credentials.refresh(token)
                except ReauthorizationRequired:
                    logger.warning("Connection %s needs re-authorisation", self.connection_key)
                    raise
                refreshed = True
            except TransientError as error:
                if retries >= max_retries:
                    logger.warning(
                        "%s: giving up after %d attempts (%s, %s)",
                        operation,
                        retries + 1,
                        error.error_code,
                        self.connection_key,
                    )
                    raise
                retries += 1
                delay = retry_delay(retries)
                logger.info(
                    "%s: %s; retry %d of %d in %.2f s (%s)",
                    operation,
                    error.error_code,
                    retries,
                    max_retries,
                    delay,
                    self.connection_key,
                )
                time.sleep(delay)

    def rest(
        self,
        operation: str,
        path: str,
        *,
        method: str = "GET",
        idempotent: bool = True,
        **kwargs: Any,
    ) -> Any:
        """A call to ``/services/data/vNN.N/{path}`` answering JSON (None for 204).

        ``kwargs`` go to ``requests`` (``json=``, ``params=``, ...).
        """

        def send(headers: dict[str, str]) -> Any:
            return self.simple().restful(path, method=method, headers=headers, **kwargs)

        return self.call(operation, send, idempotent=idempotent)

    def get_if_modified(
        self, operation: str, path: str, last_modified: str | None
    ) -> tuple[Any, str | None]:
        """A GET below ``/services/data/vNN.N/`` sent with ``If-Modified-Since: last_modified``
        (when given). Returns ``(decoded JSON, Last-Modified)``, or ``(None, Last-Modified)``
        when Salesforce answers 304 Not Modified: the caller's copy is still current."""

        def send(auth: dict[str, str]) -> tuple[Any, str | None]:
            headers = {"Accept": "application/json", **auth}
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            response = self.session.get(self.simple().base_url + path, headers=headers)
            answered = response.headers.get("Last-Modified")
            if response.status_code == 304:
                return None, answered or last_modified
            if response.status_code >= 300:
                raise error_from_response(response.status_code, _decoded_body(response))
            return response.json(), answered

        return self.call(operation, send, idempotent=True)

    def raw(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        idempotent: bool,
        headers: Mapping[str, str],
        data: bytes | None = None,
    ) -> str:
        """A call below ``/services/data/vNN.N/`` whose body is not JSON (Bulk API CSVs);
        returns the answer's text."""

        def send(auth: dict[str, str]) -> str:
            response = self.session.request(
                method, self.simple().base_url + path, headers={**headers, **auth}, data=data
            )
            if response.status_code >= 300:
                raise error_from_response(response.status_code, _decoded_body(response))
            return response.content.decode("utf-8-sig")

        return self.call(operation, send, idempotent=idempotent)
