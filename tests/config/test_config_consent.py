"""The ``consent`` sections: what they load into, and the online check of their fields (they
exist, are checkboxes or date/time fields, and are updateable when site consent is written)."""

from __future__ import annotations

from typing import Any

import pytest

from wagtail_salesforce.config import ConsentMeaning, Direction, loads
from wagtail_salesforce.config.online import check_against_org
from wagtail_salesforce.sandbox.pytest_plugin import SandboxFactory

from .conftest import EngineOrgMetadata

CONSENT = """\
version: 1
sync:
  match: [Contact, Lead]
  create_as: Lead
  defaults: {Company: Acme}
  fields:
    last_name: {Lead: LastName, Contact: LastName}
  consent:
    email:
      label: Email marketing
      meaning: opt_out
      Lead: HasOptedOutOfEmail
      Contact: HasOptedOutOfEmail
      changed_at: {Lead: Email_Consent_Date__c}
    newsletter:
      meaning: opt_in
      Lead: Newsletter_Opt_In__c
forms:
  signup:
    label: Sign up
    object: Lead
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {value: Acme}
    consent:
      email: {from: subscribe, meaning: opt_in}
      newsletter: {from: no_news, meaning: opt_out}
"""

ORG = {
    "objects": {
        "Lead": {
            "fields": {
                "Newsletter_Opt_In__c": {"type": "boolean"},
                "Email_Consent_Date__c": {"type": "datetime"},
                "Consent_Note__c": {"type": "string", "length": 20},
                "Locked_Opt_In__c": {"type": "boolean", "updateable": False},
            }
        }
    }
}


@pytest.fixture
def metadata(salesforce_sandbox_factory: SandboxFactory) -> EngineOrgMetadata:
    return EngineOrgMetadata(salesforce_sandbox_factory(ORG).org)


def check(text: str, metadata: Any) -> list[str]:
    issues = check_against_org(loads(text, "salesforce.yaml"), metadata)
    return [str(issue).removeprefix("salesforce.yaml:") for issue in issues]


def test_consent_sections_load_into_topics_and_form_checkboxes() -> None:
    config = loads(CONSENT)
    assert config.sync is not None
    email = config.sync.consent["email"]
    assert (email.meaning, email.label, email.direction) == (
        ConsentMeaning.OPT_OUT,
        "Email marketing",
        Direction.BOTH,
    )
    assert dict(email.salesforce) == {"Lead": "HasOptedOutOfEmail", "Contact": "HasOptedOutOfEmail"}
    assert dict(email.changed_at) == {"Lead": "Email_Consent_Date__c"}
    form = config.forms["signup"]
    assert [(c.topic, c.field, c.meaning) for c in form.consent.values()] == [
        ("email", "subscribe", ConsentMeaning.OPT_IN),
        ("newsletter", "no_news", ConsentMeaning.OPT_OUT),
    ]
    assert {"subscribe", "no_news"} <= form.form_field_names


def test_consent_meaning_turns_a_checkbox_into_permission() -> None:
    assert ConsentMeaning.OPT_OUT.permits(False) and not ConsentMeaning.OPT_OUT.permits(True)
    assert ConsentMeaning.OPT_IN.permits(True) and not ConsentMeaning.OPT_IN.permits(False)
    assert ConsentMeaning.OPT_OUT.ticked(permitted=False) is True


def test_a_consent_form_topic_may_live_in_the_file_with_the_sync_section(tmp_path: Any) -> None:
    from wagtail_salesforce.config import load_config

    sync_part, forms_part = CONSENT.split("forms:\n")
    (tmp_path / "sync.yaml").write_text(sync_part, encoding="utf-8")
    (tmp_path / "forms.yaml").write_text("version: 1\nforms:\n" + forms_part, encoding="utf-8")
    config = load_config([tmp_path / "forms.yaml", tmp_path / "sync.yaml"])
    assert set(config.forms["signup"].consent) == {"email", "newsletter"}


def test_consent_fields_that_fit_the_org_have_no_issues(metadata: EngineOrgMetadata) -> None:
    assert check(CONSENT, metadata) == []


def test_a_consent_field_that_is_missing_or_not_a_checkbox_is_reported(
    metadata: EngineOrgMetadata,
) -> None:
    text = CONSENT.replace("Contact: HasOptedOutOfEmail", "Contact: HasOptedOutOfMail").replace(
        "Lead: Newsletter_Opt_In__c", "Lead: Consent_Note__c"
    )
    assert check(text, metadata) == [
        "13: sync.consent.email.Contact: unknown Salesforce field 'HasOptedOutOfMail' on Contact "
        "(did you mean 'HasOptedOutOfEmail'?)",
        "17: sync.consent.newsletter.Lead: Lead.Consent_Note__c is a string field, not a "
        "checkbox (boolean)",
    ]


def test_a_changed_at_field_must_be_a_datetime(metadata: EngineOrgMetadata) -> None:
    text = CONSENT.replace("{Lead: Email_Consent_Date__c}", "{Lead: Newsletter_Opt_In__c}")
    assert check(text, metadata) == [
        "14: sync.consent.email.changed_at.Lead: Lead.Newsletter_Opt_In__c is a boolean field, "
        "not a date/time field (datetime)"
    ]


def test_a_read_only_checkbox_is_reported_only_when_site_consent_is_written(
    metadata: EngineOrgMetadata,
) -> None:
    text = CONSENT.replace("Lead: Newsletter_Opt_In__c", "Lead: Locked_Opt_In__c")
    assert check(text, metadata) == [
        "17: sync.consent.newsletter.Lead: Lead.Locked_Opt_In__c is not updateable, but consent "
        "given on the site is written to it (use direction: from_salesforce, or grant the user "
        "edit access to the field)"
    ]
    one_way = text.replace(
        "meaning: opt_in\n", "meaning: opt_in\n      direction: from_salesforce\n"
    )
    assert check(one_way, metadata) == []
