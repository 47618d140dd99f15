"""The sandbox's two HTTP servers and the glue between them.

* The **login host** (plain HTTP on loopback): OAuth authorize/login/consent pages, the token,
  revoke, userinfo and identity endpoints, the read-only record browser and the control API
  under ``/__sandbox__/`` (faults, call log, reset, metadata and data levers). It answers only
  requests addressed to it by a name it serves (a DNS-rebinding page sends another ``Host``), and
  a state-changing control call must carry a JSON body as ``application/json``, which no
  cross-site page can send without a CORS preflight, and the sandbox grants none.
* The **API host** (HTTPS, self-signed certificate from :mod:`tls`): the REST and Bulk 2.0 API
  under ``/services/data/``, plus ``/services/oauth2/*`` and ``/id/`` as a real instance URL has,
  and ``GET /{Id}``, which (as in a real org) redirects to the record's page: the record browser's.

Both are ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive so clients such as
simple-salesforce (``requests.Session``) reuse their TLS connections.
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import json
import logging
import os
import re
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import browser, faults, tls
from .bulk import BulkApi
from .engine import Org
from .errors import SfApiError
from .ids import to_18
from .oauth import (
    AuthorizePageError,
    AuthorizeRedirectError,
    ConnectedApp,
    OAuthError,
    OAuthService,
)
from .orgfile import OrgDefinition, load_org_definition
from .responses import ApiResponse, error_response
from .rest import RestApi, parse_api_version, versions_listing

logger = logging.getLogger(__name__)

CALL_LOG_SIZE = 20000
JSON_TYPE = "application/json;charset=UTF-8"
HTML_TYPE = "text/html; charset=utf-8"
SESSION_EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
LIMIT_EXCEEDED = [
    {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
]
LOCK_FAILED = [
    {
        "errorCode": "UNABLE_TO_LOCK_ROW",
        "message": "unable to obtain exclusive access to this record",
    }
]
NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
API_DISABLED = [
    {"message": "The REST API is not enabled for this Organization.",
     "errorCode": "API_DISABLED_FOR_ORG"}
]
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - only compared
# A record link: a 15- or 18-character Id at the root of the instance URL.
RECORD_LINK = re.compile(r"/(?P<id>[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?)")


@dataclass
class Reply:
    """What a handler sends back; ``drop`` closes the connection without any answer."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] | None = None
    drop: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(payload).encode("utf-8"), JSON_TYPE, headers)

    @classmethod
    def html(cls, status: int, text: str) -> Reply:
        return cls(status, text.encode("utf-8"), HTML_TYPE)

    @classmethod
    def redirect(cls, location: str) -> Reply:
        return cls(302, b"", None, {"Location": location, "Cache-Control": "no-store"})


