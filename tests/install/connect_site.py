"""Connect a ``wagtail start`` project's default site to the sandbox, as an administrator does
in Settings → Sites and Settings → Salesforce, with the OAuth flow driven over HTTP.

Run with the project's interpreter from its directory:
``python connect_site.py SETTINGS_MODULE PORT FACTS_JSON``. The package comes from the project's
environment (the installed wheel); only the sandbox's login and consent pages are driven by the
test helpers in tests/connection/oauth_helpers.py, loaded from their file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

HELPERS = Path(__file__).resolve().parents[1] / "connection" / "oauth_helpers.py"


def main() -> None:
    settings_module, port, facts_json = sys.argv[1:]
    facts = json.loads(facts_json)
    sys.path.insert(0, os.getcwd())
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django

    django.setup()
    from django.contrib.sessions.backends.db import SessionStore
    from wagtail.models import Site

    from wagtail_salesforce.connection import service
    from wagtail_salesforce.connection.models import SalesforceConnection

    spec = importlib.util.spec_from_file_location("oauth_helpers", HELPERS)
    assert spec is not None and spec.loader is not None
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)

    # Settings → Sites: the port the site is served at (the callback URL is built from it).
    site = Site.objects.get(is_default_site=True)
    site.port = int(port)
    site.save()
    # Settings → Salesforce: login URL, consumer key and secret, Save.
    connection = SalesforceConnection(
        site=site, enabled=True, login_url=facts["login_url"], consumer_key=facts["client_id"]
    )
    connection.consumer_secret = facts["client_secret"]
    connection.settle_status()
    connection.save()
    # Connect, log in at the sandbox, Allow: the callback's exchange.
    session = SessionStore()
    authorize_url = service.start_authorization(session, connection)
    reply = helpers.authorize_in_sandbox(authorize_url, facts["username"], facts["password"])
    pending = service.pop_state(session, reply["state"])
    connection = service.complete_authorization(
        connection, code=reply["code"], verifier=pending.verifier
    )
    print(connection.status)


if __name__ == "__main__":
    main()
