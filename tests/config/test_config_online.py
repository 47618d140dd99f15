"""The online check against sandbox orgs: each kind of mismatch between the YAML and the org.

Most tests read the org through ``EngineOrgMetadata`` (the sandbox engine's own describes and
SOQL); ``test_client_*`` go through the real SalesforceClient over HTTPS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wagtail_salesforce.client import SalesforceClient, clear_describe_cache
from wagtail_salesforce.config import ConfigIssue, load_config, loads
from wagtail_salesforce.config.errors import ERROR, WARNING
from wagtail_salesforce.config.online import ClientOrgMetadata, check_against_org

from .conftest import EngineOrgMetadata, TokenCredentials

REPO = Path(__file__).resolve().parents[2]

GOOD_FORM = """\
version: 1
forms:
  contact-us:
    label: Contact us
    object: Lead
    record_type: Web_Inquiry
    campaign: {name: Autumn Webinar, member_status: Responded}
    match_on: Email
    external_id: Submission_Id__c
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {from: company, default: "(not provided)"}
      LeadSource: {value: Web}
      Region__c: {value: EMEA}
      Newsletter__c: {value: true}
      Employees__c: {from: employees, default: 10}
      Score__c: {value: 4.5}
      Event_Date__c: {value: "2026-11-29"}
      Description: {template: "{message}"}
