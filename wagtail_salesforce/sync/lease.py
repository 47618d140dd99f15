"""A per-connection lease: at most one worker runs a connection's sync cycle at a time.

The core lease on the connection's ``SyncLease`` row. A worker that dies keeps the lease only
until it expires; then another takes it over.
"""

from __future__ import annotations

import datetime
import os
import socket
import uuid

from django.db import IntegrityError, transaction

from wagtail_salesforce import conf
from wagtail_salesforce.core.lease import Lease

from .models import SyncLease

SYNC_LEASE = Lease(owner_field="holder", expiry_field="expires_at")


def new_holder_id() -> str:
    """Who is asking: host, process and a random part (unique per cycle)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _ttl() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(conf.get("SYNC_LEASE_SECONDS")))


def acquire(connection_id: int, holder: str) -> bool:
    """Take the lease if it is free, expired or already ours; True on success."""
    rows = SyncLease.objects.filter(connection_id=connection_id)
    if not rows.exists():
        try:
            with transaction.atomic():
                SyncLease.objects.create(connection_id=connection_id)
        except IntegrityError:
            pass  # another worker created it at the same moment; compete below
    return SYNC_LEASE.take(rows, holder, duration=_ttl()) == 1


def renew(connection_id: int, holder: str) -> None:
    """Extend our lease; :class:`~wagtail_salesforce.core.lease.LeaseLost` if someone else
    holds it now."""
    SYNC_LEASE.renew(SyncLease.objects.filter(connection_id=connection_id), holder, duration=_ttl())


def release(connection_id: int, holder: str) -> None:
    SYNC_LEASE.release(SyncLease.objects.filter(connection_id=connection_id), holder)
