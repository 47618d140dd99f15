"""Settings for the multi-process outbox tests: the test settings on a database shared by
processes, with a real django-q2 cluster (not the inline sync mode).

``OUTBOX_TEST_PG_DATABASE`` set: PostgreSQL on localhost and a Redis broker (queue
``OUTBOX_TEST_QUEUE``); otherwise the SQLite file ``OUTBOX_TEST_DATABASE`` and the ORM broker.
"""

import json
import os

from tests.settings import *  # noqa: F403

Q_CLUSTER = {
    "name": os.environ.get("OUTBOX_TEST_QUEUE", "wagtail_salesforce_outbox_workers"),
    "workers": 2,
    "sync": False,
    "catch_up": False,
    "timeout": 60,  # drains and the sweeper run up to 50 s (wagtail_salesforce.W002)
    "retry": 70,
    "poll": 0.1,
    "ack_failures": True,
}
if os.environ.get("OUTBOX_TEST_PG_DATABASE"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["OUTBOX_TEST_PG_DATABASE"],
            "USER": "postgres",
            "HOST": "localhost",
            "PORT": "5432",
        }
    }
    Q_CLUSTER["redis"] = {"host": "localhost", "port": 6379, "db": 0}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["OUTBOX_TEST_DATABASE"],
            "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
    Q_CLUSTER["orm"] = "default"
WAGTAIL_SALESFORCE = json.loads(os.environ["OUTBOX_TEST_WAGTAIL_SALESFORCE"])
WAGTAIL_SALESFORCE.setdefault("ALLOWED_LOGIN_HOSTS", ["127.0.0.1"])  # the loopback sandbox
# JSON has no tuples; requests wants the (connect, read) timeout as one.
WAGTAIL_SALESFORCE["TIMEOUT"] = tuple(WAGTAIL_SALESFORCE.get("TIMEOUT", (5.0, 30.0)))
