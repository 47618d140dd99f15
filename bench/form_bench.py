"""Benchmark of the visitor's form POST with and without ``SalesforceFormMixin``; prints ONE JSON
object.

Five variants, measured in one run, requests interleaved (plain, mixin, slow, down, ..., plain,
...) so that noise on the machine hits every variant alike:

* ``plain``: the example site's landing page without the mixin (a model defined here with the
  same fields and templates, its tables created on the benchmark's throw-away database);
* ``mixin``: the example site's ``LandingPage`` (with the mixin) mapped to a Salesforce form
  mapping, the site connected to a local sandbox;
* ``mixin_salesforce_slow``: the same with the sandbox answering every API request after 2 s;
* ``mixin_salesforce_down``: the same page on a second site whose connection points at a port
  where nothing listens;
* ``mixin_queues_wakeup``: the mixin page's POST when it is the first in its wake-up window, so
  it queues the delivery task (the others within the window, 1 s by default, queue nothing).

Delivery is queued on django-q2's ORM broker (as in production), so none of the mixin variants
should touch Salesforce: ``salesforce_calls_during_posts`` counts the sandbox's API requests
made while posting (goal: 0). Each variant reports ``{"median_ms", "p95_ms"}``;
``overhead_ratio`` is mixin median / plain median (goal: under 1.10); ``wakeup_ratio`` is the
same for ``mixin_queues_wakeup``, and ``delivery_tasks_queued`` counts the tasks queued.

Usage: ``python bench/form_bench.py [--requests N] [--database memory|file]`` (default 200 per
variant, in-memory SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "example_site")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

MAPPING_YAML = """
version: 1
forms:
  bench-lead:
    label: Bench lead
    object: Lead
    record_type: Web_Inquiry
    campaign: {name: Autumn Webinar, member_status: Responded}
    fields:
      Email: {from: email}
      LastName: {from: last_name}
      Company: {from: company, default: "(not provided)"}
