"""Loading valid config into the frozen model, merging files, safety limits and the schema file."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from wagtail_salesforce import exceptions
from wagtail_salesforce.config import (
    MAX_ALIAS_EXPANSION,
    CampaignRef,
    ConfigError,
    Conflict,
    Constant,
    Direction,
    From,
    Template,
    get_config,
    load_config,
    loads,
    schema,
)

REPO = Path(__file__).resolve().parents[2]
VALID = Path(__file__).parent / "valid"
VALID_FILES = sorted(VALID.glob("*.yaml"))

FORM = """\
  {key}:
    label: {label}
    object: Lead
    fields:
      Email: {{from: email}}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda path: path.stem)
def test_valid_file_loads(path: Path):
    config = load_config([path])
    assert config.files == (str(path),)
    assert config.forms or config.sync


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda path: path.stem)
def test_valid_file_also_passes_the_published_schema_with_plain_jsonschema(path: Path):
    # The loader validates in pieces for speed; the whole published schema must agree.
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(Draft202012Validator(schema()).iter_errors(data)) == []


def test_issue_example_builds_the_documented_model():
    config = load_config([VALID / "issue-example.yaml"])
    form = config.forms["contact-us"]
    assert (form.key, form.label, form.object) == ("contact-us", "Contact us to Lead", "Lead")
    assert form.record_type == "Web_Inquiry"
    assert form.campaign == CampaignRef(name="Autumn Webinar", member_status="Responded")
    assert (form.match_on, form.external_id) == ("Email", "Submission_Id__c")
    assert form.fields["Email"] == From("email")
    assert form.fields["Company"] == From("company", "(not provided)", has_default=True)
    assert form.fields["LeadSource"] == Constant("Web")
    assert form.fields["Description"] == Template(
        "Product: {product}\n{message}", ("product", "message")
    )
    assert form.form_field_names == {"email", "last_name", "company", "product", "message"}
    assert form.location is not None and form.location.line == 4

    sync = config.sync
    assert sync is not None
    assert (sync.enabled, sync.interval_minutes) == (True, 5)
    assert (sync.match, sync.create_as) == (("Contact", "Lead"), "Lead")
    assert dict(sync.defaults) == {"Company": "(not provided)"}
    first_name = sync.fields["first_name"]
    assert dict(first_name.salesforce) == {"Lead": "FirstName", "Contact": "FirstName"}
    assert (first_name.direction, first_name.conflict) == (Direction.BOTH, Conflict.NEWEST_WINS)
    assert sync.fields["lead_status"].direction is Direction.FROM_SALESFORCE
    assert not sync.fields["lead_status"].direction.pushes


def test_sync_field_rules_default_to_both_and_salesforce_wins():
    config = load_config([VALID / "sync-only.yaml"])
    assert config.sync is not None and config.sync.enabled is False
    first_name = config.sync.fields["first_name"]
    assert (first_name.direction, first_name.conflict) == (Direction.BOTH, Conflict.SALESFORCE_WINS)
    assert config.sync.interval_minutes == 5


