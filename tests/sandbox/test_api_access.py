"""An org without API access (``org.api_enabled: false``): OAuth works, every REST call is
refused with API_DISABLED_FOR_ORG, as Salesforce answers for such an edition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from wagtail_salesforce.sandbox.orgfile import OrgFileError, load_org_definition
from wagtail_salesforce.sandbox.server import RunningSandbox, start_sandbox

from .conftest import RawApi, assert_error


@pytest.fixture(scope="module")
def no_api_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    org_file = tmp_path_factory.mktemp("org") / "org.yaml"
    org_file.write_text("org:\n  name: Professional Org\n  api_enabled: false\n")
    with start_sandbox(org_file=str(org_file)) as running:
        yield running


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/limits"),
    ("GET", "/sobjects/Lead/describe"),
    ("GET", "/query?q=SELECT+Id+FROM+Lead"),
    ("POST", "/sobjects/Lead/"),
    ("POST", "/jobs/ingest"),
])
def test_every_rest_call_is_refused(
    no_api_sandbox: RunningSandbox, method: str, path: str
) -> None:
    api = RawApi(no_api_sandbox, no_api_sandbox.password_token()["access_token"])
    error = assert_error(api.request(method, path, json={"LastName": "Ng"}), 403,
                         "API_DISABLED_FOR_ORG")
    assert error["message"] == "The REST API is not enabled for this Organization."
    assert no_api_sandbox.org.count("Lead") == 0
    assert no_api_sandbox.api_calls_used() == 0  # refused before any work: not counted


def test_oauth_and_identity_still_work(no_api_sandbox: RunningSandbox) -> None:
    token = no_api_sandbox.password_token()
    session = no_api_sandbox.requests_session()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    identity = session.get(token["id"], headers=bearer, timeout=10)
    assert identity.status_code == 200
    assert identity.json()["username"] == no_api_sandbox.username


def test_the_control_api_turns_api_access_off_until_reset(salesforce_sandbox: Any) -> None:
    api = RawApi(salesforce_sandbox, salesforce_sandbox.password_token()["access_token"])
    control = f"{salesforce_sandbox.login_url}/__sandbox__/api_access"
    assert requests.post(control, json={"enabled": False}, timeout=10).status_code == 204
    assert_error(api.get("/limits"), 403, "API_DISABLED_FOR_ORG")
    assert requests.post(control, json={"enabled": True}, timeout=10).status_code == 204
    assert api.get("/limits").status_code == 200
    salesforce_sandbox.set_api_enabled(False)
    salesforce_sandbox.reset()
    fresh = RawApi(salesforce_sandbox, salesforce_sandbox.password_token()["access_token"])
    assert fresh.get("/limits").status_code == 200
    assert requests.post(control, json={"enabled": "no"}, timeout=10).status_code == 400


def test_the_org_file_checks_api_enabled_is_a_boolean(tmp_path: Path) -> None:
    org_file = tmp_path / "org.yaml"
    org_file.write_text("org:\n  api_enabled: sometimes\n")
    with pytest.raises(OrgFileError, match="org.api_enabled"):
        load_org_definition(org_file)
    assert load_org_definition(None).api_enabled is True
