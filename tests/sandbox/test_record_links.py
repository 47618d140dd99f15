"""``GET {instance_url}/{Id}``: as in a real org, a record link leads to the record's page (the
record browser's on the login host)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from wagtail_salesforce.sandbox.ids import make_id

from .conftest import RawApi


@pytest.fixture
def browser_session(salesforce_sandbox: Any) -> requests.Session:
    """A plain session, as a person's browser: trusts the sandbox's CA, holds no API token."""
    session = requests.Session()
    session.trust_env = False
    session.verify = salesforce_sandbox.ca_file
    return session


def _new_lead(api: RawApi) -> str:
    response = api.post("/sobjects/Lead/", json={"LastName": "Linked", "Company": "Acme"})
    return str(response.json()["id"])


def test_a_record_link_redirects_to_the_records_page_in_the_browser(
    api: RawApi, salesforce_sandbox: Any, browser_session: requests.Session
) -> None:
    lead_id = _new_lead(api)
    used_before = salesforce_sandbox.api_calls_used()

    link = browser_session.get(
        f"{salesforce_sandbox.instance_url}/{lead_id}", allow_redirects=False, timeout=10
    )

    assert link.status_code == 302
    assert link.headers["Location"] == f"{salesforce_sandbox.login_url}/browse/Lead/{lead_id}"
    page = browser_session.get(link.headers["Location"], timeout=10)
    assert page.status_code == 200
    assert "<th>Company</th><td>Acme</td>" in page.text
    assert salesforce_sandbox.api_calls_used() == used_before  # a page view, not an API call


def test_a_15_character_record_link_leads_to_the_18_character_page(
    api: RawApi, salesforce_sandbox: Any, browser_session: requests.Session
) -> None:
    lead_id = _new_lead(api)

    link = browser_session.get(
        f"{salesforce_sandbox.instance_url}/{lead_id[:15]}", allow_redirects=False, timeout=10
    )

    assert link.status_code == 302
    assert link.headers["Location"].endswith(f"/browse/Lead/{lead_id}")


def test_a_link_to_a_missing_record_leads_to_a_page_saying_not_found(
    salesforce_sandbox: Any, browser_session: requests.Session
) -> None:
    missing_id = make_id("00Q", 987654321)

    page = browser_session.get(f"{salesforce_sandbox.instance_url}/{missing_id}", timeout=10)

    assert page.history and page.history[0].status_code == 302
    assert page.url == f"{salesforce_sandbox.login_url}/browse/Lead/{missing_id}"
    assert page.status_code == 404
    assert "Not found" in page.text


def test_a_link_to_a_deleted_record_leads_to_a_page_saying_not_found(
    api: RawApi, salesforce_sandbox: Any, browser_session: requests.Session
) -> None:
    lead_id = _new_lead(api)
    assert api.delete(f"/sobjects/Lead/{lead_id}").status_code == 204

    page = browser_session.get(f"{salesforce_sandbox.instance_url}/{lead_id}", timeout=10)

    assert page.url.endswith(f"/browse/Lead/{lead_id}")
    assert page.status_code == 404
    assert "Not found" in page.text


def test_an_id_of_no_object_of_the_org_is_a_not_found_page(
    salesforce_sandbox: Any, browser_session: requests.Session
) -> None:
    unknown_id = make_id("zzz", 1)

    page = browser_session.get(
        f"{salesforce_sandbox.instance_url}/{unknown_id}", allow_redirects=False, timeout=10
    )

    assert page.status_code == 404
    assert page.headers["Content-Type"].startswith("text/html")
    assert unknown_id in page.text
    assert f'href="{salesforce_sandbox.login_url}/"' in page.text


def test_other_paths_at_the_root_stay_api_not_found_answers(
    salesforce_sandbox: Any, browser_session: requests.Session
) -> None:
    page = browser_session.get(f"{salesforce_sandbox.instance_url}/not-a-record", timeout=10)

    assert page.status_code == 404
    assert page.json()[0]["errorCode"] == "NOT_FOUND"
