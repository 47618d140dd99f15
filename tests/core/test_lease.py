"""The one lease primitive, on a real table: taken by one owner at a time, renewed and
released only by its owner, and free again once it expires."""

from __future__ import annotations

import datetime

import pytest
from django.db.models import QuerySet
from django.utils import timezone
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.core.lease import Lease, LeaseLost, new_token
from wagtail_salesforce.sync.models import SyncLease

LEASE = Lease(owner_field="holder", expiry_field="expires_at")
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def rows(db: None) -> QuerySet[SyncLease]:
    site = Site.objects.get(is_default_site=True)
    connection = SalesforceConnection.objects.create(site=site)
    SyncLease.objects.create(connection=connection)
    return SyncLease.objects.filter(connection=connection)


def test_only_one_owner_takes_a_free_row(rows: QuerySet[SyncLease]) -> None:
    first, second = new_token(), new_token()

    assert LEASE.take(rows, first, duration=MINUTE) == 1
    assert LEASE.take(rows, second, duration=MINUTE) == 0
    assert SyncLease.objects.get().holder == first


def test_taking_again_with_the_same_token_extends_the_lease(rows: QuerySet[SyncLease]) -> None:
    token = new_token()
    now = timezone.now()
    LEASE.take(rows, token, duration=MINUTE, now=now)

    assert LEASE.take(rows, token, duration=2 * MINUTE, now=now) == 1
    assert SyncLease.objects.get().expires_at == now + 2 * MINUTE


def test_an_expired_lease_is_taken_over_and_its_old_owner_loses_it(
    rows: QuerySet[SyncLease],
) -> None:
    old, new = new_token(), new_token()
    start = timezone.now()
    LEASE.take(rows, old, duration=MINUTE, now=start)

    assert LEASE.take(rows, new, duration=MINUTE, now=start + 2 * MINUTE) == 1
    with pytest.raises(LeaseLost):
        LEASE.renew(rows, old, duration=MINUTE)
    assert LEASE.release(rows, old) == 0
    with pytest.raises(LeaseLost):
        LEASE.release(rows, old, must_hold=True)
    assert SyncLease.objects.get().holder == new


def test_renew_pushes_the_expiry_and_needs_something_to_write(
    rows: QuerySet[SyncLease],
) -> None:
    token = new_token()
    now = timezone.now()
    LEASE.take(rows, token, duration=MINUTE, now=now)

    LEASE.renew(rows, token, duration=5 * MINUTE, now=now)

    assert SyncLease.objects.get().expires_at == now + 5 * MINUTE
    with pytest.raises(ValueError, match="Nothing to renew"):
        LEASE.renew(rows, token)


def test_release_frees_the_row_and_writes_the_outcome(rows: QuerySet[SyncLease]) -> None:
    token = new_token()
    LEASE.take(rows, token, duration=MINUTE)

    assert LEASE.release(rows, token, must_hold=True) == 1

    lease = SyncLease.objects.get()
    assert (lease.holder, lease.expires_at) == ("", None)
    assert LEASE.take(rows, new_token(), duration=MINUTE) == 1


def test_take_writes_its_values_with_the_lease(rows: QuerySet[SyncLease]) -> None:
    token = new_token()
    site = Site.objects.get(is_default_site=True)
    other = SalesforceConnection.objects.get(site=site)
    claim = Lease(owner_field="refresh_claim", expiry_field="refresh_claimed_until")
    connections = SalesforceConnection.objects.filter(pk=other.pk, token_version=0)

    assert claim.take(connections, token, duration=MINUTE, values={"status_detail": "busy"}) == 1

    other.refresh_from_db()
    assert (other.refresh_claim, other.status_detail) == (token, "busy")
    # The caller's own conditions still apply: a row that moved on is not taken.
    assert claim.take(connections.filter(token_version=1), new_token(), duration=MINUTE) == 0