"""


def form_config(**overrides: str) -> str:
    """GOOD_FORM with lines replaced: ``{"      LeadSource: {value: Web}": "..."}``-style."""
    text = GOOD_FORM
    for old, new in overrides.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def check(text: str, metadata: Any) -> list[str]:
    """Issues of the config ``text`` as printed, minus the file name."""
    issues = check_against_org(loads(text, "salesforce.yaml"), metadata)
    return [str(issue).removeprefix("salesforce.yaml:") for issue in issues]


def test_a_config_that_fits_the_org_has_no_issues(engine_metadata: EngineOrgMetadata):
    assert check(GOOD_FORM, engine_metadata) == []


def test_unknown_object_is_reported_on_the_object_line(engine_metadata: EngineOrgMetadata):
    text = form_config(
        **{
            "object: Lead": "object: Webinar__c",
            "    campaign: {name: Autumn Webinar, member_status: Responded}\n": "",
        }
    )
    assert check(text, engine_metadata) == [
        "5: forms.contact-us.object: unknown Salesforce object 'Webinar__c'"
    ]


def test_unknown_field_names_the_nearest_field(engine_metadata: EngineOrgMetadata):
    text = form_config(**{"LeadSource: {value: Web}": "LeadSorce: {value: Web}"})
    assert check(text, engine_metadata) == [
        "14: forms.contact-us.fields.LeadSorce: unknown Salesforce field 'LeadSorce' on Lead "
        "(did you mean 'LeadSource'?)"
    ]


def test_field_name_case_must_match_salesforces(engine_metadata: EngineOrgMetadata):
    text = form_config(**{"Email: {from: email}": "email: {from: email}", "match_on: Email": ""})
    [issue] = check(text, engine_metadata)
    assert "unknown Salesforce field 'email' on Lead (did you mean 'Email'?)" in issue


def test_read_only_field_is_not_createable(engine_metadata: EngineOrgMetadata):
    text = form_config(**{"LeadSource: {value: Web}": "Name: {from: full_name}"})
    assert check(text, engine_metadata) == [
        "14: forms.contact-us.fields.Name: Lead.Name is not createable (read-only for this user)",
        "14: forms.contact-us.fields.Name: Lead.Name is not updateable, but with match_on a "
        "submission may update an existing record",
    ]


def test_create_only_field_cannot_be_updated_by_a_matching_form(
    engine_metadata: EngineOrgMetadata,
):
    text = form_config(**{"LeadSource: {value: Web}": "Legacy_Code__c: {value: A1}"})
    assert check(text, engine_metadata) == [
        "14: forms.contact-us.fields.Legacy_Code__c: Lead.Legacy_Code__c is not updateable, but "
        "with match_on a submission may update an existing record"
    ]
    # A form that only ever creates may set it.
    create_only = text.replace("    match_on: Email\n", "").replace(
        "    external_id: Submission_Id__c\n", ""
    )
    assert check(create_only, engine_metadata) == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Newsletter__c: {value: abc}", "'abc' is not true or false (a checkbox field)"),
        ("Employees__c: {value: abc}", "'abc' is not a whole number (an int field)"),
        ("Employees__c: {value: 2.5}", "2.5 is not a whole number (an int field)"),
        ("Score__c: {value: abc}", "'abc' is not a number (a double field)"),
        ("Event_Date__c: {value: '2026-02-30'}", "'2026-02-30' is not a date (YYYY-MM-DD)"),
        ("Company: {value: true}", "True is true/false, but Company is a string field"),
    ],
)
def test_constant_of_the_wrong_type_is_reported(
    engine_metadata: EngineOrgMetadata, line: str, message: str
):
    name = line.split(":")[0]
    text = form_config(**{"LeadSource: {value: Web}": line})
    if name in GOOD_FORM:
        text = "\n".join(
            row for row in text.splitlines() if not row.startswith(f"      {name}: ") or line in row
        )
    issues = check(text, engine_metadata)
    assert any(f"forms.contact-us.fields.{name}: Lead.{name}: {message}" in i for i in issues), (
        issues
    )


def test_default_of_the_wrong_type_is_reported(engine_metadata: EngineOrgMetadata):
    text = form_config(
        **{"Employees__c: {from: employees, default: 10}": "Employees__c: {from: n, default: many}"}
    )
    assert check(text, engine_metadata) == [
        "17: forms.contact-us.fields.Employees__c.default: Lead.Employees__c: 'many' is not a "
        "whole number (an int field)"
    ]


def test_template_into_a_non_text_field_is_reported(engine_metadata: EngineOrgMetadata):
    text = form_config(**{"Newsletter__c: {value: true}": "Newsletter__c: {template: '{x}'}"})
    assert check(text, engine_metadata) == [
        "16: forms.contact-us.fields.Newsletter__c: a template makes text, but "
        "Lead.Newsletter__c is a boolean field"
    ]


def test_constant_longer_than_the_field_is_reported(engine_metadata: EngineOrgMetadata):
    text = form_config(**{"LeadSource: {value: Web}": "Title: {value: " + "x" * 130 + "}"})
    [issue] = check(text, engine_metadata)
    assert "Lead.Title: 130 characters is longer than the field's 128" in issue


def test_required_field_without_a_mapping_is_reported(engine_metadata: EngineOrgMetadata):
    text = form_config(**{'      Company: {from: company, default: "(not provided)"}\n': ""})
    assert check(text, engine_metadata) == [
        "10: forms.contact-us.fields: Lead.Company is required but not mapped "
        "(add e.g. Company: {from: ..., default: ...} or {value: ...})"
    ]


def test_invalid_constant_for_a_restricted_picklist_is_an_error(
    engine_metadata: EngineOrgMetadata,
):
    text = form_config(**{"Region__c: {value: EMEA}": "Region__c: {value: Europe}"})
    issues = check_against_org(loads(text), engine_metadata)
    assert [(i.severity, i.message, i.hint) for i in issues] == [
        (
            ERROR,
            "Lead.Region__c: 'Europe' is not one of the picklist's values (EMEA, APAC); "
            "the picklist is restricted",
            "",
        )
    ]


def test_unknown_value_of_an_unrestricted_picklist_is_a_warning(
    engine_metadata: EngineOrgMetadata,
):
    text = form_config(**{"LeadSource: {value: Web}": "LeadSource: {value: Webb}"})
    [issue] = check_against_org(loads(text), engine_metadata)
    assert issue.severity == WARNING
    assert issue.hint == "did you mean 'Web'?"


def test_missing_record_type_suggests_the_nearest(engine_metadata: EngineOrgMetadata):
    text = form_config(**{"record_type: Web_Inquiry": "record_type: Web_Enquiry"})
    assert check(text, engine_metadata) == [
        "6: forms.contact-us.record_type: Lead has no record type 'Web_Enquiry' "
        "(did you mean 'Web_Inquiry'?)"
    ]


def test_inactive_record_type_is_reported(engine_metadata: EngineOrgMetadata):
    text = form_config(**{"record_type: Web_Inquiry": "record_type: Trade_Show"})
    assert check(text, engine_metadata) == [
        "6: forms.contact-us.record_type: Lead record type 'Trade_Show' is inactive"
    ]


def test_missing_campaign_is_reported(engine_metadata: EngineOrgMetadata):
    text = form_config(**{"name: Autumn Webinar": "name: Spring Webinar"})
    assert check(text, engine_metadata) == [
        "7: forms.contact-us.campaign.name: there is no campaign named 'Spring Webinar'"
    ]


def test_missing_campaign_by_id_is_reported(engine_metadata: EngineOrgMetadata):
    text = form_config(
        **{"{name: Autumn Webinar, member_status: Responded}": "{id: 7015g00000AbCdEAAV}"}
    )
    assert check(text, engine_metadata) == [
        "7: forms.contact-us.campaign.id: there is no campaign with Id '7015g00000AbCdEAAV'"
    ]


def test_inactive_campaign_is_reported(custom_org: Any, engine_metadata: EngineOrgMetadata):
    custom_org.org.create("Campaign", {"Name": "Spring Fair", "IsActive": False})
    text = form_config(**{"name: Autumn Webinar": "name: Spring Fair"})
    assert check(text, engine_metadata) == [
        "7: forms.contact-us.campaign.name: the campaign named 'Spring Fair' is not active "
        "(tick 'Active' on the campaign)"
    ]


def test_member_status_must_be_one_of_the_campaigns(engine_metadata: EngineOrgMetadata):
    text = form_config(**{"member_status: Responded": "member_status: Respond"})
    assert check(text, engine_metadata) == [
        "7: forms.contact-us.campaign.member_status: 'Respond' is not a member status of the "
        "campaign named 'Autumn Webinar' (it has: Sent, Responded) (did you mean 'Responded'?)"
    ]


def test_external_id_must_be_an_external_id_field(engine_metadata: EngineOrgMetadata):
    text = form_config(**{"external_id: Submission_Id__c": "external_id: Description"})
    assert check(text, engine_metadata) == [
        "9: forms.contact-us.external_id: Lead.Description is not an External ID field "
        "(tick 'External ID' on the field in Salesforce's Object Manager)"
    ]


SYNC = """\
version: 1
sync:
  match: [Contact, Lead]
  create_as: Lead
  defaults: {Company: "(not provided)", Region__c: EMEA}
  fields:
    first_name: {Lead: FirstName, Contact: FirstName, conflict: newest_wins}
    last_name: {Lead: LastName, Contact: LastName}
    lead_status: {Lead: Status, direction: from_salesforce}
    converted: {Lead: IsConverted, direction: from_salesforce}
