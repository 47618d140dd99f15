"""Fixtures of the production tests: the example site's processes on PostgreSQL and Redis
(the shared helpers live in ``tests/services.py``)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.services
