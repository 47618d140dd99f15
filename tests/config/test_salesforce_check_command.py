"""``manage.py salesforce_check`` end to end: a Wagtail site connected to the sandbox by OAuth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from wagtail.models import Site

from tests.connection.oauth_helpers import configure_site, connect_site

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example_site" / "salesforce.yaml"


@pytest.fixture
def site(db: None) -> Site:
    return Site.objects.get(is_default_site=True)


@pytest.fixture
def sandbox_settings(salesforce_sandbox: Any, settings: Any) -> dict[str, Any]:
    settings.WAGTAIL_SALESFORCE = {
        "CA_FILE": salesforce_sandbox.ca_file,
        "TIMEOUT": (5.0, 15.0),
        "CONFIG_FILES": [str(EXAMPLE)],
    }
    return settings.WAGTAIL_SALESFORCE


@pytest.fixture
def connected_site(site: Site, salesforce_sandbox: Any, sandbox_settings: dict[str, Any]) -> Site:
    connection = configure_site(
        site, salesforce_sandbox, client_id="config-check-key", client_secret="config-check-secret"
    )
    connect_site(connection, salesforce_sandbox)
    return site


def run(*args: str) -> tuple[str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("salesforce_check", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_example_config_fits_the_connected_sandbox_org(connected_site: Site):
    out, _err = run()
    assert out.strip() == f"The Salesforce config fits the org of {connected_site.hostname}."


def test_json_output_for_ci_when_the_config_fits(connected_site: Site):
    out, _err = run("--format", "json", "--site", connected_site.hostname)
    report = json.loads(out)
    assert report == {
        "ok": True,
        "stage": "online",
        "site": connected_site.hostname,
        "errors": 0,
        "warnings": 0,
        "issues": [],
    }


def test_org_mismatches_fail_the_command_with_exit_status_1(
    connected_site: Site, sandbox_settings: dict[str, Any], tmp_path: Path
):
    mismatched = tmp_path / "salesforce.yaml"
    mismatched.write_text(
        EXAMPLE.read_text(encoding="utf-8")
        .replace("record_type: Web_Inquiry", "record_type: Web_Enquiry")
        .replace("member_status: Responded", "member_status: Attended"),
        encoding="utf-8",
    )
    sandbox_settings["CONFIG_FILES"] = [str(mismatched)]
    with pytest.raises(CommandError) as raised:
        run("--format", "json")
    assert raised.value.returncode == 1
    assert str(raised.value) == "2 problems in the Salesforce config."


def test_org_mismatches_are_listed_in_the_json_report(
    connected_site: Site, sandbox_settings: dict[str, Any], tmp_path: Path, capsys
):
    mismatched = tmp_path / "salesforce.yaml"
    mismatched.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("Company: {from:", "Compnay: {from:"),
        encoding="utf-8",
    )
    sandbox_settings["CONFIG_FILES"] = [str(mismatched)]
    with pytest.raises(CommandError):
        call_command("salesforce_check", "--format", "json")
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["errors"] == 2
    assert [(i["line"], i["path"], i["message"]) for i in report["issues"]] == [
        (
            19,
            "forms.landing-lead.fields.Compnay",
            "unknown Salesforce field 'Compnay' on Lead",
        ),
        (15, "forms.landing-lead.fields", "Lead.Company is required but not mapped"),
    ]
    assert report["issues"][0]["hint"] == "did you mean 'Company'?"


def test_an_invalid_config_is_reported_before_asking_salesforce(
    site: Site, sandbox_settings: dict[str, Any], salesforce_sandbox: Any
):
    sandbox_settings["CONFIG_FILES"] = [str(REPO / "tests/config/invalid/wrong-version.yaml")]
    with pytest.raises(CommandError, match="1 problem in the Salesforce config"):
        run()
    assert salesforce_sandbox.calls == []


def test_a_site_without_a_connection_is_an_error(site: Site, sandbox_settings: dict[str, Any]):
    with pytest.raises(CommandError, match="is not connected to Salesforce") as raised:
        run()
    assert raised.value.returncode == 2


def test_an_unknown_site_hostname_is_an_error(site: Site, sandbox_settings: dict[str, Any]):
    with pytest.raises(CommandError, match="No Wagtail site has hostname nowhere.example"):
        run("--site", "nowhere.example")


def test_text_output_names_file_line_and_path_of_each_mismatch(
    connected_site: Site, sandbox_settings: dict[str, Any], tmp_path: Path
):
    mismatched = tmp_path / "salesforce.yaml"
    mismatched.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("name: Autumn Webinar", "name: Winter Gala"),
        encoding="utf-8",
    )
    sandbox_settings["CONFIG_FILES"] = [str(mismatched)]
    from io import StringIO

    out = StringIO()
    with pytest.raises(CommandError, match="1 problem in the Salesforce config"):
        call_command("salesforce_check", stdout=out)
    assert out.getvalue() == (
        f"{mismatched}:12: forms.landing-lead.campaign.name: there is no campaign named "
        "'Winter Gala'\n"
    )
