"""Settings for refresh_worker subprocesses: the test settings on a shared SQLite file."""

import json
import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["CLIENT_TEST_DATABASE"],
        "OPTIONS": {"timeout": 20},
    }
}
WAGTAIL_SALESFORCE = json.loads(os.environ["CLIENT_TEST_WAGTAIL_SALESFORCE"])
WAGTAIL_SALESFORCE.setdefault("ALLOWED_LOGIN_HOSTS", ["127.0.0.1"])  # the loopback sandbox
# JSON has no tuples; requests wants the (connect, read) timeout as one.
WAGTAIL_SALESFORCE["TIMEOUT"] = tuple(WAGTAIL_SALESFORCE.get("TIMEOUT", (5.0, 30.0)))