def test_model_is_frozen_and_its_mappings_read_only():
    config = load_config([VALID / "minimal.yaml"])
    form = config.forms["newsletter"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        form.label = "Changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        form.fields["Phone"] = Constant("1")  # type: ignore[index]
    with pytest.raises(TypeError):
        config.forms["other"] = form  # type: ignore[index]


def test_constants_keep_their_yaml_types():
    fields = load_config([VALID / "custom-object.yaml"]).forms["event_registration"].fields
    assert fields["Vegetarian__c"] == Constant(False)
    assert fields["Fee__c"] == Constant(12.5)
    assert fields["Notes__c"] == Constant(None)
    assert fields["Seats__c"] == From("seats", 1, has_default=True)


def test_template_renders_named_placeholders_and_literal_braces():
    summary = (
        load_config([VALID / "custom-object.yaml"]).forms["event_registration"].fields["Summary__c"]
    )
    assert isinstance(summary, Template)
    assert summary.names == ("first_name", "last_name", "seats")
    rendered = summary.render({"first_name": "Ada", "last_name": None, "seats": 2})
    assert rendered == "{registration} Ada : 2 seat(s)"
    assert summary.render({"first_name": ["A", "B"]}) == "{registration} A, B :  seat(s)"


def test_merge_keys_share_fields_and_a_forms_own_key_wins():
    forms = load_config([VALID / "anchors-and-merge-keys.yaml"]).forms
    assert forms["spring-offer"].fields["LeadSource"] == Constant("Web")
    autumn = forms["autumn-offer"].fields
    assert autumn["LeadSource"] == Constant("Partner")
    assert autumn["Company"] == From("company", "(not provided)", has_default=True)
    assert set(autumn) == {"Email", "LastName", "Company", "LeadSource", "Description"}


def test_forms_from_several_files_are_merged(tmp_path: Path):
    first = write(tmp_path / "a.yaml", "version: 1\nforms:\n" + FORM.format(key="one", label="One"))
    second = write(
        tmp_path / "b.yaml", "version: 1\nforms:\n" + FORM.format(key="two", label="Two")
    )
    config = load_config([first, second])
    assert list(config.forms) == ["one", "two"]
    assert config.forms["two"].location is not None
    assert config.forms["two"].location.file == str(second)
    assert config.form_choices() == [("one", "One"), ("two", "Two")]


def test_a_form_key_defined_in_two_files_names_both(tmp_path: Path):
    first = write(tmp_path / "a.yaml", "version: 1\nforms:\n" + FORM.format(key="same", label="A"))
    second = write(
        tmp_path / "b.yaml",
        "version: 1\nforms:\n"
        + FORM.format(key="other", label="B")
        + FORM.format(key="same", label="C"),
    )
    with pytest.raises(ConfigError) as raised:
        load_config([first, second])
    [issue] = raised.value.issues
    assert (issue.file, issue.line, issue.path) == (str(second), 8, "forms.same")
    assert issue.message == f"form 'same' is already defined in {first}:3"


def test_only_one_file_may_have_a_sync_section(tmp_path: Path):
    sync = "version: 1\nsync:\n  match: [Lead]\n  create_as: Lead\n"
    first = write(tmp_path / "a.yaml", sync)
    second = write(tmp_path / "b.yaml", sync)
    with pytest.raises(ConfigError) as raised:
        load_config([first, second])
    [issue] = raised.value.issues
    assert issue.file == str(second)
    assert f"sync is already configured in {first}:2" in issue.message


def test_problems_of_every_file_are_reported_together(tmp_path: Path):
    first = write(tmp_path / "a.yaml", "version: 2\n")
    second = write(tmp_path / "b.yaml", "version: 1\nfroms: {}\n")
    with pytest.raises(ConfigError) as raised:
        load_config([first, second])
    assert [(i.file, i.line) for i in raised.value.issues] == [(str(first), 1), (str(second), 2)]


def test_config_error_is_the_packages_config_error_and_lists_each_issue(tmp_path: Path):
    path = write(tmp_path / "bad.yaml", "version: 1\nforms:\n  x:\n    label: X\n")
    with pytest.raises(exceptions.ConfigError) as raised:
        load_config([path])
    error = raised.value
    assert isinstance(error, ConfigError)
    assert [i.message for i in error.issues] == [
        "missing required key 'object'",
        "missing required key 'fields'",
    ]
    assert f"{path}:3: forms.x: missing required key 'object'" in str(error)


def test_missing_and_undecodable_files_are_reported(tmp_path: Path):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("version: 1\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as raised:
        load_config([tmp_path / "absent.yaml", latin1])
    assert [str(i) for i in raised.value.issues] == [
        f"{tmp_path / 'absent.yaml'}: file not found",
        f"{latin1}: not UTF-8 text (byte 16)",
    ]


def test_loading_nothing_is_an_error():
    with pytest.raises(ConfigError, match="no config files were given"):
        load_config([])


def test_aliases_below_the_limit_are_accepted():
    shared = ", ".join(f"k{i}: v" for i in range(50))
    text = "version: 1\nforms: {}\nx-shared: &s {" + shared + "}\n"
    # Uses of the anchor are fine until the expansion passes the limit, then refused.
    uses = MAX_ALIAS_EXPANSION // 101
    accepted = text + "more: [" + ", ".join(["*s"] * uses) + "]\n"
    with pytest.raises(ConfigError) as raised:
        loads(accepted)
    assert [i.message for i in raised.value.issues] == [
        "unknown key 'x-shared'",
        "unknown key 'more'",
    ]
    refused = text + "more: [" + ", ".join(["*s"] * (uses + 2)) + "]\n"
    with pytest.raises(ConfigError) as raised:
        loads(refused)
    assert raised.value.issues[0].message.startswith("aliases expand the document by")


def test_issue_lines_and_columns_point_at_the_offending_key():
    text = (
        "version: 1\nforms:\n  ok:\n    label: OK\n    object: Lead\n"
        "    fields:\n      Bad Name: {from: x}\n"
    )
    with pytest.raises(ConfigError) as raised:
        loads(text, "inline.yaml")
    [issue] = raised.value.issues
    assert (issue.file, issue.line, issue.column) == ("inline.yaml", 7, 7)
    assert issue.path == "forms.ok.fields.Bad Name"
    assert str(issue).startswith("inline.yaml:7: forms.ok.fields.Bad Name: key 'Bad Name'")


def test_the_shipped_schema_is_the_repositorys_schema():
    shipped = REPO / "wagtail_salesforce" / "config" / "schema.json"
    published = REPO / "config" / "schema.json"
    assert shipped.read_bytes() == published.read_bytes()
    assert schema() == json.loads(published.read_text(encoding="utf-8"))


def test_the_schema_is_valid_2020_12_and_every_property_is_described():
    document = schema()
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    undocumented: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                if "description" not in sub:
                    undocumented.append(f"{where}.{name}")
            for key, value in node.items():
                walk(value, f"{where}.{key}")

    walk(document, "$")
    assert undocumented == []
    assert all("description" in definition for definition in document["$defs"].values())


# --- get_config ----------------------------------------------------------------------------


def test_get_config_reloads_when_a_file_changes(settings, tmp_path: Path):
    path = write(
        tmp_path / "site.yaml", "version: 1\nforms:\n" + FORM.format(key="one", label="One")
    )
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(path)]}
    first = get_config()
    assert get_config() is first  # unchanged file: cached
    write(path, "version: 1\nforms:\n" + FORM.format(key="two", label="Second form"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = get_config()
    assert list(second.forms) == ["two"]


def test_get_config_raises_for_an_invalid_or_missing_configured_file(settings, tmp_path: Path):
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(tmp_path / "absent.yaml")]}
    with pytest.raises(ConfigError, match="file not found"):
        get_config()
    path = write(tmp_path / "bad.yaml", "version: 3\n")
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(path)]}
    with pytest.raises(ConfigError, match="must be 1, not 3"):
        get_config()


def test_get_config_without_the_optional_default_file_is_empty(settings, tmp_path: Path):
    settings.WAGTAIL_SALESFORCE = {}
    settings.BASE_DIR = tmp_path
    config = get_config()
    assert dict(config.forms) == {} and config.sync is None


def test_get_config_reads_salesforce_yaml_beside_manage_py_by_default(settings):
    settings.WAGTAIL_SALESFORCE = {}
    settings.BASE_DIR = REPO / "example_site"
    config = get_config()
    form = config.forms["landing-lead"]
    assert form.object == "Lead" and form.record_type == "Web_Inquiry"
    assert form.campaign == CampaignRef(name="Autumn Webinar", member_status="Responded")
    assert form.form_field_names == {"email", "first_name", "last_name", "company", "message"}
    assert form.fields["LeadSource"] == Constant("Web")
