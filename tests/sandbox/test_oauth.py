"""OAuth 2.0 against the sandbox over real HTTP: the web-server flow with PKCE (driven through its
HTML forms), every grant, refresh-token policies, revocation, identity and every error shape."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import urllib.parse
from typing import Any

import pytest
import requests

from wagtail_salesforce.sandbox.oauth import pkce_challenge

from .conftest import RawApi, assert_error

CALLBACK = "http://127.0.0.1:8000/admin/salesforce/oauth/callback/"


def _token(sandbox: Any, **form: str) -> requests.Response:
    return requests.post(f"{sandbox.login_url}/services/oauth2/token", data=form, timeout=10)


def _authorize(
    sandbox: Any,
    *,
    client_id: str | None = None,
    redirect_uri: str = CALLBACK,
    state: str | None = "state-123",
    challenge: str | None = None,
    decision: str = "allow",
    password: str | None = None,
) -> requests.Response:
    """Walk authorize page -> login form -> consent form; return the final (unfollowed) reply."""
    params = {"response_type": "code", "client_id": client_id or sandbox.client_id,
              "redirect_uri": redirect_uri}
    if state is not None:
        params["state"] = state
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    url = f"{sandbox.login_url}/services/oauth2/authorize"
    page = requests.get(url, params=params, allow_redirects=False, timeout=10)
    if page.status_code != 200:
        return page
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    hidden = {k: v.replace("&amp;", "&") for k, v in hidden.items()}
    login = requests.post(url, data={**hidden, "username": sandbox.username,
                                     "password": password or sandbox.password},
                          allow_redirects=False, timeout=10)
    if "sandbox_action\" value=\"consent\"" not in login.text:
        return login
    consent_fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                                     login.text))
    consent_fields = {k: v.replace("&amp;", "&") for k, v in consent_fields.items()}
    return requests.post(url, data={**consent_fields, "decision": decision},
                         allow_redirects=False, timeout=10)


def _redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def _code_grant(sandbox: Any, verifier: str | None = None, **overrides: str) -> dict[str, Any]:
    verifier = verifier or secrets.token_urlsafe(48)
    params = _redirect_params(_authorize(sandbox, challenge=pkce_challenge(verifier)))
    response = _token(sandbox, grant_type="authorization_code", code=params["code"],
                      client_id=sandbox.client_id, client_secret=sandbox.client_secret,
                      redirect_uri=CALLBACK, code_verifier=verifier, **overrides)
    assert response.status_code == 200, response.text
    return response.json()


def _assert_oauth_error(response: requests.Response, error: str, description: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json() == {"error": error, "error_description": description}


def test_authorize_page_is_a_login_form(salesforce_sandbox: Any) -> None:
    page = requests.get(f"{salesforce_sandbox.login_url}/services/oauth2/authorize", params={
        "response_type": "code", "client_id": salesforce_sandbox.client_id,
        "redirect_uri": CALLBACK, "code_challenge": pkce_challenge("v" * 43)}, timeout=10)
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'type="password"' in page.text


def test_code_flow_with_pkce_returns_state_and_a_complete_token(salesforce_sandbox: Any) -> None:
    verifier = secrets.token_urlsafe(48)
    params = _redirect_params(_authorize(salesforce_sandbox, challenge=pkce_challenge(verifier),
                                         state="s p&c=1"))
    assert params["state"] == "s p&c=1"
    response = _token(salesforce_sandbox, grant_type="authorization_code", code=params["code"],
                      client_id=salesforce_sandbox.client_id,
                      client_secret=salesforce_sandbox.client_secret,
                      redirect_uri=CALLBACK, code_verifier=verifier)
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "instance_url", "id", "issued_at",
                         "signature", "token_type", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == salesforce_sandbox.instance_url
    assert body["access_token"].startswith(salesforce_sandbox.org_id[:15] + "!AQ")
    assert re.fullmatch(r"\d{13}", body["issued_at"])
    user_id = body["id"].rsplit("/", 1)[1]
    assert body["id"] == f"{salesforce_sandbox.login_url}/id/{salesforce_sandbox.org_id}/{user_id}"
    expected = base64.b64encode(hmac.new(salesforce_sandbox.client_secret.encode(),
                                         (body["id"] + body["issued_at"]).encode(),
                                         hashlib.sha256).digest()).decode()
    assert body["signature"] == expected
    assert RawApi(salesforce_sandbox, body["access_token"]).get("/limits").status_code == 200


def test_deny_redirects_with_access_denied_and_state(salesforce_sandbox: Any) -> None:
    params = _redirect_params(_authorize(salesforce_sandbox, challenge=pkce_challenge("v" * 43),
                                         decision="deny"))
    assert params == {"error": "access_denied",
                      "error_description": "end-user denied authorization",
                      "state": "state-123"}


def test_wrong_password_shows_the_login_form_again(salesforce_sandbox: Any) -> None:
    response = _authorize(salesforce_sandbox, challenge=pkce_challenge("v" * 43),
                          password="wrong")
    assert response.status_code == 200
    assert "check your username and password" in response.text


def test_redirect_uri_mismatch_is_an_error_page_not_a_redirect(salesforce_sandbox: Any) -> None:
    response = _authorize(salesforce_sandbox, redirect_uri="http://evil.example/cb",
                          challenge=pkce_challenge("v" * 43))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "error=redirect_uri_mismatch" in response.text


def test_unknown_client_on_authorize_is_an_error_page(salesforce_sandbox: Any) -> None:
    response = _authorize(salesforce_sandbox, client_id="nobody")
    assert response.status_code == 400 and "error=invalid_client_id" in response.text


def test_pkce_app_rejects_authorize_without_challenge(salesforce_sandbox: Any) -> None:
    params = _redirect_params(_authorize(salesforce_sandbox, challenge=None))
    assert params["error"] == "invalid_request" and params["state"] == "state-123"


def test_wrong_verifier_is_invalid_request_and_missing_verifier_is_invalid_grant(
    salesforce_sandbox: Any,
) -> None:
    for verifier, error in (("not-the-verifier-" * 3, "invalid_request"), ("", "invalid_grant")):
        params = _redirect_params(_authorize(salesforce_sandbox,
                                             challenge=pkce_challenge("right-" * 8)))
        response = _token(salesforce_sandbox, grant_type="authorization_code",
                          code=params["code"], client_id=salesforce_sandbox.client_id,
                          client_secret=salesforce_sandbox.client_secret,
                          redirect_uri=CALLBACK, code_verifier=verifier)
        assert response.status_code == 400 and response.json()["error"] == error


def test_code_is_single_use(salesforce_sandbox: Any) -> None:
    verifier = secrets.token_urlsafe(48)
    params = _redirect_params(_authorize(salesforce_sandbox, challenge=pkce_challenge(verifier)))
    form = {"grant_type": "authorization_code", "code": params["code"],
            "client_id": salesforce_sandbox.client_id,
            "client_secret": salesforce_sandbox.client_secret, "redirect_uri": CALLBACK,
            "code_verifier": verifier}
    assert _token(salesforce_sandbox, **form).status_code == 200
    _assert_oauth_error(_token(salesforce_sandbox, **form), "invalid_grant",
                        "invalid authorization code")


def test_code_expires_after_fifteen_minutes(salesforce_sandbox: Any) -> None:
    verifier = secrets.token_urlsafe(48)
    params = _redirect_params(_authorize(salesforce_sandbox, challenge=pkce_challenge(verifier)))
    salesforce_sandbox.advance_clock(15 * 60 + 1)
    response = _token(salesforce_sandbox, grant_type="authorization_code", code=params["code"],
                      client_id=salesforce_sandbox.client_id,
                      client_secret=salesforce_sandbox.client_secret, redirect_uri=CALLBACK,
                      code_verifier=verifier)
    _assert_oauth_error(response, "invalid_grant", "expired authorization code")


def test_code_exchange_with_other_redirect_uri_is_a_mismatch(salesforce_sandbox: Any) -> None:
    verifier = secrets.token_urlsafe(48)
    params = _redirect_params(_authorize(salesforce_sandbox, challenge=pkce_challenge(verifier)))
    response = _token(salesforce_sandbox, grant_type="authorization_code", code=params["code"],
                      client_id=salesforce_sandbox.client_id,
                      client_secret=salesforce_sandbox.client_secret,
                      redirect_uri=salesforce_sandbox.callback_urls[1], code_verifier=verifier)
    _assert_oauth_error(response, "redirect_uri_mismatch", "redirect_uri must match configuration")


def test_wrong_secret_and_unknown_client_on_the_token_endpoint(salesforce_sandbox: Any) -> None:
    wrong_secret = _token(salesforce_sandbox, grant_type="password",
                          client_id=salesforce_sandbox.client_id, client_secret="nope",
                          username=salesforce_sandbox.username,
                          password=salesforce_sandbox.password)
    _assert_oauth_error(wrong_secret, "invalid_client", "invalid client credentials")
    unknown = _token(salesforce_sandbox, grant_type="password", client_id="nobody",
                     client_secret="x", username=salesforce_sandbox.username,
                     password=salesforce_sandbox.password)
    _assert_oauth_error(unknown, "invalid_client_id", "client identifier invalid")
    unsupported = _token(salesforce_sandbox, grant_type="implicit",
                         client_id=salesforce_sandbox.client_id)
    _assert_oauth_error(unsupported, "unsupported_grant_type", "grant type not supported")


def test_password_grant_checks_the_user(salesforce_sandbox: Any) -> None:
    good = salesforce_sandbox.password_token()
    assert good["token_type"] == "Bearer" and "refresh_token" not in good
    bad = _token(salesforce_sandbox, grant_type="password",
                 client_id=salesforce_sandbox.client_id,
                 client_secret=salesforce_sandbox.client_secret,
                 username=salesforce_sandbox.username, password="wrong")
    _assert_oauth_error(bad, "invalid_grant", "authentication failure")


def test_client_credentials_with_http_basic_runs_as_the_first_user(
    salesforce_sandbox: Any,
) -> None:
    response = requests.post(
        f"{salesforce_sandbox.login_url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(salesforce_sandbox.client_id, salesforce_sandbox.client_secret), timeout=10,
    )
    assert response.status_code == 200
    info = RawApi(salesforce_sandbox, response.json()["access_token"])
    userinfo = info.session.get(f"{salesforce_sandbox.instance_url}/services/oauth2/userinfo",
                                headers={"Authorization": f"Bearer {info.token}"}, timeout=10)
    assert userinfo.json()["username"] == salesforce_sandbox.username


def test_refresh_grant_issues_new_access_tokens(salesforce_sandbox: Any) -> None:
    first = _code_grant(salesforce_sandbox)
    refreshed = _token(salesforce_sandbox, grant_type="refresh_token",
                       refresh_token=first["refresh_token"],
                       client_id=salesforce_sandbox.client_id,
                       client_secret=salesforce_sandbox.client_secret).json()
    assert refreshed["access_token"] != first["access_token"]
    assert "refresh_token" not in refreshed  # no rotation on the default app
    assert RawApi(salesforce_sandbox, refreshed["access_token"]).get("/limits").status_code == 200


def test_refresh_token_expires_under_expire_after_policy(salesforce_sandbox: Any) -> None:
    salesforce_sandbox.add_connected_app(
        client_id="short-lived", client_secret="s3cret", callback_urls=[CALLBACK],
        refresh_token_policy="expire_after", refresh_token_ttl_seconds=60)
    verifier = secrets.token_urlsafe(48)
    params = _redirect_params(_authorize(salesforce_sandbox, client_id="short-lived",
                                         challenge=pkce_challenge(verifier)))
    tokens = _token(salesforce_sandbox, grant_type="authorization_code", code=params["code"],
                    client_id="short-lived", client_secret="s3cret", redirect_uri=CALLBACK,
                    code_verifier=verifier).json()
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_id": "short-lived", "client_secret": "s3cret"}
    assert _token(salesforce_sandbox, **form).status_code == 200
    salesforce_sandbox.advance_clock(61)
    _assert_oauth_error(_token(salesforce_sandbox, **form), "invalid_grant",
                        "expired access/refresh token")


def test_rotation_replaces_the_refresh_token(salesforce_sandbox: Any) -> None:
    salesforce_sandbox.add_connected_app(
        client_id="rotating", client_secret="s3cret", callback_urls=[CALLBACK],
        require_pkce=False, rotate_refresh_tokens=True)
    params = _redirect_params(_authorize(salesforce_sandbox, client_id="rotating"))
    tokens = _token(salesforce_sandbox, grant_type="authorization_code", code=params["code"],
                    client_id="rotating", client_secret="s3cret",
                    redirect_uri=CALLBACK).json()
    form = {"grant_type": "refresh_token", "client_id": "rotating", "client_secret": "s3cret"}
    rotated = _token(salesforce_sandbox, refresh_token=tokens["refresh_token"], **form).json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    _assert_oauth_error(_token(salesforce_sandbox, refresh_token=tokens["refresh_token"], **form),
                        "invalid_grant", "expired access/refresh token")
    assert _token(salesforce_sandbox, refresh_token=rotated["refresh_token"],
                  **form).status_code == 200


def test_revoking_a_refresh_token_revokes_its_access_tokens(salesforce_sandbox: Any) -> None:
    tokens = _code_grant(salesforce_sandbox)
    revoke = requests.post(f"{salesforce_sandbox.login_url}/services/oauth2/revoke",
                           data={"token": tokens["refresh_token"]}, timeout=10)
    assert revoke.status_code == 200
    assert_error(RawApi(salesforce_sandbox, tokens["access_token"]).get("/limits"), 401,
                 "INVALID_SESSION_ID")
    _assert_oauth_error(
        _token(salesforce_sandbox, grant_type="refresh_token",
               refresh_token=tokens["refresh_token"], client_id=salesforce_sandbox.client_id,
               client_secret=salesforce_sandbox.client_secret),
        "invalid_grant", "expired access/refresh token")
    unknown = requests.post(f"{salesforce_sandbox.login_url}/services/oauth2/revoke",
                            data={"token": "nonsense"}, timeout=10)
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_token"


def test_revoking_an_access_token_on_the_instance_url(salesforce_sandbox: Any) -> None:
    access = salesforce_sandbox.password_token()["access_token"]
    api = RawApi(salesforce_sandbox, access)
    response = api.session.post(f"{salesforce_sandbox.instance_url}/services/oauth2/revoke",
                                data={"token": access}, timeout=10)
    assert response.status_code == 200
    assert_error(api.get("/limits"), 401, "INVALID_SESSION_ID")


def test_access_token_expires_after_the_session_timeout(salesforce_sandbox: Any) -> None:
    api = RawApi(salesforce_sandbox, salesforce_sandbox.password_token()["access_token"])
    assert api.get("/limits").status_code == 200
    timeout = salesforce_sandbox.org.definition.session_timeout_seconds
    salesforce_sandbox.advance_clock(timeout + 1)
    body = assert_error(api.get("/limits"), 401, "INVALID_SESSION_ID")
    assert body["message"] == "Session expired or invalid"


def test_identity_and_userinfo_describe_the_user(salesforce_sandbox: Any) -> None:
    tokens = salesforce_sandbox.password_token()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    identity = requests.get(tokens["id"], headers=headers, timeout=10).json()
    assert identity["organization_id"] == salesforce_sandbox.org_id
    assert identity["username"] == salesforce_sandbox.username
    rest_url = f"{salesforce_sandbox.instance_url}/services/data/v{{version}}/"
    assert identity["urls"]["rest"] == rest_url
    assert {"user_id", "display_name", "email"} <= set(identity)
    userinfo = requests.get(f"{salesforce_sandbox.login_url}/services/oauth2/userinfo",
                            headers=headers, timeout=10)
    assert userinfo.json()["user_id"] == identity["user_id"]
    anonymous = requests.get(f"{salesforce_sandbox.login_url}/services/oauth2/userinfo",
                             timeout=10)
    assert anonymous.status_code == 403


@pytest.mark.parametrize("helper", ["revoke_all_tokens", "expire_access_tokens"])
def test_handle_levers_end_sessions(salesforce_sandbox: Any, helper: str) -> None:
    api = RawApi(salesforce_sandbox, salesforce_sandbox.password_token()["access_token"])
    getattr(salesforce_sandbox, helper)()
    assert_error(api.get("/limits"), 401, "INVALID_SESSION_ID")


def test_token_endpoint_calls_do_not_count_as_api_calls(salesforce_sandbox: Any) -> None:
    salesforce_sandbox.password_token()
    assert salesforce_sandbox.api_calls_used() == 0
