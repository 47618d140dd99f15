"""HTML pages of the login host: the OAuth login/consent pages and a read-only record browser.

The record browser lives at the login URL's root so a person running the demo can see what
arrived: objects with counts, the newest records of an object, and one record's fields. As in a
real org, ``{instance_url}/{Id}`` on the API host leads to a record's page: here the browser's
(:func:`record_path`).
"""

from __future__ import annotations

import html
import string
import urllib.parse
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from .errors import SfApiError

if TYPE_CHECKING:
    from .engine import Org
    from .oauth import AuthorizeRequest

BROWSER_API_VERSION = "62.0"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
PREFERRED_COLUMNS = ("Name", "FirstName", "LastName", "Email", "Company", "Status", "IsActive",
                     "CreatedDate")
SCOPE_TEXT = {
    "api": "Access and manage your data (api)",
    "refresh_token": "Perform requests on your behalf at any time (refresh_token, offline_access)",
    "offline_access": "Perform requests on your behalf at any time (refresh_token, offline_access)",
    "id": "Access your basic information (id, profile, email, address, phone)",
    "profile": "Access your basic information (id, profile, email, address, phone)",
    "email": "Access your basic information (id, profile, email, address, phone)",
    "openid": "Access unique user identifiers (openid)",
    "full": "Full access (full)",
    "web": "Provide access to your data via the Web (web)",
}


@cache
def _template(name: str) -> string.Template:
    text = resources.files(__package__).joinpath("templates", name).read_text("utf-8")
    return string.Template(text)


def _page(title: str, org_name: str, content: str) -> str:
    return _template("layout.html").substitute(
        title=html.escape(title), org_name=html.escape(org_name), content=content
    )


def _hidden_fields(params: Mapping[str, str]) -> str:
    return "\n".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
    )


# -- OAuth pages -----------------------------------------------------------------------------------
def login_page(
    request: AuthorizeRequest, org_name: str, *, error: str | None = None, username: str = ""
) -> str:
    content = _template("login.html").substitute(
        org_name=html.escape(org_name),
        app_name=html.escape(request.app.name),
        error=f'<p class="error" id="error">{html.escape(error)}</p>' if error else "",
        hidden=_hidden_fields(request.as_params()),
        username=html.escape(username),
    )
    return _page("Log in", org_name, content)


def consent_page(request: AuthorizeRequest, ticket: str, org_name: str = "Sandbox Org",
                 username: str = "") -> str:
    scopes: list[str] = []
    for scope in request.scope.split():
        text = SCOPE_TEXT.get(scope, scope)
        if text not in scopes:
            scopes.append(text)
    content = _template("consent.html").substitute(
        app_name=html.escape(request.app.name),
        scopes="\n".join(f"<li>{html.escape(text)}</li>" for text in scopes),
        username=html.escape(username or "you"),
        hidden=_hidden_fields(request.as_params()),
        ticket=html.escape(ticket),
    )
    return _page("Allow access?", org_name, content)


def oauth_error_page(error: str, description: str) -> str:
    content = _template("oauth_error.html").substitute(
        error=html.escape(error),
        description=html.escape(description),
        description_encoded=html.escape(urllib.parse.quote_plus(description)),
    )
    return _page("Remote access error", "Salesforce sandbox", content)


def message_page(title: str, text: str) -> str:
    content = f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
    return _page(title, "Salesforce sandbox", content)


# -- record browser --------------------------------------------------------------------------------
def record_path(sobject: str, record_id: str) -> str:
    """The path of one record's page in the browser."""
    return "/browse/" + "/".join(urllib.parse.quote(part, safe="") for part in (sobject, record_id))


def unknown_record_page(org: Org, record_id: str, browser_url: str) -> str:
    """The page for a record link whose Id names none of the org's objects."""
    content = (
        f'<p class="error">No object of this org has records with Ids like '
        f"<code>{html.escape(record_id)}</code>.</p>"
        f'<p><a href="{html.escape(browser_url)}/">All objects</a></p>'
    )
    return _page("Not found", org.definition.org_name, content)