"""


def test_a_sync_section_that_fits_the_org_has_no_issues(engine_metadata: EngineOrgMetadata):
    assert check(SYNC, engine_metadata) == []


def test_sync_pushing_to_a_read_only_field_is_reported(engine_metadata: EngineOrgMetadata):
    text = SYNC.replace(
        "converted: {Lead: IsConverted, direction: from_salesforce}",
        "converted: {Lead: IsConverted, direction: to_salesforce}",
    )
    assert check(text, engine_metadata) == [
        "10: sync.fields.converted.Lead: Lead.IsConverted is not updateable, but direction "
        "'to_salesforce' pushes local changes to it (use direction: from_salesforce)",
        "10: sync.fields.converted.Lead: Lead.IsConverted is not createable",
    ]


def test_sync_both_ways_on_a_create_only_field_is_reported(engine_metadata: EngineOrgMetadata):
    text = SYNC + "    code: {Lead: Legacy_Code__c}\n"
    assert check(text, engine_metadata) == [
        "11: sync.fields.code.Lead: Lead.Legacy_Code__c is not updateable, but direction 'both' "
        "pushes local changes to it (use direction: from_salesforce)"
    ]


def test_sync_unknown_field_and_bad_default_are_reported(engine_metadata: EngineOrgMetadata):
    text = SYNC.replace("Region__c: EMEA", "Region__c: Europe").replace(
        "Lead: FirstName, Contact: FirstName", "Lead: FirstName, Contact: First_Name"
    )
    issues = check(text, engine_metadata)
    assert issues == [
        "7: sync.fields.first_name.Contact: unknown Salesforce field 'First_Name' on Contact "
        "(did you mean 'FirstName'?)",
        "5: sync.defaults.Region__c: Lead.Region__c: 'Europe' is not one of the picklist's "
        "values (EMEA, APAC); the picklist is restricted",
    ]


def test_sync_creating_without_a_required_field_is_reported(engine_metadata: EngineOrgMetadata):
    text = SYNC.replace('Company: "(not provided)", ', "")
    assert check(text, engine_metadata) == [
        "4: sync.create_as: Lead.Company is required but sync would create records without it "
        "(map it in sync.fields (direction both or to_salesforce) or add it to sync.defaults)"
    ]


def test_unknown_sync_object_is_reported_on_the_match_line(engine_metadata: EngineOrgMetadata):
    config = loads(SYNC, "salesforce.yaml")

    class WithoutContact(EngineOrgMetadata):
        """The sandbox org as seen by a user who cannot access Contact."""

        def describe(self, sobject: str) -> dict[str, Any] | None:
            return None if sobject == "Contact" else super().describe(sobject)

    issues = check_against_org(config, WithoutContact(engine_metadata.org))
    assert [str(issue) for issue in issues] == [
        "salesforce.yaml:3: sync.match[0]: unknown Salesforce object 'Contact'"
    ]


def test_the_example_site_config_fits_the_default_sandbox_org(salesforce_sandbox: Any):
    config = load_config([REPO / "example_site" / "salesforce.yaml"])
    assert check_against_org(config, EngineOrgMetadata(salesforce_sandbox.org)) == []


# --- through the real client over HTTPS -----------------------------------------------------


def client_for_sandbox(sandbox: Any) -> SalesforceClient:
    return SalesforceClient(TokenCredentials(sandbox.password_token()), ca_file=sandbox.ca_file)


def test_client_metadata_finds_a_fitting_config_fits(custom_org: Any):
    metadata = ClientOrgMetadata(client_for_sandbox(custom_org))
    assert check(GOOD_FORM + SYNC.removeprefix("version: 1\n"), metadata) == []


def test_client_metadata_reports_the_same_mismatches_as_the_engine(custom_org: Any):
    custom_org.org.create("Campaign", {"Name": "Spring Fair", "IsActive": False})
    text = form_config(
        **{
            "object: Lead": "object: Lead",
            "record_type: Web_Inquiry": "record_type: Trade_Show",
            "name: Autumn Webinar": "name: Spring Fair",
            "member_status: Responded": "member_status: Attended",
            "Region__c: {value: EMEA}": "Region__c: {value: Europe}",
            "Newsletter__c: {value: true}": "Newsletter__c: {value: abc}",
            "LeadSource: {value: Web}": "LeadSorce: {value: Web}",
        }
    ) + SYNC.removeprefix("version: 1\n").replace("Lead: FirstName,", "Lead: Legacy_Code__c,")
    clear_describe_cache()
    over_https = check_against_org(loads(text), ClientOrgMetadata(client_for_sandbox(custom_org)))
    from_engine = check_against_org(loads(text), EngineOrgMetadata(custom_org.org))
    assert over_https == from_engine
    assert len(over_https) == 7
    paths = [call["path"] for call in custom_org.calls]
    assert any(path.rstrip("/").endswith("/sobjects/Lead/describe") for path in paths)
    assert any(path.rstrip("/").endswith("/sobjects/Contact/describe") for path in paths)
    assert sum(path.endswith("/query/") for path in paths) == 2  # campaign, member statuses


def test_client_metadata_reports_an_unknown_object_and_reads_campaigns(custom_org: Any):
    text = form_config(
        **{
            "object: Lead": "object: Webinar__c",
            "    campaign: {name: Autumn Webinar, member_status: Responded}\n": "",
        }
    )
    metadata = ClientOrgMetadata(client_for_sandbox(custom_org))
    issues: list[ConfigIssue] = check_against_org(loads(text), metadata)
    assert [i.message for i in issues] == ["unknown Salesforce object 'Webinar__c'"]
    assert metadata.campaign(name="Nope") is None
    assert metadata.campaign(name="Autumn Webinar")["IsActive"] is True
    campaign_id = metadata.campaign(name="Autumn Webinar")["Id"]
    assert metadata.campaign_member_statuses(campaign_id) == ["Sent", "Responded"]


# --- keeping history ---------------------------------------------------------------------------


def test_history_rules_and_an_activity_that_fit_the_org_have_no_issues(
    engine_metadata: EngineOrgMetadata,
):
    text = form_config(
        **{
            'Description: {template: "{message}"}': (
                'Description: {template: "{message}", on_update: append}'
            ),
            "LastName: {from: last_name}": "LastName: {from: last_name, on_update: keep}",
            "    fields:\n": '    activity: {subject: "Form: {label}"}\n    fields:\n',
        }
    )
    assert check(text, engine_metadata) == []


def test_append_on_a_field_that_is_not_text_is_an_error(engine_metadata: EngineOrgMetadata):
    text = form_config(**{"Score__c: {value: 4.5}": "Score__c: {value: 4.5, on_update: append}"})
    assert check(text, engine_metadata) == [
        "18: forms.contact-us.fields.Score__c.on_update: append adds text, but Lead.Score__c is "
        "a double field (use on_update: keep or overwrite)"
    ]


def test_on_update_on_a_mapping_that_never_updates_is_a_warning(
    engine_metadata: EngineOrgMetadata,
):
    text = form_config(
        **{
            "    match_on: Email\n": "",
            "    external_id: Submission_Id__c\n": "",
            "LastName: {from: last_name}": "LastName: {from: last_name, on_update: keep}",
        }
    )
    issues = check_against_org(loads(text, "salesforce.yaml"), engine_metadata)
    assert [(issue.path, issue.severity) for issue in issues] == [
        ("forms.contact-us.fields.LastName.on_update", WARNING)
    ]
    assert "only creates records" in issues[0].message


def test_on_update_on_a_field_that_cannot_be_updated_is_an_error(
    engine_metadata: EngineOrgMetadata,
):
    text = form_config(
        **{"LeadSource: {value: Web}": "Legacy_Code__c: {value: A1, on_update: keep}"}
    )
    assert check(text, engine_metadata) == [
        "14: forms.contact-us.fields.Legacy_Code__c: Lead.Legacy_Code__c is not updateable, but "
        "with match_on a submission may update an existing record"
    ]


class _TaskChanged(EngineOrgMetadata):
    """The sandbox org with its Task describe replaced by ``task`` (None: no Task object)."""

    task: Any = None

    def describe(self, sobject: str) -> dict[str, Any] | None:
        return self.task if sobject == "Task" else super().describe(sobject)


def activity_config() -> str:
    return form_config(**{"    fields:\n": "    activity: true\n    fields:\n"})


def test_an_activity_needs_the_task_object(engine_metadata: EngineOrgMetadata):
    metadata = _TaskChanged(engine_metadata.org)
    assert check(activity_config(), metadata) == [
        "10: forms.contact-us.activity: the org has no Task object, so no activity can be "
        "recorded (turn on activities in Salesforce, or remove 'activity')"
    ]


def test_an_activity_needs_tasks_the_user_may_create_with_a_completed_status(
    engine_metadata: EngineOrgMetadata,
):
    metadata = _TaskChanged(engine_metadata.org)
    task = dict(engine_metadata.describe("Task") or {})
    fields = [dict(field) for field in task["fields"]]
    for field in fields:
        if field["name"] == "Status":
            field["picklistValues"] = [{"value": "Open", "active": True}]
    metadata.task = {**task, "createable": False, "fields": fields}
    assert check(activity_config(), metadata) == [
        "10: forms.contact-us.activity: Task records cannot be created by this user (give the "
        "connected user the 'Edit Tasks' permission)",
        "10: forms.contact-us.activity: Task.Status has no value 'Completed' (it has: Open) (add "
        "the 'Completed' task status in Salesforce's Setup)",
    ]
