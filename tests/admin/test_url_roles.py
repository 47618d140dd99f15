"""Every plugin admin URL × every role answers the status its permission calls for (issue 12).

The URLs come from the URL conf, so a URL added without a line in ``ACCESS`` fails
``test_every_admin_url_has_an_expected_access``. Each role's expected status is derived from the
one table: anonymous visitors go to the admin login, a user without the URL's permission gets
the plugin's 403 page, a user with it gets the page (200) or the action's redirect (302).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import URLPattern, reverse
from wagtail.models import Site

from wagtail_salesforce.admin import urls as admin_urls
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
from wagtail_salesforce.sync.models import Lead, LeadOrigin, Segment

APP = "wagtail_salesforce"


class Access(NamedTuple):
    """How a URL is requested, the plugin permission it needs, and its status when allowed."""

    method: str
    permission: str | tuple[str, ...]  # a tuple: any one of them opens it
    allowed_status: int
    data: dict[str, str] = {}


ACCESS: dict[str, Access] = {
    # Settings → Salesforce
    "index": Access("get", "manage_connection", 302),  # one site: straight to its panel
    "edit": Access("get", "manage_connection", 200),
    "connect": Access("post", "manage_connection", 302),  # to the sandbox's authorize page
    "test_connection": Access("post", "manage_connection", 302),
    "disconnect": Access("post", "manage_connection", 302),
    "oauth_callback": Access("get", "manage_connection", 302),  # unknown state: back to panel
    # Reports → Salesforce outbox
    "outbox": Access("get", "view_outboxentry", 200),
    "outbox_results": Access("get", "view_outboxentry", 200),
    "outbox_retry": Access("post", "retry_outboxentry", 302),
    "outbox_deliver_held": Access("post", "retry_outboxentry", 302),
    "outbox_correct": Access("get", "correct_outboxentry", 200),  # a dead letter's form
    # Leads, segments, sync runs
    "leads": Access("get", "view_lead", 200),
    "leads_results": Access("get", "view_lead", 200),
    "lead_edit": Access("get", "view_lead", 200),
    "lead_create": Access("post", "edit_lead", 302, {"email": "new.lead@example.com"}),
    "segments": Access("get", "manage_segment", 200),
    "segments_results": Access("get", "manage_segment", 200),
    "segment_save": Access("post", "manage_segment", 302, {"name": "Everyone"}),
    "segment_export": Access("get", "export_lead", 200),
    "segment_delete": Access("get", "manage_segment", 200),  # the confirmation page
    "sync_runs": Access("get", "view_lead", 200),
    "sync_runs_results": Access("get", "view_lead", 200),
    "sync_now": Access("post", "manage_connection", 302),
    # Settings → Personal data requests
    "people": Access("get", ("access_person", "erase_person"), 200),
    "people_export": Access("post", "access_person", 200, {"email": "known@example.com"}),
    "people_erase": Access(
        "post", "erase_person", 302, {"email": "nobody@example.com", "salesforce": "keep"}
    ),
}

PLUGIN_PERMISSIONS = (
    "view_lead",
    "edit_lead",
    "export_lead",
    "manage_segment",
    "view_outboxentry",
    "retry_outboxentry",
    "correct_outboxentry",
    "manage_connection",
    "access_person",
    "erase_person",
)
MARKETING = {"view_lead", "export_lead", "edit_lead", "manage_segment", "view_outboxentry"}
ALL = "all"
ANONYMOUS = "anonymous"

# Role name → the plugin permissions it holds (besides wagtailadmin.access_admin).
ROLES: dict[str, frozenset[str] | str] = {
    ANONYMOUS: frozenset(),
    "admin access only": frozenset(),
    "Marketing": frozenset(MARKETING),
    "Salesforce admin": frozenset(PLUGIN_PERMISSIONS),
    "superuser": ALL,
    **{f"only {codename}": frozenset({codename}) for codename in PLUGIN_PERMISSIONS},
}


def url_names() -> list[str]:
    return [
        pattern.name
        for pattern in admin_urls.urlpatterns
        if isinstance(pattern, URLPattern) and pattern.name
    ]


def expected_status(url_name: str, role: str) -> int:
    if role == ANONYMOUS:
        return 302
    held = ROLES[role]
    access = ACCESS[url_name]
    needed = {access.permission} if isinstance(access.permission, str) else set(access.permission)
    return access.allowed_status if held == ALL or needed & set(held) else 403


def test_every_admin_url_has_an_expected_access() -> None:
    assert set(ACCESS) == set(url_names())


def test_recipe_roles_are_the_documented_groups() -> None:
    assert ROLES["Salesforce admin"] == frozenset(PLUGIN_PERMISSIONS)
    assert set(PLUGIN_PERMISSIONS) >= MARKETING


@pytest.fixture
def objects(configured: SalesforceConnection) -> dict[str, int]:
    """Real objects for the URLs' arguments: the configured site, a lead, a segment and a dead
    letter of it."""
    site: Site = configured.site
    lead = Lead.objects.create(site=site, email="known@example.com", source=LeadOrigin.ADMIN)
    segment = Segment.objects.create(site=site, name="All", filter={"fields": {}})
    dead = OutboxEntry.objects.create(
        site=site,
        mapping_key="contact-us",
        form_data={"email": "x@example"},
        state=OutboxState.DEAD,
    )
    return {
        "site_id": site.pk,
        "lead_id": lead.pk,
        "segment_id": segment.pk,
        "pk": segment.pk,
        "entry_id": dead.pk,
    }


def url_for(url_name: str, objects: dict[str, int]) -> str:
    pattern = next(p for p in admin_urls.urlpatterns if getattr(p, "name", None) == url_name)
    assert isinstance(pattern, URLPattern)
    kwargs = {name: objects[name] for name in pattern.pattern.converters}
    url = reverse(f"{APP}:{url_name}", kwargs=kwargs)
    if url_name == "oauth_callback":
        url += "?code=not-a-code&state=not-a-state"
    return url


def client_for(role: str, django_user_model: Any) -> Client:
    client = Client()
    if role == ANONYMOUS:
        return client
    held = ROLES[role]
    user: Any
    if held == ALL:
        user = django_user_model.objects.create_superuser(username="root", password="pw-123456")
    else:
        user = django_user_model.objects.create_user(username="staff", password="pw-123456")
        group = Group.objects.create(name=role)
        group.permissions.add(Permission.objects.get(codename="access_admin"))
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label=APP, codename__in=held)
        )
        user.groups.add(group)
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("url_name", url_names())
def test_url_answers_the_role_its_status(
    url_name: str, role: str, objects: dict[str, int], django_user_model: Any
) -> None:
    access = ACCESS[url_name]
    client = client_for(role, django_user_model)
    response = getattr(client, access.method)(url_for(url_name, objects), access.data)

    expected = expected_status(url_name, role)
    assert response.status_code == expected, f"{access.method.upper()} {url_name} as {role}"
    if role == ANONYMOUS:
        assert response["Location"].startswith(reverse("wagtailadmin_login"))
    elif expected == 403:
        assert b"salesforce-forbidden" in response.content
    elif expected == 302:
        # Done, not refused: Wagtail turns a refusal into a redirect to the dashboard or login.
        assert response["Location"] not in {reverse("wagtailadmin_home"), ""}
        assert not response["Location"].startswith(reverse("wagtailadmin_login"))