@dataclass
class Incoming:
    method: str
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def form(self) -> dict[str, str]:
        """Form fields (body wins over query string), first value of each."""
        fields = {k: v[0] for k, v in self.query.items()}
        if self.body:
            parsed = urllib.parse.parse_qs(self.body.decode("utf-8", "replace"),
                                           keep_blank_values=True)
            fields.update({k: v[0] for k, v in parsed.items()})
        return fields

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and token.strip():
            return token.strip()
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SandboxForce"
    sys_version = ""
    disable_nagle_algorithm = True
    wbufsize = 1 << 16  # headers and small bodies leave in one segment
    timeout = 300  # idle keep-alive connections end eventually
    server: _SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            # The handshake runs here, on the connection's own thread, not in the accept loop.
            self.connection.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if logger.isEnabledFor(logging.DEBUG):  # called per request: skip formatting when quiet
            logger.debug("%s %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        incoming = Incoming(
            method=self.command,
            path=split.path,
            query=urllib.parse.parse_qs(split.query, keep_blank_values=True),
            raw_query=split.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        try:
            reply = self.server.sandbox.dispatch(self.server.role, incoming)
        except Exception:  # a bug must still produce an answer, in Salesforce's shape
            logger.exception("sandbox failed on %s %s", self.command, self.path)
            reply = Reply.json(500, [{"errorCode": "UNKNOWN_EXCEPTION",
                                      "message": "An unexpected error occurred in the sandbox."}])
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        # RFC 9110: a 204 or 304 carries no body (and here no Content-Type or Content-Length).
        bodiless = reply.status in (204, 304)
        self.send_response(reply.status)
        if reply.content_type and not bodiless:
            self.send_header("Content-Type", reply.content_type)
        for name, value in (reply.headers or {}).items():
            self.send_header(name, value)
        if not bodiless:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body and not bodiless and self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class _SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, role: str,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.sandbox = sandbox
        self.role = role
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up on every open keep-alive connection (after the listener stopped)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (or failing TLS) mid-request are normal for a test server.
        logger.debug("connection from %s ended abruptly", client_address, exc_info=True)


class Sandbox:
    """One running sandbox org: engine, OAuth, faults, call log and the two servers.

    Build it, :meth:`start` it, read ``login_url`` / ``instance_url`` / ``ca_file``, and
    :meth:`stop` it. :meth:`reset` puts data, faults, call log, tokens and extra apps back to the
    state right after start.
    """

    def __init__(
        self,
        definition: OrgDefinition,
        *,
        data_path: str | None = None,
        host: str = "127.0.0.1",
        login_port: int = 0,
        api_port: int = 0,
        state_dir: Path | None = None,
        fault_seed: int = faults.DEFAULT_SEED,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.definition = definition
        self.host = host
        self.org = Org(definition, data_path=data_path, clock=clock)
        self.faults = faults.FaultSet(seed=fault_seed)
        self.bulk = BulkApi(self.org)
        self.rest = RestApi(self.org, self.bulk)
        apps = [
            ConnectedApp(
                name=app.name,
                client_id=app.client_id,
                client_secret=app.client_secret,
                callback_urls=tuple(app.callback_urls),
                require_pkce=app.require_pkce,
                refresh_token_policy=app.refresh_token_policy_mode,
                refresh_token_ttl_seconds=app.refresh_token_ttl_seconds,
                rotate_refresh_tokens=app.rotate_refresh_tokens,
            )
            for app in definition.connected_apps
        ]
        self.oauth = OAuthService(
            org_id=definition.org_id,
            session_timeout_seconds=definition.session_timeout_seconds,
            apps=apps,
            authenticate_user=self.org.authenticate_user,
            first_user_id=self._first_user_id,
            user=self.org.user,
        )
        self._calls: collections.deque[dict[str, Any]] = collections.deque(maxlen=CALL_LOG_SIZE)
        self._usage_lock = threading.Lock()
        self._api_calls_used = 0
        self.daily_api_limit = definition.daily_api_limit
        self.api_enabled = definition.api_enabled
        self._owned_state_dir: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._owned_state_dir = tempfile.TemporaryDirectory(prefix="salesforce-sandbox-")
            state_dir = Path(self._owned_state_dir.name)
        self.tls = tls.make_certificates(state_dir, hosts=_certificate_hosts(host))
        self._login_server = _SandboxHTTPServer((host, login_port), self, "login")
        try:
            self._api_server = _SandboxHTTPServer(
                (host, api_port), self, "api", ssl_context=tls.server_context(self.tls)
            )
        except OSError:  # e.g. the API port is taken: release what we already hold
            self._login_server.server_close()
            self.org.close()
            if self._owned_state_dir is not None:
                self._owned_state_dir.cleanup()
            raise
        url_host = f"[{host}]" if ":" in host else host
        self.login_url = f"http://{url_host}:{self._login_server.server_address[1]}"
        self.instance_url = f"https://{url_host}:{self._api_server.server_address[1]}"
        self.oauth.login_url = self.login_url
        self.oauth.instance_url = self.instance_url
        self._threads: list[threading.Thread] = []
        self._stopped = False

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def ca_file(self) -> str:
        return str(self.tls.ca_file)

    def start(self) -> Sandbox:
        for server, name in ((self._login_server, "login"), (self._api_server, "api")):
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.2},
                name=f"salesforce-sandbox-{name}", daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both servers, finish bulk work and close the data file. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for server in (self._login_server, self._api_server):
            if self._threads:
                server.shutdown()
            server.server_close()
            server.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        self.bulk.close()
        self.org.close()
        if self._owned_state_dir is not None:
            self._owned_state_dir.cleanup()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to a freshly started org: data re-seeded, no faults, calls, tokens or extra apps."""
        self.bulk.reset()
        self.bulk.wait_idle()
        self.org.reset()
        self.faults.clear()
        self.oauth.reset()
        self.rest.reset()
        with self._usage_lock:
            self._calls.clear()
            self._api_calls_used = 0
            self.daily_api_limit = self.definition.daily_api_limit
            self.api_enabled = self.definition.api_enabled

    def startup_info(self) -> dict[str, Any]:
        """The facts a client needs (the CLI prints this as its first line)."""
        app = self.definition.connected_apps[0] if self.definition.connected_apps else None
        user = self.definition.users[0] if self.definition.users else None
        return {
            "login_url": self.login_url,
            "instance_url": self.instance_url,
            "ca_file": self.ca_file,
            "client_id": app.client_id if app else None,
            "client_secret": app.client_secret if app else None,
            "callback_urls": list(app.callback_urls) if app else [],
            "username": user.username if user else None,
            "password": user.password if user else None,
            "org_id": self.definition.org_id,
            "daily_api_limit": self.daily_api_limit,
            "pid": _pid(),
        }

    # -- accounting -----------------------------------------------------------------------------
    def api_calls_used(self) -> int:
        with self._usage_lock:
            return self._api_calls_used

    def set_daily_limit(self, maximum: int) -> None:
        if maximum < 0:
            raise ValueError("The daily API limit cannot be negative")
        with self._usage_lock:
            self.daily_api_limit = maximum

    def set_api_calls_used(self, used: int) -> None:
        with self._usage_lock:
            self._api_calls_used = max(0, used)

    def add_api_usage(self, calls: int) -> int:
        """Spend ``calls`` of the daily limit as the org's other integrations would (they count
        in every ``Sforce-Limit-Info``; the count may reach past the limit, as a real org's
        does by a little). Returns the new usage."""
        if calls < 0:
            raise ValueError("Other integrations cannot spend a negative number of calls")
        with self._usage_lock:
            self._api_calls_used += calls
            return self._api_calls_used

    def api_usage(self) -> dict[str, int]:
        with self._usage_lock:
            return {"used": self._api_calls_used, "max": self.daily_api_limit}

    def calls(self) -> list[dict[str, Any]]:
        with self._usage_lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        with self._usage_lock:
            self._calls.clear()

    def _limit_header(self) -> dict[str, str]:
        with self._usage_lock:
            return {"Sforce-Limit-Info": f"api-usage={self._api_calls_used}/{self.daily_api_limit}"}

    def _spend(self, cost: int) -> bool:
        with self._usage_lock:
            if self._api_calls_used + cost > self.daily_api_limit:
                return False
            self._api_calls_used += cost
            return True

    def _log(self, role: str, incoming: Incoming, status: int | None, counted: int) -> None:
        entry = {
            "host": role,
            "method": incoming.method,
            "path": incoming.path,
            "query": incoming.raw_query,
            "status": status,
            "counted_as_api_call": counted > 0,
            "api_calls": counted,
            "time": time.time(),
        }
        with self._usage_lock:
            self._calls.append(entry)

    def _first_user_id(self) -> str:
        username = self.definition.users[0].username
        result = self.org.query(
            "SELECT Id FROM User WHERE Username = '"  # noqa: S608 - the value is escaped
            + username.replace("\\", "\\\\").replace("'", "\\'") + "'",
            False, "62.0",
        )
        rows = result.page(0, 1)
        if not rows:
            raise RuntimeError("The sandbox org has no users")
        return rows[0]["Id"]

    # -- dispatch -------------------------------------------------------------------------------
    def serves_host(self, host_header: str | None) -> bool:
        """Whether a ``Host`` header names the login host: its bound address and port, or a
        loopback name (``localhost``, ``127.0.0.1``, ``[::1]``) with that port. Bound to a
        wildcard address, any IP literal with that port is served too: DNS rebinding needs a
        *name* that resolves here, and an address is not one."""
        name, _, port = (host_header or "").strip().lower().rpartition(":")
        if not name or (":" in name and not name.endswith("]")):
            return False  # no port, or an unbracketed IPv6 address
        if port != str(self._login_server.server_address[1]):
            return False
        bound = self.host.lower()
        if name in LOOPBACK_NAMES or name == (f"[{bound}]" if ":" in bound else bound):
            return True
        if bound in WILDCARD_HOSTS:
            try:
                ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
            except ValueError:
                return False
            return True
        return False

    def dispatch(self, role: str, incoming: Incoming) -> Reply:
        path = incoming.path
        if role == "login" and not self.serves_host(incoming.headers.get("host")):
            return _misdirected(incoming)
        if incoming.method == "OPTIONS":
            # No CORS preflight is ever granted: a cross-site page gets no JSON request through.
            return Reply.json(405, [{"errorCode": "METHOD_NOT_ALLOWED",
                                     "message": "HTTP Method 'OPTIONS' not allowed."}],
                              {"Allow": "GET, HEAD, POST, PUT, PATCH, DELETE"})
        if role == "login" and (path == "/" or path.startswith(("/browse", "/__sandbox__"))):
            return self._login_only(incoming)
        faultable = path.startswith(("/services/", "/id/"))
        fired = self.faults.draw(incoming.method, path) if faultable else []
        lose_response = False
        for fault in fired:
            if fault.kind == faults.LATENCY:
                time.sleep((fault.latency_ms or 0) / 1000)
        for fault in fired:
            early = self._early_fault(fault.kind, incoming)
            if early is not None:
                self._log(role, incoming, None if early.drop else early.status, 0)
                return early
            lose_response = lose_response or fault.kind == faults.LOSE_RESPONSE
        failing_job = any(fault.kind == faults.BULK_JOB_FAILED for fault in fired)
        with self.bulk.failing_closes(failing_job):
            reply, counted = self._route(role, incoming)
        self._log(role, incoming, None if lose_response else reply.status, counted)
        if lose_response:
            return Reply(drop=True)
        return reply

    def _early_fault(self, kind: str, incoming: Incoming) -> Reply | None:
        """The answer of a fault that pre-empts the real work (None for latency/lose_response)."""
        is_rest = incoming.path.startswith("/services/data/")
        headers = self._limit_header() if is_rest else None
        if kind == faults.DROP_CONNECTION:
            return Reply(drop=True)
        if kind == faults.HTTP_500:
            return Reply.json(500, [{
                "errorCode": "UNKNOWN_EXCEPTION",
                "message": "An unexpected error occurred. Please include this ErrorId if you "
                "contact support: 1234567890-12345 (-1234567890)",
            }], headers)
        if kind == faults.HTTP_503:
            return Reply.json(503, [{"errorCode": "SERVER_UNAVAILABLE",
                                     "message": "Server temporarily unavailable."}], headers)
        if kind == faults.REQUEST_LIMIT_EXCEEDED:
            return Reply.json(403, LIMIT_EXCEEDED, headers)
        if kind == faults.UNABLE_TO_LOCK_ROW:
            return Reply.json(400, LOCK_FAILED, headers)
        if kind == faults.EXPIRE_SESSION:
            token = incoming.bearer()
            if token:
                self.oauth.expire_access_token(token)
            return Reply.json(401, SESSION_EXPIRED, headers)
        return None

    def _route(self, role: str, incoming: Incoming) -> tuple[Reply, int]:
        path = incoming.path
        if path.startswith("/services/oauth2/"):
            return self._oauth(incoming), 0
        if path.startswith("/id/"):
            return self._identity(incoming), 0
        if role == "api" and (path == "/services/data" or path.startswith("/services/data/")):
            return self._rest(incoming)
        link = RECORD_LINK.fullmatch(path)
        if role == "api" and link is not None and incoming.method in ("GET", "HEAD"):
            return self._record_link(link.group("id")), 0
        return Reply.json(404, NOT_FOUND), 0

    def _record_link(self, record_id: str) -> Reply:
        """``{instance_url}/{Id}``: a real org redirects to the record's page in its UI (even
        for a missing or deleted record, whose page then says so). Here the page is the record
        browser's on the login host; an Id whose key prefix names none of the org's objects has
        no page to go to and gets a "Not found" page at once."""
        sobject = self.org.sobject_for_id(record_id)
        if sobject is None:
            page = browser.unknown_record_page(self.org, record_id, self.login_url)
            return Reply.html(404, page)
        return Reply.redirect(self.login_url + browser.record_path(sobject, to_18(record_id)))

    # -- REST -----------------------------------------------------------------------------------
    def _rest(self, incoming: Incoming) -> tuple[Reply, int]:
        if incoming.path.rstrip("/") == "/services/data":
            return Reply.json(200, versions_listing(), self._limit_header()), 0
        parsed = parse_api_version(incoming.path)
        if parsed is None or float(parsed[0]) < 20.0:
            return Reply.json(404, NOT_FOUND, self._limit_header()), 0
        version, route = parsed
        token = incoming.bearer()
        access = self.oauth.authenticate(token) if token else None
        if access is None:
            return Reply.json(401, SESSION_EXPIRED, self._limit_header()), 0
        if not self.api_enabled:  # an edition without API access: OAuth works, REST does not
            return Reply.json(403, API_DISABLED, self._limit_header()), 0
        cost = self.rest.call_cost(incoming.method, route, incoming.body)
        if not self._spend(cost):
            return Reply.json(403, LIMIT_EXCEEDED, self._limit_header()), 0
        with self._usage_lock:
            limits = {"max": self.daily_api_limit, "used": self._api_calls_used}
        response = self.rest.handle(
            incoming.method, version, route, incoming.query, incoming.headers, incoming.body,
            access.user_id, limits,
        )
        return self._reply_from(response), cost

    def _reply_from(self, response: ApiResponse) -> Reply:
        headers = {**response.headers, **self._limit_header()}
        return Reply(response.status, response.body(), response.content_type, headers)

    # -- OAuth ----------------------------------------------------------------------------------
    def _oauth(self, incoming: Incoming) -> Reply:
        endpoint = incoming.path.rstrip("/").removeprefix("/services/oauth2/")
        try:
            if endpoint == "authorize":
                return self._authorize(incoming)
            if endpoint == "token":
                if incoming.method != "POST":
                    raise OAuthError("invalid_request", "must use HTTP POST")
                body = self.oauth.token(incoming.form(), incoming.headers.get("authorization"))
                return Reply.json(200, body, {"Cache-Control": "no-cache,must-revalidate,"
                                                               "max-age=0,no-store,private"})
            if endpoint == "revoke":
                token = incoming.form().get("token")
                if not token:
                    raise OAuthError("unsupported_token_type", "Token type not supported")
                self.oauth.revoke(token)
                return Reply(200, b"", None)
            if endpoint == "userinfo":
                access = self._bearer_access(incoming)
                if access is None:
                    return Reply(403, b"Bad_OAuth_Token", "text/plain; charset=utf-8")
                return Reply.json(200, self.oauth.userinfo(access.user_id))
        except OAuthError as error:
            return Reply.json(error.status, error.to_json())
        return Reply.json(404, NOT_FOUND)

    def _bearer_access(self, incoming: Incoming) -> Any:
        token = incoming.bearer() or incoming.form().get("access_token") or incoming.form().get(
            "oauth_token"
        )
        return self.oauth.authenticate(token) if token else None

    def _identity(self, incoming: Incoming) -> Reply:
        parts = [p for p in incoming.path.split("/") if p]
        access = self._bearer_access(incoming)
        if access is None:
            return Reply(403, b"Bad_OAuth_Token", "text/plain; charset=utf-8")
        if len(parts) != 3 or parts[1] != self.definition.org_id or parts[2] != access.user_id:
            return Reply(403, b"Bad_Id", "text/plain; charset=utf-8")
        return Reply.json(200, self.oauth.identity(access.user_id))

    def _authorize(self, incoming: Incoming) -> Reply:
        fields = incoming.form()
        action = fields.get("sandbox_action") if incoming.method == "POST" else None
        try:
            request = self.oauth.check_authorize(fields)
        except AuthorizePageError as error:
            return Reply.html(400, browser.oauth_error_page(error.error, error.description))
        except AuthorizeRedirectError as redirect:
            return Reply.redirect(redirect.redirect_url)
        if action == "login":
            ticket = self.oauth.login(fields.get("username", ""), fields.get("password", ""))
            if ticket is None:
                return Reply.html(200, browser.login_page(
                    request, self.definition.org_name,
                    error="Please check your username and password. If you still can't log in, "
                    "contact your Salesforce administrator.",
                    username=fields.get("username", ""),
                ))
            return Reply.html(200, browser.consent_page(
                request, ticket, self.definition.org_name, fields.get("username", "")
            ))
        if action == "consent":
            ticket = fields.get("ticket", "")
            if fields.get("decision") == "deny":
                if self.oauth.redeem_login_ticket(ticket) is None:
                    return Reply.html(200, browser.login_page(request, self.definition.org_name))
                return Reply.redirect(self.oauth.deny(request))
            user_id = self.oauth.redeem_login_ticket(ticket)
            if user_id is None:  # stale or replayed ticket: log in again
                return Reply.html(200, browser.login_page(request, self.definition.org_name))
            return Reply.redirect(self.oauth.approve(request, user_id))
        return Reply.html(200, browser.login_page(request, self.definition.org_name))

    # -- login-host only: browser and control API -----------------------------------------------
    def _login_only(self, incoming: Incoming) -> Reply:
        path = incoming.path
        if path.startswith("/__sandbox__"):
            return self._control(incoming)
        if incoming.method not in ("GET", "HEAD"):
            page = browser.message_page("Method not allowed", "The record browser is read-only.")
            return Reply.html(405, page)
        status, page = browser.render(self.org, path, incoming.query)
        return Reply.html(status, page)

    def _control(self, incoming: Incoming) -> Reply:
        name = incoming.path.removeprefix("/__sandbox__").strip("/")
        method = incoming.method
        handlers: dict[tuple[str, str], Callable[[Incoming], Reply]] = {
            ("faults", "GET"): lambda _: Reply.json(200, self.faults.list()),
            ("faults", "POST"): self._add_fault,
            ("faults", "DELETE"): lambda _: self._done(self.faults.clear),
            ("reset", "POST"): lambda _: self._done(self.reset),
            ("calls", "GET"): lambda _: Reply.json(200, self.calls()),
            ("calls", "DELETE"): lambda _: self._done(self.clear_calls),
            ("info", "GET"): lambda _: Reply.json(200, self.startup_info()
                                                  | {"api_calls_used": self.api_calls_used()}),
            ("expire_sessions", "POST"): lambda _: self._done(self.oauth.expire_access_tokens),
            ("revoke_tokens", "POST"): lambda _: self._done(self.oauth.revoke_all_tokens),
            ("daily_limit", "POST"): self._set_limit_from_request,
            ("api_access", "POST"): self._set_api_access,
            ("api_usage", "GET"): lambda _: Reply.json(200, self.api_usage()),
            ("api_usage", "POST"): self._change_api_usage,
            ("convertLead", "POST"): self._convert_lead,
            ("merge", "POST"): self._merge,
            ("picklist", "POST"): self._set_picklist,
        }
        handler = handlers.get((name, method))
        if handler is None:
            message = f"No control endpoint {method} /__sandbox__/{name}"
            return Reply.json(404, [{"errorCode": "NOT_FOUND", "message": message}])
        if method not in ("GET", "HEAD"):
            refused = _refuse_unless_json(incoming)
            if refused is not None:
                return refused
        return handler(incoming)

    @staticmethod
    def _done(action: Callable[[], None]) -> Reply:
        action()
        return Reply(204, b"", None)

    def _json_body(self, incoming: Incoming) -> Any:
        try:
            return json.loads(incoming.body or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            raise SfApiError(400, "JSON_PARSER_ERROR", f"Malformed JSON body: {error}") from error

    def _add_fault(self, incoming: Incoming) -> Reply:
        try:
            fault = self.faults.add_from_json(self._json_body(incoming))
        except faults.FaultSpecError as error:
            return Reply.json(400, [{"errorCode": "INVALID_FAULT", "message": str(error)}])
        except SfApiError as error:
            return Reply.json(error.status, error.to_json())
        return Reply.json(201, fault.as_dict())

    def _set_limit_from_request(self, incoming: Incoming) -> Reply:
        try:
            body = self._json_body(incoming)
            maximum = int(body["max"])
            self.set_daily_limit(maximum)
            if "used" in body:
                self.set_api_calls_used(int(body["used"]))
        except (KeyError, TypeError, ValueError) as error:
            return Reply.json(400, [{"errorCode": "INVALID_LIMIT",
                                     "message": f"Expected {{\"max\": N}}: {error}"}])
        except SfApiError as error:
            return Reply.json(error.status, error.to_json())
        return Reply(204, b"", None)

    def _set_api_access(self, incoming: Incoming) -> Reply:
        body = self._json_body(incoming)
        if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
            return Reply.json(400, [{"errorCode": "INVALID_ARGUMENT",
                                     "message": 'Expected {"enabled": true|false}'}])
        self.api_enabled = body["enabled"]
        return Reply(204, b"", None)

    def _change_api_usage(self, incoming: Incoming) -> Reply:
        """``{"add": N}``: other integrations spent N calls; ``{"used": N}``: the usage is now N
        (the rolling window freed calls). Answers the new ``{"used", "max"}``."""
        body = self._json_body(incoming)
        valid = isinstance(body, dict) and len(body) == 1 and all(
            key in ("add", "used") and isinstance(value, int) and not isinstance(value, bool)
            and value >= 0 for key, value in body.items()
        )
        if not valid:
            return Reply.json(400, [{"errorCode": "INVALID_ARGUMENT",
                                     "message": 'Expected {"add": N} or {"used": N} (N >= 0)'}])
        if "add" in body:
            self.add_api_usage(body["add"])
        else:
            self.set_api_calls_used(body["used"])
        return Reply.json(200, self.api_usage())

    def _convert_lead(self, incoming: Incoming) -> Reply:
        return self._api_answer(lambda: self.rest.convert_lead(self._json_body(incoming)))

    def _merge(self, incoming: Incoming) -> Reply:
        return self._api_answer(lambda: self.rest.merge(self._json_body(incoming)))

    def _set_picklist(self, incoming: Incoming) -> Reply:
        return self._api_answer(lambda: self.rest.set_picklist_values(self._json_body(incoming)))

    @staticmethod
    def _api_answer(action: Callable[[], ApiResponse]) -> Reply:
        try:
            response = action()
        except SfApiError as error:
            response = error_response(error)
        return Reply(response.status, response.body(), response.content_type)


def _misdirected(incoming: Incoming) -> Reply:
    """The answer to a request whose ``Host`` this sandbox does not serve (DNS rebinding)."""
    message = "This sandbox does not serve the host named in the request's Host header."
    if incoming.path.startswith("/__sandbox__"):
        return Reply.json(421, [{"errorCode": "MISDIRECTED_REQUEST", "message": message}])
    return Reply.html(421, browser.message_page("Misdirected request", message))


def _refuse_unless_json(incoming: Incoming) -> Reply | None:
    """None when a state-changing control call carries a JSON body as ``application/json``.

    A cross-site page can POST ``text/plain`` or a form without asking first; a JSON content
    type needs a CORS preflight, which the sandbox never grants."""
    content_type = incoming.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return Reply.json(415, [{
            "errorCode": "UNSUPPORTED_MEDIA_TYPE",
            "message": "Control calls that change the sandbox take a JSON body sent as "
            "Content-Type: application/json (send {} when there is nothing to say).",
        }])
    try:
        json.loads(incoming.body)
    except (ValueError, UnicodeDecodeError):
        return Reply.json(400, [{"errorCode": "JSON_PARSER_ERROR",
                                 "message": "The request body is not a JSON document."}])
    return None


def _certificate_hosts(host: str) -> tuple[str, ...]:
    names = ["127.0.0.1", "localhost"]
    if host not in names and host not in WILDCARD_HOSTS:
        names.insert(0, host)
    return tuple(names)


def _pid() -> int:
    return os.getpid()


class SandboxHandle:
    """What tests, the bench and the demo hold: URLs, credentials and levers of a sandbox.

    Attributes: ``login_url``, ``instance_url``, ``ca_file``, ``client_id``, ``client_secret``,
    ``callback_urls``, ``username``, ``password``, ``org`` (the engine's Org), ``faults`` (with
    ``add(kind, *, rate=None, count=None, method=None, path=None, latency_ms=None)`` and
    ``clear()``), ``calls`` (the call log) and the methods below.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        info = sandbox.startup_info()
        self.login_url: str = info["login_url"]
        self.instance_url: str = info["instance_url"]
        self.ca_file: str = info["ca_file"]
        self.client_id: str = info["client_id"]
        self.client_secret: str = info["client_secret"]
        self.callback_urls: list[str] = info["callback_urls"]
        self.username: str = info["username"]
        self.password: str = info["password"]
        self.org_id: str = info["org_id"]

    @property
    def org(self) -> Org:
        return self.sandbox.org

    @property
    def faults(self) -> faults.FaultSet:
        return self.sandbox.faults

    @property
    def oauth(self) -> OAuthService:
        return self.sandbox.oauth

    @property
    def calls(self) -> list[dict[str, Any]]:
        """The call log: dicts with method, path, query, status, counted_as_api_call, time."""
        return self.sandbox.calls()

    def api_calls_used(self) -> int:
        return self.sandbox.api_calls_used()

    def set_daily_limit(self, maximum: int) -> None:
        self.sandbox.set_daily_limit(maximum)

    def add_api_usage(self, calls: int) -> int:
        """Spend ``calls`` of the org's daily limit as its other integrations would; returns
        the new usage (``POST /__sandbox__/api_usage {"add": N}``)."""
        return self.sandbox.add_api_usage(calls)

    def set_api_usage(self, used: int) -> None:
        """Set the org's usage, e.g. lower as the rolling window frees calls
        (``POST /__sandbox__/api_usage {"used": N}``)."""
        self.sandbox.set_api_calls_used(used)

    def set_api_enabled(self, enabled: bool) -> None:
        """Play an org with (True) or without (False) API access, until :meth:`reset`."""
        self.sandbox.api_enabled = enabled

    def reset(self) -> None:
        self.sandbox.reset()

    def revoke_all_tokens(self) -> None:
        self.sandbox.oauth.revoke_all_tokens()

    def expire_access_tokens(self) -> None:
        self.sandbox.oauth.expire_access_tokens()

    def advance_clock(self, seconds: float) -> None:
        """Move OAuth time forward (codes, sessions and refresh tokens age; records do not)."""
        self.sandbox.oauth.advance_clock(seconds)

    def expire_query_cursors(self) -> None:
        """End every open SOQL cursor: the next ``nextRecordsUrl`` is INVALID_QUERY_LOCATOR."""
        self.sandbox.rest.expire_cursors()

    def add_connected_app(
        self,
        *,
        client_id: str,
        client_secret: str,
        callback_urls: list[str] | tuple[str, ...],
        name: str | None = None,
        require_pkce: bool = True,
        refresh_token_policy: str = "until_revoked",  # noqa: S107 - a policy name
        refresh_token_ttl_seconds: int | None = None,
        rotate_refresh_tokens: bool = False,
    ) -> ConnectedApp:
        """Register another connected app (gone again after :meth:`reset`)."""
        return self.sandbox.oauth.add_connected_app(ConnectedApp(
            name=name or client_id,
            client_id=client_id,
            client_secret=client_secret,
            callback_urls=tuple(callback_urls),
            require_pkce=require_pkce,
            refresh_token_policy=refresh_token_policy,
            refresh_token_ttl_seconds=refresh_token_ttl_seconds,
            rotate_refresh_tokens=rotate_refresh_tokens,
        ))

    def token_url(self) -> str:
        return f"{self.login_url}/services/oauth2/token"

    def password_token(self, client_id: str | None = None,
                       client_secret: str | None = None) -> dict[str, Any]:
        """A token response from the password grant, fetched over HTTP like any client would."""
        form = urllib.parse.urlencode({
            "grant_type": "password",
            "client_id": client_id or self.client_id,
            "client_secret": client_secret or self.client_secret,
            "username": self.username,
            "password": self.password,
        }).encode()
        request = urllib.request.Request(  # noqa: S310 - our own loopback login URL
            self.token_url(), data=form, method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())

    def requests_session(self) -> Any:
        """A ``requests.Session`` that trusts the sandbox's CA."""
        # Imported here: only tests use it, and the server itself has no use for requests.
        import requests

        session = requests.Session()
        session.verify = self.ca_file
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify (requests
        # issue 3829); ignoring the environment keeps our CA in force (and proxies off loopback).
        session.trust_env = False
        return session

    def simple_salesforce(self, version: str = "62.0", token: str | None = None) -> Any:
        """A simple-salesforce client on the instance URL with a fresh (or given) access token."""
        # Imported here: only tests use it, and it is slow to import for a server that never does.
        from simple_salesforce import Salesforce

        access_token = token or self.password_token()["access_token"]
        return Salesforce(instance_url=self.instance_url, session_id=access_token,
                          session=self.requests_session(), version=version)


class RunningSandbox(SandboxHandle):
    """A started sandbox usable as a context manager (``with start_sandbox() as sf: ...``)."""

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.sandbox.stop()


def start_sandbox(
    *,
    org_file: str | None = None,
    definition: OrgDefinition | None = None,
    data_path: str | None = None,
    host: str = "127.0.0.1",
    login_port: int = 0,
    api_port: int = 0,
    clock: Callable[[], datetime] | None = None,
) -> RunningSandbox:
    """Start a sandbox in this process (server threads) on free ports and return its handle.

    ``clock`` (returning aware datetimes) drives the records' timestamps, for tests of
    ``updated``/``deleted`` windows and watermarks.
    """
    sandbox = Sandbox(
        definition or load_org_definition(org_file),
        data_path=data_path, host=host, login_port=login_port, api_port=api_port, clock=clock,
    )
    sandbox.start()
    return RunningSandbox(sandbox)


class SandboxProcess:
    """A sandbox running as a separate process (see the module docstring)."""

    def __init__(self, process: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.process = process
        self.info = info
        self.login_url: str = info["login_url"]
        self.instance_url: str = info["instance_url"]
        self.ca_file: str = info["ca_file"]
        self.client_id: str = info["client_id"]
        self.client_secret: str = info["client_secret"]
        self.callback_urls: list[str] = info["callback_urls"]
        self.username: str = info["username"]
        self.password: str = info["password"]
        self.pid: int = process.pid

    def control(self, method: str, name: str, payload: Any = None) -> Any:
        """Call ``/__sandbox__/{name}`` on the login host; returns the decoded JSON or None.

        Calls other than GET always carry a JSON body (``{}`` when ``payload`` is None), as the
        control API requires of a state-changing call."""
        if method in ("GET", "HEAD"):
            data = None if payload is None else json.dumps(payload).encode()
        else:
            data = json.dumps({} if payload is None else payload).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback login URL of our child
            f"{self.login_url}/__sandbox__/{name}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            body = response.read()
        return json.loads(body) if body else None

    def reset(self) -> None:
        self.control("POST", "reset")

    def stop(self, timeout: float = 20.0) -> int:
        """SIGINT the process and wait for its (clean) exit; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def launch_sandbox_process(*args: str, env: dict[str, str] | None = None,
                           timeout: float = 30.0) -> SandboxProcess:
    """Start the CLI with ``args`` and wait for its first JSON line (bounded by ``timeout``)."""
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "wagtail_salesforce.sandbox", *args],
        stdout=subprocess.PIPE, stderr=None, text=True, env=env or dict(os.environ),
    )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    ready = selector.select(timeout)
    selector.close()
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        process.wait()
        raise RuntimeError(f"the sandbox process did not start (exit status {process.returncode})")
    return SandboxProcess(process, json.loads(line))
