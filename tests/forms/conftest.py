"""The form tests run on the outbox tests' org, YAML and settings (``tests/outbox/conftest.py``)."""

from tests.outbox.conftest import (  # noqa: F401
    config_yaml,
    outbox_settings,
    salesforce_org,
    salesforce_settings,
)