def render(org: Org, path: str, query: Mapping[str, Sequence[str]]) -> tuple[int, str]:
    """(status, HTML) for a record-browser path: ``/``, ``/browse/{T}``, ``/browse/{T}/{id}``."""
    org_name = org.definition.org_name
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]
    try:
        if not parts:
            return 200, _objects(org)
        if parts[0] == "browse" and len(parts) == 2:
            limit = _limit(query.get("limit"))
            return 200, _records(org, parts[1], limit)
        if parts[0] == "browse" and len(parts) == 3:
            return 200, _record(org, parts[1], parts[2])
    except SfApiError as error:
        return error.status if error.status >= 400 else 400, _page(
            "Not found", org_name, f'<p class="error">{html.escape(error.message)}</p>'
            '<p><a href="/">All objects</a></p>'
        )
    return 404, _page("Not found", org_name, '<p class="error">No such page.</p>')


def _limit(values: Sequence[str] | None) -> int:
    try:
        wanted = int(values[0]) if values else DEFAULT_PAGE_SIZE
    except ValueError:
        wanted = DEFAULT_PAGE_SIZE
    return max(1, min(MAX_PAGE_SIZE, wanted))


def _objects(org: Org) -> str:
    rows = []
    for name, obj in sorted(org.definition.objects.items(), key=lambda item: item[1].label):
        rows.append(
            f'<tr><td><a href="/browse/{html.escape(name)}">{html.escape(obj.label)}</a></td>'
            f"<td><code>{html.escape(name)}</code></td><td>{org.count(name)}</td></tr>"
        )
    content = _template("objects.html").substitute(rows="\n".join(rows))
    return _page("Objects", org.definition.org_name, content)


def _columns(org: Org, sobject: str) -> list[str]:
    fields = org.definition.objects[sobject].fields
    chosen = [name for name in PREFERRED_COLUMNS if name in fields]
    if len(chosen) < 3:
        chosen += [n for n in fields if n not in chosen and n != "Id"][: 4 - len(chosen)]
    return ["Id", *chosen]


def _cell(value: Any) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return html.escape(str({k: v for k, v in value.items() if k != "attributes"}))
    return html.escape(str(value))


def _records(org: Org, requested: str, limit: int) -> str:
    sobject = org.sobject_name(requested)
    columns = _columns(org, sobject)
    order = "CreatedDate" if "CreatedDate" in org.definition.objects[sobject].fields else "Id"
    # Every piece is a schema name or an int, never user text, so plain formatting is safe.
    soql = f"SELECT {', '.join(columns)} FROM {sobject} ORDER BY {order} DESC, Id DESC"  # noqa: S608
    result = org.query(f"{soql} LIMIT {limit}", False, BROWSER_API_VERSION)
    rows = []
    for record in result.page(0, limit):
        cells = []
        for column in columns:
            if column == "Id":
                link = record_path(sobject, record["Id"])
                anchor = f'<a href="{html.escape(link)}">{html.escape(record["Id"])}</a>'
                cells.append(f"<td>{anchor}</td>")
            else:
                cells.append(f"<td>{_cell(record.get(column))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    total = org.count(sobject)
    more = (f'<p class="muted">Showing the newest {len(rows)} of {total}. '
            f'<a href="?limit={MAX_PAGE_SIZE}">Show more</a></p>') if total > len(rows) else ""
    label = org.definition.objects[sobject].label_plural
    empty = f'<tr><td colspan="{len(columns)}" class="muted">No records yet.</td></tr>'
    content = _template("records.html").substitute(
        label=html.escape(label),
        count=total,
        header="".join(f"<th>{html.escape(c)}</th>" for c in columns),
        rows="\n".join(rows) or empty,
        more=more,
    )
    return _page(label, org.definition.org_name, content)


def _record(org: Org, requested: str, record_id: str) -> str:
    sobject = org.sobject_name(requested)
    record = org.get(sobject, record_id, None, BROWSER_API_VERSION)
    rows = [
        f"<tr><th>{html.escape(name)}</th><td>{_cell(value)}</td></tr>"
        for name, value in record.items()
        if name != "attributes"
    ]
    title = record.get("Name") or " ".join(
        str(part) for part in (record.get("FirstName"), record.get("LastName")) if part
    ) or record_id
    content = _template("record.html").substitute(
        sobject=html.escape(sobject), title=html.escape(str(title)), rows="\n".join(rows)
    )
    return _page(str(title), org.definition.org_name, content)
