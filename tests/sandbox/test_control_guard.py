"""The login host's guard: only its own Host names are served, and a control call that changes
the sandbox needs a JSON body sent as application/json (no CORS preflight is ever granted)."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
import requests

from wagtail_salesforce.sandbox.server import start_sandbox


def _port(sandbox: Any) -> int:
    return int(urllib.parse.urlsplit(sandbox.login_url).port or 0)


def test_info_refuses_a_foreign_host(salesforce_sandbox: Any) -> None:
    response = requests.get(f"{salesforce_sandbox.login_url}/__sandbox__/info", timeout=10,
                            headers={"Host": f"rebound.example:{_port(salesforce_sandbox)}"})
    assert response.status_code == 421
    assert salesforce_sandbox.client_secret not in response.text
    assert salesforce_sandbox.password not in response.text


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]"])
def test_info_answers_the_loopback_names_of_its_port(salesforce_sandbox: Any, name: str) -> None:
    response = requests.get(f"{salesforce_sandbox.login_url}/__sandbox__/info", timeout=10,
                            headers={"Host": f"{name}:{_port(salesforce_sandbox)}"})
    assert response.status_code == 200
    assert response.json()["client_secret"] == salesforce_sandbox.client_secret


def test_a_loopback_name_with_another_port_is_refused(salesforce_sandbox: Any) -> None:
    response = requests.get(f"{salesforce_sandbox.login_url}/__sandbox__/info", timeout=10,
                            headers={"Host": f"127.0.0.1:{_port(salesforce_sandbox) + 1}"})
    assert response.status_code == 421


def test_a_state_change_with_a_foreign_host_is_refused(salesforce_sandbox: Any) -> None:
    response = requests.post(f"{salesforce_sandbox.login_url}/__sandbox__/faults", timeout=10,
                             json={"kind": "http_503"},
                             headers={"Host": f"rebound.example:{_port(salesforce_sandbox)}"})
    assert response.status_code == 421
    assert salesforce_sandbox.faults.list() == []


@pytest.mark.parametrize("content_type", [
    "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data",
])
def test_a_simple_cross_site_post_creating_a_fault_is_refused(
    salesforce_sandbox: Any, content_type: str
) -> None:
    # What a no-cors fetch() or a form on another origin can send without a preflight.
    response = requests.post(f"{salesforce_sandbox.login_url}/__sandbox__/faults", timeout=10,
                             data='{"kind": "http_503"}', headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert response.json()[0]["errorCode"] == "UNSUPPORTED_MEDIA_TYPE"
    assert salesforce_sandbox.faults.list() == []


def test_a_json_post_creates_the_fault(salesforce_sandbox: Any) -> None:
    response = requests.post(f"{salesforce_sandbox.login_url}/__sandbox__/faults", timeout=10,
                             json={"kind": "http_503"})
    assert response.status_code == 201
    assert [fault["kind"] for fault in salesforce_sandbox.faults.list()] == ["http_503"]


def test_a_state_change_without_a_json_body_is_refused(salesforce_sandbox: Any) -> None:
    salesforce_sandbox.faults.add("http_503")
    response = requests.post(f"{salesforce_sandbox.login_url}/__sandbox__/reset", timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert salesforce_sandbox.faults.list() != []


def test_a_cors_preflight_is_refused_without_any_allow_header(salesforce_sandbox: Any) -> None:
    response = requests.options(
        f"{salesforce_sandbox.login_url}/__sandbox__/faults", timeout=10,
        headers={"Origin": "https://attacker.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )
    assert response.status_code == 405
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def _authorize_url(sandbox: Any) -> str:
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": sandbox.client_id,
        "redirect_uri": sandbox.callback_urls[0], "state": "s",
        "code_challenge": "E9Melhoe2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    })
    return f"{sandbox.login_url}/services/oauth2/authorize?{query}"


def test_the_login_page_refuses_a_foreign_host(salesforce_sandbox: Any) -> None:
    url = _authorize_url(salesforce_sandbox)
    own = requests.get(url, timeout=10)
    assert own.status_code == 200 and 'name="password"' in own.text
    foreign = requests.get(url, timeout=10,
                           headers={"Host": f"rebound.example:{_port(salesforce_sandbox)}"})
    assert foreign.status_code == 421
    assert 'name="password"' not in foreign.text


def test_the_login_form_post_refuses_a_foreign_host(salesforce_sandbox: Any) -> None:
    response = requests.post(
        _authorize_url(salesforce_sandbox), timeout=10, allow_redirects=False,
        data={"sandbox_action": "login", "username": salesforce_sandbox.username,
              "password": salesforce_sandbox.password},
        headers={"Host": f"rebound.example:{_port(salesforce_sandbox)}"},
    )
    assert response.status_code == 421
    assert "ticket" not in response.text


def test_the_token_endpoint_on_the_login_host_refuses_a_foreign_host(
    salesforce_sandbox: Any,
) -> None:
    response = requests.post(
        salesforce_sandbox.token_url(), timeout=10,
        data={"grant_type": "password", "client_id": salesforce_sandbox.client_id,
              "client_secret": salesforce_sandbox.client_secret,
              "username": salesforce_sandbox.username, "password": salesforce_sandbox.password},
        headers={"Host": f"rebound.example:{_port(salesforce_sandbox)}"},
    )
    assert response.status_code == 421
    assert "access_token" not in response.text


def test_the_process_control_helper_sends_json(salesforce_sandbox_process: Any) -> None:
    salesforce_sandbox_process.control("POST", "faults", {"kind": "http_503"})
    assert [f["kind"] for f in salesforce_sandbox_process.control("GET", "faults")] == ["http_503"]
    salesforce_sandbox_process.control("DELETE", "faults")
    assert salesforce_sandbox_process.control("GET", "faults") == []


def test_bound_to_every_address_it_serves_ip_literals_but_no_other_name() -> None:
    with start_sandbox(host="0.0.0.0") as running:  # noqa: S104 - the case under test
        port = _port(running)
        assert running.sandbox.serves_host(f"127.0.0.1:{port}")
        assert running.sandbox.serves_host(f"10.1.2.3:{port}")
        assert running.sandbox.serves_host(f"[fe80::1]:{port}")
        assert not running.sandbox.serves_host(f"rebound.example:{port}")
        assert not running.sandbox.serves_host("10.1.2.3")
        assert not running.sandbox.serves_host(None)
