"""Fixtures for the sandbox server tests: a bearer token, raw HTTPS calls and simple-salesforce."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

API_VERSION = "62.0"


class RawApi:
    """``requests`` against the sandbox's API host, trusting its CA, with a bearer token."""

    def __init__(self, sandbox: Any, token: str, version: str = API_VERSION) -> None:
        self.sandbox = sandbox
        self.token = token
        self.base = f"{sandbox.instance_url}/services/data/v{version}"
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify otherwise
        self.session.verify = sandbox.ca_file

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        url = path if path.startswith("https://") else self.base + path
        return self.session.request(method, url, headers=headers, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Assert Salesforce's error shape: the status and a JSON array whose first item has code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and body, body
    assert body[0]["errorCode"] == code, body
    assert isinstance(body[0]["message"], str) and body[0]["message"]
    return body[0]


@pytest.fixture
def token(salesforce_sandbox: Any) -> str:
    return salesforce_sandbox.password_token()["access_token"]


@pytest.fixture
def api(salesforce_sandbox: Any, token: str) -> RawApi:
    return RawApi(salesforce_sandbox, token)


@pytest.fixture
def sf(salesforce_sandbox: Any, token: str) -> Salesforce:
    session = requests.Session()
    session.trust_env = False
    session.verify = salesforce_sandbox.ca_file
    return Salesforce(instance_url=salesforce_sandbox.instance_url, session_id=token,
                      session=session, version=API_VERSION)
