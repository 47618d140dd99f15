"""Shared fixtures: the site, sandbox, settings and connection fixtures of ``tests/fixtures.py``
(built on the package's pytest plugin, which gives ``salesforce_sandbox`` and its kin), the
PostgreSQL/Redis helpers of ``tests/services.py``, and pytester for the plugin's own tests."""

from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester", "tests.fixtures", "tests.services"]


@pytest.fixture(autouse=True)
def _fresh_content_type_caches() -> Iterator[None]:
    """Wagtail caches the form pages' ContentTypes for the process (``get_form_types`` is an
    lru_cache). A transactional test flushes the database and ContentTypes come back with new
    ids, so a list cached before would make Wagtail refuse every form page's submissions."""
    from django.contrib.contenttypes.models import ContentType
    from wagtail.contrib.forms.utils import get_form_types

    get_form_types.cache_clear()
    ContentType.objects.clear_cache()
    yield


@pytest.fixture(autouse=True)
def _fresh_wakeup_window() -> None:
    """Each test's first committed outbox entry queues its own delivery wake-up (the window is
    per process, and would otherwise carry over from the test before)."""
    from wagtail_salesforce.outbox.wakeups import forget_last_wakeup

    forget_last_wakeup()
