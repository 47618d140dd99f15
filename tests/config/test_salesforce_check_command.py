"""``manage.py salesforce_check`` end to end: a Wagtail site connected to the sandbox by OAuth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
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
        "ALLOWED_LOGIN_HOSTS": ["127.0.0.1", "localhost"],
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


def test_a_site_without_a_connection_is_an_error_even_with_nothing_to_check(
    site: Site, sandbox_settings: dict[str, Any], tmp_path: Path
):
    # A fresh project: the plugin installed, no mapping written, no site connected yet.
    empty = tmp_path / "salesforce.yaml"
    empty.write_text("version: 1\n", encoding="utf-8")
    sandbox_settings["CONFIG_FILES"] = [str(empty)]
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("salesforce_check", stdout=out, stderr=StringIO())
    assert raised.value.returncode == 2
    assert str(raised.value).startswith(f"Site {site.hostname} is not connected to Salesforce:")
    assert "Settings → Salesforce" in str(raised.value)
    assert out.getvalue() == ""


def test_a_connected_site_with_nothing_to_check_does_not_claim_a_fit(
    connected_site: Site, sandbox_settings: dict[str, Any], tmp_path: Path
):
    empty = tmp_path / "salesforce.yaml"
    empty.write_text("version: 1\n", encoding="utf-8")
    sandbox_settings["CONFIG_FILES"] = [str(empty)]
    out, err = run()
    assert out == ""
    assert err.strip() == "The config has no forms and no sync section: nothing to check."


def test_the_command_exits_2_in_its_own_process_without_a_connection(
    tmp_path: Path,
):
    # What a newcomer (or CI) sees: the exit status of manage.py itself.
    database = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        "SQLITE_PATH": str(database),
        "DJANGO_SETTINGS_MODULE": "example_site.settings",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "example_site")]),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    manage = [sys.executable, str(REPO / "example_site" / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=300)
    result = subprocess.run(
        [*manage, "salesforce_check"], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "is not connected to Salesforce" in result.stderr
    assert "fits the org" not in result.stdout