"""
FORM_FIELDS = (("Email", "email", True), ("Last name", "singleline", True))
LATENCY_MS = 2000


def _unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _summary(durations_ms: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(durations_ms), 3),
        "p95_ms": round(_percentile(durations_ms, 0.95), 3),
    }


def _setup_django(config_file: Path, ca_file: str, database_file: Path | None) -> None:
    import django
    from django.conf import settings

    if database_file is not None:
        # The example site's embedded default: an SQLite file in WAL mode (commits reach disk).
        settings.DATABASES = {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(database_file),
                "TEST": {"NAME": str(database_file)},
                "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"},
            }
        }
    django.setup()
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    settings.WAGTAIL_SALESFORCE = {
        "CA_FILE": ca_file,
        "ALLOWED_LOGIN_HOSTS": ["127.0.0.1"],
        "CONFIG_FILES": [str(config_file)],
        "TIMEOUT": (2.0, 5.0),
    }
    settings.ALLOWED_HOSTS = ["*"]
    from django_q.conf import Conf

    Conf.SYNC = False  # queue on the ORM broker, as a production site does


def _plain_page_models() -> tuple[Any, Any]:
    """A form page without the mixin, and its form field model (tables created on the fly)."""
    from django.db import connection, models
    from modelcluster.fields import ParentalKey
    from wagtail.contrib.forms.models import AbstractEmailForm, AbstractFormField
    from wagtail.fields import RichTextField

    class PlainFormPage(AbstractEmailForm):
        # The example's landing page without the mixin: same fields, same templates.
        intro = RichTextField(blank=True)
        thank_you_text = RichTextField(blank=True)
        template = "home/landing_page.html"
        landing_page_template = "home/landing_page_landing.html"

        class Meta:
            app_label = "home"

    class PlainFormField(AbstractFormField):
        page = ParentalKey(PlainFormPage, on_delete=models.CASCADE, related_name="form_fields")

        class Meta(AbstractFormField.Meta):  # keeps the fields' ordering, as the example's has
            app_label = "home"

    with connection.schema_editor() as editor:
        editor.create_model(PlainFormPage)
        editor.create_model(PlainFormField)
    return PlainFormPage, PlainFormField


def _form_page(model: Any, field_model: Any, parent: Any, slug: str, **extra: Any) -> Any:
    page = parent.add_child(instance=model(title=slug, slug=slug, **extra))
    for order, (label, field_type, required) in enumerate(FORM_FIELDS):
        field_model.objects.create(
            page=page, sort_order=order, label=label, field_type=field_type, required=required
        )
    return page


def _connect(site: Any, sandbox: Any, login_url: str, instance_url: str) -> None:
    from wagtail_salesforce.connection.models import ConnectionStatus, SalesforceConnection

    token = sandbox.password_token()
    connection = SalesforceConnection(
        site=site, enabled=True, login_url=login_url, consumer_key=sandbox.client_id
    )
    connection.consumer_secret = sandbox.client_secret
    connection.access_token = token["access_token"]
    connection.instance_url = instance_url
    connection.status = ConnectionStatus.CONNECTED
    connection.save()


def run(requests_per_variant: int, database: str = "memory") -> dict[str, Any]:
    from wagtail_salesforce.sandbox.server import start_sandbox

    with tempfile.TemporaryDirectory() as workdir, start_sandbox() as sandbox:
        config_file = Path(workdir) / "salesforce.yaml"
        config_file.write_text(MAPPING_YAML, encoding="utf-8")
        database_file = Path(workdir) / "bench.sqlite3" if database == "file" else None
        _setup_django(config_file, sandbox.ca_file, database_file)

        from django.db import connection as db
        from django.test import Client
        from django.test.utils import setup_test_environment
        from django_q.models import OrmQ
        from home.models import FormField, LandingPage
        from wagtail.models import Locale, Page, Site

        from wagtail_salesforce.forms.spam import FILL_TOKEN_FIELD, fill_time_token
        from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState
        from wagtail_salesforce.outbox.wakeups import forget_last_wakeup

        setup_test_environment()
        db.creation.create_test_db(verbosity=0, autoclobber=True)
        plain_model, plain_field_model = _plain_page_models()
        Locale.objects.get_or_create(language_code="en")
        root = Page.get_first_root_node()
        up_site = Site.objects.create(hostname="up.example", port=80, root_page=root)
        down_site = Site.objects.create(hostname="down.example", port=80, root_page=root)
        _connect(up_site, sandbox, sandbox.login_url, sandbox.instance_url)
        dead = f"https://127.0.0.1:{_unused_port()}"
        _connect(down_site, sandbox, dead.replace("https", "http"), dead)

        pages = {
            "plain": (_form_page(plain_model, plain_field_model, root, "plain"), "up.example"),
            "mixin": (
                _form_page(LandingPage, FormField, root, "mixin", salesforce_mapping="bench-lead"),
                "up.example",
            ),
        }
        mixin_page = pages["mixin"][0]
        variants = {
            "plain": pages["plain"],
            "mixin": pages["mixin"],
            "mixin_salesforce_slow": (mixin_page, "up.example"),
            "mixin_salesforce_down": (mixin_page, "down.example"),
            "mixin_queues_wakeup": (mixin_page, "up.example"),
        }
        client = Client()
        durations: dict[str, list[float]] = {name: [] for name in variants}
        # Warm up every code path (template loading, first queries) before measuring.
        for name, (page, host) in variants.items():
            client.post(
                f"/{page.slug}/",
                {"email": f"warm-{name}@example.com", "last_name": "Warm"},
                HTTP_HOST=host,
            )
        calls_before = len(sandbox.calls)
        for n in range(requests_per_variant):
            for name, (page, host) in variants.items():
                slow = name == "mixin_salesforce_slow"
                if slow:
                    sandbox.faults.add("latency", latency_ms=LATENCY_MS)
                if name == "mixin_queues_wakeup":
                    forget_last_wakeup()
                # An ordinary visitor: their own address (under the rate limit), a form opened
                # a minute ago (the fill-time token is checked, and passes).
                data = {
                    "email": f"{name}-{n}@example.com",
                    "last_name": f"Visitor {n}",
                    FILL_TOKEN_FIELD: fill_time_token(page.pk, time.time() - 60),
                }
                address = f"10.1.{n // 250}.{n % 250 + 1}"
                started = time.perf_counter()
                response = client.post(
                    f"/{page.slug}/", data, HTTP_HOST=host, REMOTE_ADDR=address
                )
                elapsed = (time.perf_counter() - started) * 1000
                if slow:
                    sandbox.faults.clear()
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: HTTP {response.status_code}")
                durations[name].append(elapsed)
        calls_during_posts = len(sandbox.calls) - calls_before
        queued = OutboxEntry.objects.count()
        held = OutboxEntry.objects.filter(state=OutboxState.HELD).count()
        tasks_queued = OrmQ.objects.count()

    result: dict[str, Any] = {name: _summary(values) for name, values in durations.items()}
    result["overhead_ratio"] = round(result["mixin"]["median_ms"] / result["plain"]["median_ms"], 3)
    result["wakeup_ratio"] = round(
        result["mixin_queues_wakeup"]["median_ms"] / result["plain"]["median_ms"], 3
    )
    result["requests_per_variant"] = requests_per_variant
    result["database"] = "sqlite file (WAL)" if database == "file" else "sqlite in memory"
    result["outbox_entries_queued"] = queued
    result["delivery_tasks_queued"] = tasks_queued
    result["outbox_entries_held"] = held
    result["salesforce_calls_during_posts"] = calls_during_posts
    result["salesforce_latency_ms_when_slow"] = LATENCY_MS
    result["cpu_count"] = os.cpu_count()
    result["load_average"] = [round(value, 2) for value in os.getloadavg()]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="POSTs per variant")
    parser.add_argument(
        "--database",
        choices=["memory", "file"],
        default="memory",
        help="in-memory SQLite, or an SQLite file in WAL mode (the example site)",
    )
    arguments = parser.parse_args()
    if arguments.requests < 1:
        parser.error("--requests must be at least 1")
    print(json.dumps(run(arguments.requests, arguments.database)))


if __name__ == "__main__":
    main()
