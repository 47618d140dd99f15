"""The form refuses what the org would refuse, from the cached describe, in the visitor's
language; width-folded input is delivered as the org expects."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.test import Client
from wagtail.models import Site

from tests.outbox.conftest import landing_page, leads_with_email, write_config
from wagtail_salesforce.config import get_config
from wagtail_salesforce.config.metadata import CachedDescribe, cached_describe
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.forms.describes import refresh_all_sites
from wagtail_salesforce.outbox.models import OutboxEntry

CHOICES_YAML = """
version: 1
forms:
  lead-full:
    label: Lead with an industry
    object: Lead
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {from: company}
      Industry: {from: industry, choices: salesforce}
      Rating: {from: rating}
"""


def post(page: Any, language: str = "en", **data: str) -> Any:
    form = {"email": "visitor@example.com", "last_name": "Visitor", "company": "Acme", **data}
    return Client(headers={"accept-language": language}).post(page.url, form)


@pytest.fixture
def described(site: Site, connection: SalesforceConnection, sandbox: Any) -> Site:
    # The mapping adds people to a campaign: CampaignMember is described too (Connect's check).
    assert refresh_all_sites() == {site.pk: ["CampaignMember", "Lead"]}
    return site


def test_the_background_refresh_stores_the_org_describe(described: Site) -> None:
    describe = cached_describe(described.pk, "Lead")
    assert describe is not None
    assert {"LastName", "Email"} <= {field["name"] for field in describe["fields"]}


def test_a_visitor_request_never_calls_salesforce(described: Site, sandbox: Any) -> None:
    page = landing_page(described)
    calls = len(sandbox.calls)
    post(page, last_name="x" * 100)
    assert len(sandbox.calls) == calls


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "at most 80 characters"), ("ja", "80 文字以下")],
)
def test_a_name_too_long_for_salesforce_is_refused_at_the_form(
    described: Site, language: str, message: str
) -> None:
    page = landing_page(described)
    response = post(page, language, last_name="x" * 100)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not OutboxEntry.objects.exists()


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "full domain"), ("ja", "ドメイン")],
)
def test_an_email_salesforce_refuses_is_refused_at_the_form(
    described: Site, language: str, message: str
) -> None:
    page = landing_page(described)
    response = post(page, language, email="grace@localhost")
    assert message in response.content.decode()
    assert not OutboxEntry.objects.exists()


@pytest.mark.parametrize(("language", "message"), [("en", "required"), ("ja", "必須")])
def test_a_field_salesforce_requires_is_required_at_the_form(
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    config_file: Any,
    language: str,
    message: str,
) -> None:
    write_config(config_file, CHOICES_YAML)
    refresh_all_sites()
    page = landing_page(site)  # Company is optional on the page, required on Lead
    response = post(page, language, company="")
    assert message in response.content.decode()
    assert not OutboxEntry.objects.exists()


def test_with_no_describe_yet_the_form_accepts_and_delivery_decides(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    assert not CachedDescribe.objects.exists()
    page = landing_page(site)
    post(page, last_name="x" * 100)
    assert OutboxEntry.objects.count() == 1


def test_full_width_input_is_delivered_folded_and_matches_the_lead(
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sandbox.org.create("Lead", {"Email": "taro@example.com", "LastName": "Yamada", "Company": "X"})
    refresh_all_sites()
    page = landing_page(site, "lead-match")
    with django_capture_on_commit_callbacks(execute=True):
        post(page, email="\u3000ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ ", last_name="Yamada")
    entry = OutboxEntry.objects.get()
    assert entry.form_data["email"] == "taro@example.com"
    entry.refresh_from_db()
    assert entry.state == "delivered"
    assert len(leads_with_email(sandbox, "taro@example.com")) == 1


def test_a_mapping_may_opt_a_field_out_of_normalising(
    site: Site, connection: SalesforceConnection, config_file: Any, sandbox: Any
) -> None:
    write_config(
        config_file,
        CHOICES_YAML.replace("Email: {from: email}", "Email: {from: email, normalise: false}"),
    )
    mapping = get_config().forms["lead-full"]
    assert not mapping.fields["Email"].normalise  # type: ignore[union-attr]


def test_choices_come_from_the_org_and_follow_its_changes(
    site: Site, connection: SalesforceConnection, sandbox: Any, config_file: Any
) -> None:
    from home.models import FormField

    write_config(config_file, CHOICES_YAML)
    refresh_all_sites()
    page = landing_page(site)
    FormField.objects.create(page=page, label="Industry", field_type="dropdown", choices="")
    html = Client().get(page.url).content.decode()
    assert 'value="Technology"' in html

    # An admin edits the values in Setup; the background refresh brings them to the form.
    changed = requests.post(
        f"{sandbox.login_url}/__sandbox__/picklist",
        json={"object": "Lead", "field": "Industry", "values": [
            {"value": "Robotics", "label": "Robotics & AI"},
            {"value": "Retired", "label": "Retired", "active": False},
        ]},
        timeout=10,
    )
    assert changed.status_code == 204, changed.text
    html = Client().get(page.url).content.decode()
    assert 'value="Technology"' in html  # until the refresh, the form keeps the last describe
    refresh_all_sites()
    html = Client().get(page.url).content.decode()
    assert 'value="Robotics"' in html and "Robotics &amp; AI" in html
    assert 'value="Technology"' not in html and 'value="Retired"' not in html
