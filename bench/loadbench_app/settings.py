"""Settings of the load bench: the example site's (``DATABASE_URL``, ``REDIS_URL``,
``SALESFORCE_CA_FILE``), plus the bench's plain form page app and ``LOAD_BENCH_*`` knobs."""

import json
import os

from example_site.settings import *  # noqa: F403
from example_site.settings import INSTALLED_APPS, Q_CLUSTER, WAGTAIL_SALESFORCE

INSTALLED_APPS = ["loadbench_app", *INSTALLED_APPS]
WAGTAIL_SALESFORCE.update(json.loads(os.environ.get("LOAD_BENCH_WAGTAIL_SALESFORCE", "{}")))
if "TIMEOUT" in WAGTAIL_SALESFORCE:
    WAGTAIL_SALESFORCE["TIMEOUT"] = tuple(WAGTAIL_SALESFORCE["TIMEOUT"])
Q_CLUSTER.update(json.loads(os.environ.get("LOAD_BENCH_Q_CLUSTER", "{}")))
# Visitors' requests are what is measured: no per-request console logging.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"wagtail_salesforce": {"handlers": ["console"], "level": "WARNING"}},
}
