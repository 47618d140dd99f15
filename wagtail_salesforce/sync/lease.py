"""A per-connection lease: at most one worker runs a connection's sync cycle at a time.

Taking and renewing are single conditional UPDATEs, atomic on SQLite and PostgreSQL alike. A
worker that dies keeps the lease only until it expires; then another takes it over.
"""

from __future__ import annotations

import datetime
import os
import socket
import uuid

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from wagtail_salesforce import conf

from .models import SyncLease


class LeaseLost(Exception):
    """Another worker took the lease over (this one was too slow to renew it)."""


def new_holder_id() -> str:
    """Who is asking: host, process and a random part (unique per cycle)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _ttl() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(conf.get("SYNC_LEASE_SECONDS")))


def acquire(connection_id: int, holder: str) -> bool:
    """Take the lease if it is free, expired or already ours; True on success."""
    if not SyncLease.objects.filter(connection_id=connection_id).exists():
        try:
            with transaction.atomic():
                SyncLease.objects.create(connection_id=connection_id)
        except IntegrityError:
            pass  # another worker created it at the same moment; compete below
    now = timezone.now()
    taken = (
        SyncLease.objects.filter(connection_id=connection_id)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__lte=now) | Q(holder=holder))
        .update(holder=holder, expires_at=now + _ttl())
    )
    return taken == 1


def renew(connection_id: int, holder: str) -> None:
    """Extend our lease; LeaseLost if someone else holds it now."""
    renewed = SyncLease.objects.filter(connection_id=connection_id, holder=holder).update(
        expires_at=timezone.now() + _ttl()
    )
    if renewed != 1:
        raise LeaseLost(f"The sync lease of connection {connection_id} was taken over.")


def release(connection_id: int, holder: str) -> None:
    SyncLease.objects.filter(connection_id=connection_id, holder=holder).update(
        holder="", expires_at=None
    )
