"""A separate OS process for the cross-process refresh test (run by test_refresh_processes.py).

Uses the example site's settings on the SQLite file named by ``SQLITE_PATH``.

    python refresh_worker.py seed LOGIN_URL USERNAME PASSWORD CLIENT_ID CLIENT_SECRET
    python refresh_worker.py refresh GO_FILE      # prints "ready", waits for GO_FILE, refreshes
    python refresh_worker.py inspect [check-refresh]  # prints the stored state as JSON
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "example_site")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_site.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from wagtail.models import Site  # noqa: E402

from wagtail_salesforce.connection import oauth  # noqa: E402
from wagtail_salesforce.connection.credentials import credentials_for  # noqa: E402
from wagtail_salesforce.connection.models import SalesforceConnection  # noqa: E402


def seed(login_url: str, username: str, password: str, client_id: str, secret: str) -> None:
    from tests.connection.oauth_helpers import connect_site

    call_command("migrate", verbosity=0)
    site = Site.objects.get(is_default_site=True)
    connection = SalesforceConnection(
        site=site, enabled=True, login_url=login_url, consumer_key=client_id
    )
    connection.consumer_secret = secret
    connection.settle_status()
    connection.save()

    class Sandbox:  # what connect_site needs from the sandbox handle
        pass

    sandbox = Sandbox()
    sandbox.username, sandbox.password = username, password  # type: ignore[attr-defined]
    connect_site(connection, sandbox)
    print(json.dumps({"seeded": True}), flush=True)


def refresh(go_file: str) -> None:
    credentials = credentials_for(Site.objects.get(is_default_site=True))
    stale = credentials.access_token
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not Path(go_file).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the go signal never came")
        time.sleep(0.01)
    credentials.refresh(stale)
    print(json.dumps({"access_token_sha": _digest(credentials.access_token)}), flush=True)


def inspect(check_refresh: str = "") -> None:
    connection = SalesforceConnection.objects.get(site__is_default_site=True)
    if check_refresh:
        # The stored refresh token must be the live one (with rotation, the old one is dead).
        # This refresh rotates it in turn, so it is the last thing a test does.
        oauth.refresh_access_token(
            connection.login_url,
            client_id=connection.consumer_key,
            client_secret=connection.consumer_secret,
            refresh_token=connection.refresh_token,
        )
    print(
        json.dumps(
            {
                "token_version": connection.token_version,
                "status": connection.status,
                "access_token_sha": _digest(connection.access_token),
                "refresh_token_works": bool(check_refresh),
            }
        ),
        flush=True,
    )


def _digest(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {"seed": seed, "refresh": refresh, "inspect": inspect}[command](*arguments)
