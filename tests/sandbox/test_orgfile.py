"""The sandbox's org definition file: defaults, overrides, custom objects and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from wagtail_salesforce.sandbox.ids import custom_key_prefixes
from wagtail_salesforce.sandbox.orgfile import OrgFileError, load_org_definition

EXAMPLE = """\
org: {id: 00D5g000004XyZaEAK, name: Test Org, daily_api_limit: 500, session_timeout_seconds: 60}
users:
  - {username: ops@sandbox.example, password: pw, first_name: Op, last_name: Erator,
     email: ops@sandbox.example}
connected_apps:
  - name: Wagtail
    client_id: key
    client_secret: secret
    callback_urls: [http://127.0.0.1:8000/cb/]
    require_pkce: false
    refresh_token_policy: {mode: expire_after, seconds: 3600}
    rotate_refresh_tokens: true
objects:
  Lead:
    fields:
      Submission_Id__c: {type: string, length: 64, external_id: true, unique: true}
      Rating__c: {type: picklist, values: [Hot, Warm, Cold], restricted: true}
    record_types: [{developer_name: Partner, name: Partner Lead, active: true}]
    duplicate_rules: [{name: Lead email, fields: [email], action: block}]
  Event_Registration__c:
    label: Event registration
    fields: {Email__c: {type: email}, Name: {type: string, length: 80, required: true}}
data:
  Campaign: [{Name: Spring Launch, IsActive: true}]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "org.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(OrgFileError) as caught:
        load_org_definition(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    return message[len(f"{path}: ") :]


def test_no_file_gives_the_built_in_org() -> None:
    definition = load_org_definition(None)
    lead = definition.objects["Lead"]
    assert definition.org_id == "00D5g000004XyZaEAK"
    assert definition.users[0].username == "admin@sandbox.example"
    assert definition.connected_apps[0].client_id == "sandbox-consumer-key"
    assert definition.connected_apps[0].refresh_token_policy_mode == "until_revoked"
    assert (lead.fields["LastName"].required, lead.fields["LastName"].length) == (True, 80)
    assert (lead.fields["Company"].required, lead.fields["Company"].length) == (True, 255)
    assert lead.fields["Status"].default == "Open - Not Contacted"
    assert lead.fields["Description"].length == 32000
    assert [rt.developer_name for rt in lead.record_types] == ["Web_Inquiry"]
    assert definition.seed_data["Campaign"] == ({"Name": "Autumn Webinar", "IsActive": True},)


def test_every_object_has_the_system_fields() -> None:
    definition = load_org_definition(None)
    system = ["Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate",
              "LastModifiedById", "SystemModstamp"]  # fmt: skip
    for obj in definition.objects.values():
        assert list(obj.fields)[:7] == system, obj.name


def test_file_overrides_org_users_and_connected_apps(tmp_path: Path) -> None:
    definition = load_org_definition(write(tmp_path, EXAMPLE))
    app = definition.connected_apps[0]
    assert (definition.org_name, definition.daily_api_limit) == ("Test Org", 500)
    assert definition.session_timeout_seconds == 60
    assert [u.username for u in definition.users] == ["ops@sandbox.example"]
    assert (app.client_id, app.client_secret, app.require_pkce) == ("key", "secret", False)
    assert (app.refresh_token_policy_mode, app.refresh_token_ttl_seconds) == ("expire_after", 3600)
    assert app.rotate_refresh_tokens is True
    assert app.callback_urls == ("http://127.0.0.1:8000/cb/",)


def test_file_extends_standard_objects_with_custom_fields(tmp_path: Path) -> None:
    lead = load_org_definition(write(tmp_path, EXAMPLE)).objects["Lead"]
    submission = lead.fields["Submission_Id__c"]
    rating = lead.fields["Rating__c"]
    assert (submission.external_id, submission.unique, submission.length) == (True, True, 64)
    assert submission.custom is True
    assert (rating.restricted, [v.value for v in rating.picklist_values]) == (
        True,
        ["Hot", "Warm", "Cold"],
    )
    assert "LastName" in lead.fields  # the standard fields stay
    assert [rt.developer_name for rt in lead.record_types] == ["Partner"]
    assert [(r.name, r.fields, r.action) for r in lead.duplicate_rules] == [
        ("Lead email", ("Email",), "block")
    ]


def test_file_declares_custom_objects(tmp_path: Path) -> None:
    registration = load_org_definition(write(tmp_path, EXAMPLE)).objects["Event_Registration__c"]
    assert (registration.label, registration.custom) == ("Event registration", True)
    assert (
        registration.key_prefix
        == custom_key_prefixes(["Event_Registration__c"])["Event_Registration__c"]
    )
    assert registration.fields["Email__c"].type == "email"
    assert registration.fields["Name"].required is True
    assert registration.fields["OwnerId"].reference_to == ("User",)


def test_file_seed_data_replaces_the_default_seed(tmp_path: Path) -> None:
    definition = load_org_definition(write(tmp_path, EXAMPLE))
    assert definition.seed_data["Campaign"] == ({"Name": "Spring Launch", "IsActive": True},)


def test_empty_file_gives_the_built_in_org(tmp_path: Path) -> None:
    assert load_org_definition(write(tmp_path, "")) == load_org_definition(None)


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, "orgs: {}\n")
    assert message.startswith("(top level).orgs: unknown key (allowed: ")


def test_unknown_field_option_is_named_with_its_path(tmp_path: Path) -> None:
    text = "objects:\n  Lead:\n    fields:\n      X__c: {type: string, size: 5}\n"
    message = load_error(tmp_path, text)
    assert message.startswith("objects.Lead.fields.X__c.size: unknown key")


def test_wrongly_typed_value_is_named_with_its_path(tmp_path: Path) -> None:
    text = "objects:\n  Lead:\n    fields:\n      X__c: {type: string, length: long}\n"
    assert load_error(tmp_path, text) == (
        "objects.Lead.fields.X__c.length: must be an integer, got 'long'"
    )


def test_boolean_is_not_accepted_as_a_number(tmp_path: Path) -> None:
    assert load_error(tmp_path, "org: {daily_api_limit: true}\n") == (
        "org.daily_api_limit: must be an integer, got True"
    )


def test_unknown_field_type_is_rejected(tmp_path: Path) -> None:
    text = "objects:\n  Lead:\n    fields:\n      X__c: {type: blob}\n"
    assert load_error(tmp_path, text).startswith(
        "objects.Lead.fields.X__c.type: unknown field type"
    )


def test_new_field_on_a_standard_object_must_be_custom(tmp_path: Path) -> None:
    text = "objects:\n  Lead:\n    fields:\n      Shoe_Size: {type: int}\n"
    assert load_error(tmp_path, text) == (
        "objects.Lead.fields.Shoe_Size: custom field names must end in '__c'"
    )


def test_new_object_must_be_custom(tmp_path: Path) -> None:
    assert load_error(tmp_path, "objects:\n  Opportunity: {}\n") == (
        "objects.Opportunity: is not a standard object; custom object names must end in '__c'"
    )


def test_reference_field_needs_a_target(tmp_path: Path) -> None:
    text = "objects:\n  Lead:\n    fields:\n      Partner__c: {type: reference}\n"
    assert load_error(tmp_path, text) == (
        "objects.Lead.fields.Partner__c.reference_to: is required for a reference field"
    )


def test_duplicate_rule_on_an_unknown_field_is_rejected(tmp_path: Path) -> None:
    text = "objects:\n  Lead:\n    duplicate_rules: [{name: r, fields: [Nope]}]\n"
    assert load_error(tmp_path, text) == (
        "objects.Lead.duplicate_rules[0].fields: no field 'Nope' on Lead"
    )


def test_expire_after_policy_needs_seconds(tmp_path: Path) -> None:
    text = (
        "connected_apps:\n  - {name: a, client_id: b, client_secret: c, callback_urls: [x],\n"
        "     refresh_token_policy: {mode: expire_after}}\n"
    )
    assert load_error(tmp_path, text) == (
        "connected_apps[0].refresh_token_policy.seconds: is required for expire_after"
    )


def test_seed_data_for_an_unknown_object_is_rejected(tmp_path: Path) -> None:
    assert load_error(tmp_path, "data:\n  Widget__c: [{Name: x}]\n") == (
        "data.Widget__c: is not an object of this org"
    )


def test_invalid_yaml_is_reported_with_the_file(tmp_path: Path) -> None:
    assert load_error(tmp_path, "org: [unclosed\n").startswith("not valid YAML")


def test_missing_file_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    with pytest.raises(OrgFileError) as caught:
        load_org_definition(missing)
    assert str(caught.value).startswith(f"{missing}: cannot read the org file")


def test_custom_key_prefixes_do_not_depend_on_unrelated_objects() -> None:
    alone = custom_key_prefixes(["Event_Registration__c"])
    together = custom_key_prefixes(["Event_Registration__c", "Donation__c", "Volunteer__c"])
    assert together["Event_Registration__c"] == alone["Event_Registration__c"]
    assert len(set(together.values())) == 3


def test_record_types_on_an_object_give_it_a_record_type_field(tmp_path: Path) -> None:
    text = "objects:\n  Campaign:\n    record_types: [{developer_name: Event, name: Event}]\n"
    campaign = load_org_definition(write(tmp_path, text)).objects["Campaign"]
    assert campaign.fields["RecordTypeId"].reference_to == ("RecordType",)
    assert [rt.developer_name for rt in campaign.record_types] == ["Event"]
