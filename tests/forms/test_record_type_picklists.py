"""Picklist values per record type (read through the UI API with the describes), and the
org's lengths on the rendered inputs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from wagtail.models import Site

from tests.outbox.conftest import ORG_YAML, landing_page, write_config
from wagtail_salesforce.config.metadata import cached_record_type_picklists
from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.forms.describes import refresh_all_sites
from wagtail_salesforce.outbox.models import OutboxEntry

# Industry is restricted; the Web_Inquiry record type offers two of its twelve values.
RECORD_TYPE_ORG = ORG_YAML + """
      Industry: {restricted: true}
    record_types:
      - developer_name: Web_Inquiry
        name: Web Inquiry
        default: true
        picklist_values: {Industry: [Technology, Finance]}
"""

MAPPING_YAML = """
version: 1
forms:
  lead-full:
    label: Web inquiry with an industry
    object: Lead
    record_type: Web_Inquiry
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {from: company}
      Industry: {from: industry%s}
"""


@pytest.fixture
def salesforce_org() -> str:
    return RECORD_TYPE_ORG


def post(page: Any, language: str = "en", **data: str) -> Any:
    form = {"email": "visitor@example.com", "last_name": "Visitor", "company": "Acme", **data}
    return Client(headers={"accept-language": language}).post(page.url, form)


def industry_page(site: Site, field_type: str = "singleline") -> Any:
    from home.models import FormField

    page = landing_page(site)
    FormField.objects.create(page=page, label="Industry", field_type=field_type, choices="")
    return page


def test_the_refresh_reads_the_record_types_values_through_the_ui_api(
    site: Site, connection: SalesforceConnection, sandbox: Any, config_file: Any
) -> None:
    write_config(config_file, MAPPING_YAML % "")
    assert cached_record_type_picklists(site.pk, "Lead", "Web_Inquiry") is None
    refresh_all_sites()
    stored = cached_record_type_picklists(site.pk, "Lead", "Web_Inquiry")
    assert stored is not None
    assert list(stored["Industry"]) == ["Finance", "Technology"]
    ui_api = [c for c in sandbox.calls if "/ui-api/object-info/Lead/picklist-values/" in c["path"]]
    assert len(ui_api) == 1  # one call per object and record type


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "is not one of the choices accepted here"), ("ja", "選べる値ではありません")],
)
def test_a_value_of_the_object_but_not_of_the_record_type_is_refused_at_the_form(
    site: Site,
    connection: SalesforceConnection,
    sandbox: Any,
    config_file: Any,
    language: str,
    message: str,
) -> None:
    write_config(config_file, MAPPING_YAML % "")
    refresh_all_sites()
    page = industry_page(site)
    # Retail is one of Lead.Industry's values (the describe lists it), not Web_Inquiry's.
    response = post(page, language, industry="Retail")
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not OutboxEntry.objects.exists()
    post(page, language, industry="Finance")
    assert OutboxEntry.objects.count() == 1


def test_choices_from_salesforce_offer_only_the_record_types_values(
    site: Site, connection: SalesforceConnection, sandbox: Any, config_file: Any
) -> None:
    write_config(config_file, MAPPING_YAML % ", choices: salesforce")
    refresh_all_sites()
    page = industry_page(site, "dropdown")
    html = Client().get(page.url).content.decode()
    offered = re.findall(r'<option value="([^"]+)"', html)
    assert offered == ["Finance", "Technology"]


def test_text_inputs_carry_the_orgs_maximum_length(
    site: Site, connection: SalesforceConnection, sandbox: Any, config_file: Any
) -> None:
    write_config(config_file, MAPPING_YAML % "")
    page = industry_page(site)
    html = Client().get(page.url).content.decode()
    assert 'maxlength="80"' not in html  # no describe yet: Wagtail's own 255
    refresh_all_sites()
    html = Client().get(page.url).content.decode()

    def input_tag(name: str) -> str:
        match = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
        assert match is not None, name
        return match.group(0)

    assert 'maxlength="80"' in input_tag("last_name")  # Lead.LastName holds 80
    assert 'maxlength="255"' in input_tag("company")  # Lead.Company holds 255
    assert 'maxlength="80"' in input_tag("email")  # Lead.Email holds 80
