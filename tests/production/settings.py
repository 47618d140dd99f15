"""The example site's settings (``DATABASE_URL``, ``REDIS_URL``, ``SALESFORCE_CA_FILE``) with the
knobs the production tests turn: ``PRODUCTION_TEST_WAGTAIL_SALESFORCE`` (JSON merged into
``WAGTAIL_SALESFORCE``: short leases and backoff so a test sees takeovers within seconds) and
``PRODUCTION_TEST_Q_CLUSTER`` (JSON merged into ``Q_CLUSTER``)."""

import json
import os

from example_site.settings import *  # noqa: F403
from example_site.settings import Q_CLUSTER, WAGTAIL_SALESFORCE

WAGTAIL_SALESFORCE.update(json.loads(os.environ.get("PRODUCTION_TEST_WAGTAIL_SALESFORCE", "{}")))
# JSON has no tuples; requests wants the (connect, read) timeout as one.
if "TIMEOUT" in WAGTAIL_SALESFORCE:
    WAGTAIL_SALESFORCE["TIMEOUT"] = tuple(WAGTAIL_SALESFORCE["TIMEOUT"])
Q_CLUSTER.update(json.loads(os.environ.get("PRODUCTION_TEST_Q_CLUSTER", "{}")))
