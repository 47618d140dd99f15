"""Run inside the bench's Django environment (``python -m loadbench_app.site_setup CMD``).

setup LOGIN_URL CLIENT_ID CLIENT_SECRET TOKEN_JSON
    create the tables, a plain and a mixin form page with the same fields, connect the site
report
    print the outbox figures as JSON: states, delivery lags (seconds), email -> record id
"""

from __future__ import annotations

import json
import sys

FORM_FIELDS = (
    ("Email", "email", True),
    ("First name", "singleline", False),
    ("Last name", "singleline", True),
    ("Company", "singleline", False),
    ("Message", "multiline", False),
)


def setup(login_url: str, client_id: str, client_secret: str, token_json: str) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from home.models import FormField, LandingPage
    from wagtail.models import Locale, Page, Site

    from loadbench_app.models import PlainFormField, PlainFormPage
    from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection

    Locale.objects.get_or_create(language_code="en")
    root = Page.get_first_root_node()
    site, _created = Site.objects.update_or_create(
        is_default_site=True, defaults={"hostname": "127.0.0.1", "port": 80, "root_page": root}
    )
    pages = {}
    for slug, model, field_model, extra in (
        ("plain", PlainFormPage, PlainFormField, {}),
        ("mixin", LandingPage, FormField, {"salesforce_mapping": "landing-lead"}),
    ):
        page = root.add_child(instance=model(title=slug, slug=slug, **extra))
        for order, (label, field_type, required) in enumerate(FORM_FIELDS):
            field_model.objects.create(
                page=page, sort_order=order, label=label, field_type=field_type, required=required
            )
        pages[slug] = page.url_path
    token = json.loads(token_json)
    connection = SalesforceConnection(
        site=site, enabled=True, login_url=login_url, consumer_key=client_id
    )
    connection.consumer_secret = client_secret
    connection.access_token = token["access_token"]
    connection.instance_url = token["instance_url"]
    connection.status = ConnectionStatus.CONNECTED
    connection.save()
    print(json.dumps({"pages": pages}), flush=True)


def discard_open() -> None:
    from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

    open_states = (OutboxState.PENDING, OutboxState.RETRYING, OutboxState.PAUSED)
    deleted, _per_model = OutboxEntry.objects.filter(state__in=open_states).delete()
    print(json.dumps({"discarded": deleted}), flush=True)


def report() -> None:
    from wagtail_salesforce.outbox.models import OutboxEntry

    states: dict[str, int] = {}
    lags: dict[str, float] = {}
    per_email: dict[str, list[str]] = {}
    for entry in OutboxEntry.objects.only(
        "state", "created_at", "delivered_at", "form_data", "salesforce_id"
    ):
        states[entry.state] = states.get(entry.state, 0) + 1
        email = str(entry.form_data.get("email", ""))
        if entry.delivered_at:
            lags[email] = (entry.delivered_at - entry.created_at).total_seconds()
        per_email.setdefault(email, []).append(entry.state)
    print(json.dumps({"states": states, "lags": lags, "per_email": per_email}), flush=True)


def main() -> int:
    import django

    django.setup()
    command, *arguments = sys.argv[1:]
    if command == "setup":
        setup(*arguments)
    elif command == "discard-open":
        discard_open()
    elif command == "report":
        report()
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
