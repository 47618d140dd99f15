"""Settings for the multi-process outbox test: the test settings on a shared SQLite file and a
real django-q2 cluster on the ORM broker (not the inline sync mode)."""

import json
import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["OUTBOX_TEST_DATABASE"],
        "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"},
    }
}
Q_CLUSTER = {
    "name": "wagtail_salesforce_outbox_workers",
    "orm": "default",
    "workers": 2,
    "sync": False,
    "catch_up": False,
    "timeout": 20,
    "retry": 25,
    "poll": 0.1,
    "ack_failures": True,
}
WAGTAIL_SALESFORCE = json.loads(os.environ["OUTBOX_TEST_WAGTAIL_SALESFORCE"])
# JSON has no tuples; requests wants the (connect, read) timeout as one.
WAGTAIL_SALESFORCE["TIMEOUT"] = tuple(WAGTAIL_SALESFORCE.get("TIMEOUT", (5.0, 30.0)))
