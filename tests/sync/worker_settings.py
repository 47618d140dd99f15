"""Settings for the multi-process sync test: PostgreSQL and a django-q2 cluster on Redis."""

import json
import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["SYNC_TEST_PG_DATABASE"],
        "USER": os.environ.get("SYNC_TEST_PG_USER", "postgres"),
        "HOST": os.environ.get("SYNC_TEST_PG_HOST", "localhost"),
        "PORT": int(os.environ.get("SYNC_TEST_PG_PORT", "5432")),
    }
}
Q_CLUSTER = {
    # The name is the Redis queue: unique per test run so parallel runs never share work.
    "name": os.environ["SYNC_TEST_QUEUE"],
    "redis": {
        "host": os.environ.get("SYNC_TEST_REDIS_HOST", "localhost"),
        "port": int(os.environ.get("SYNC_TEST_REDIS_PORT", "6379")),
        "db": 0,
    },
    "workers": 2,
    "sync": False,
    "catch_up": False,
    "timeout": 120,
    "retry": 150,
    "ack_failures": True,
    "max_attempts": 1,
}
WAGTAIL_SALESFORCE = json.loads(os.environ["SYNC_TEST_WAGTAIL_SALESFORCE"])
WAGTAIL_SALESFORCE.setdefault("ALLOWED_LOGIN_HOSTS", ["127.0.0.1"])  # the loopback sandbox
WAGTAIL_SALESFORCE["TIMEOUT"] = tuple(WAGTAIL_SALESFORCE.get("TIMEOUT", (5.0, 30.0)))
