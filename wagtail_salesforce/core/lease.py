"""One lease primitive: a row is held by whoever wrote their token into it, until it expires.

Taking, renewing and releasing are each one conditional ``UPDATE``, atomic on SQLite and
PostgreSQL alike, so of several workers racing for a row exactly one wins it. A worker that dies
keeps the lease only until its expiry; then anyone may take the row over. The rows and the
fields are the caller's: the outbox claims entries with it, the sync holds a connection's cycle,
and a process holds a connection's token refresh on databases without row locks.

    CLAIM = Lease("claim_token", "claimed_until")
    token = new_token()
    if CLAIM.take(OutboxEntry.objects.filter(pk=pk), token, duration=datetime.timedelta(minutes=5)):
        CLAIM.renew(OutboxEntry.objects.filter(pk=pk), token, values={"attempts": 1})
        CLAIM.release(OutboxEntry.objects.filter(pk=pk), token)
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone


class LeaseLost(Exception):
    """The lease is no longer ours (it expired and another worker took the row over)."""


def new_token() -> str:
    """A fresh owner token: 32 hex characters."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Lease:
    """A lease kept in two fields of a model: the owner's token and when the lease expires.

    A row is free when it has no token, no expiry or an expiry in the past. Every method takes
    the candidate rows as a queryset (its filters add the caller's own conditions, e.g. "due"),
    and returns or checks how many rows the conditional UPDATE matched.
    """

    owner_field: str
    expiry_field: str

    def free(self, now: datetime.datetime) -> Q:
        """The condition under which a row may be taken by anyone."""
        return (
            Q(**{self.owner_field: ""})
            | Q(**{f"{self.expiry_field}__isnull": True})
            | Q(**{f"{self.expiry_field}__lte": now})
        )

    def held_by(self, token: str) -> Q:
        return Q(**{self.owner_field: token})

    def take(
        self,
        rows: models.QuerySet[Any],
        token: str,
        *,
        duration: datetime.timedelta,
        now: datetime.datetime | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> int:
        """Take the lease on those of ``rows`` that are free (or already held with ``token``)
        until ``now + duration``, writing ``values`` with it; returns how many rows were taken."""
        now = now or timezone.now()
        return rows.filter(self.free(now) | self.held_by(token)).update(
            **{self.owner_field: token, self.expiry_field: now + duration},
            **(values or {}),
        )

    def renew(
        self,
        rows: models.QuerySet[Any],
        token: str,
        *,
        duration: datetime.timedelta | None = None,
        now: datetime.datetime | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> int:
        """Write ``values`` to the rows we hold, and push their expiry to ``now + duration`` when
        ``duration`` is given; :class:`LeaseLost` when we hold none of them any more."""
        changes = dict(values or {})
        if duration is not None:
            changes[self.expiry_field] = (now or timezone.now()) + duration
        if not changes:
            raise ValueError("Nothing to renew: give a duration or values.")
        updated = rows.filter(self.held_by(token)).update(**changes)
        if not updated:
            raise LeaseLost(f"The lease {token!r} on {rows.model.__name__} was lost.")
        return updated

    def release(
        self,
        rows: models.QuerySet[Any],
        token: str,
        *,
        values: Mapping[str, Any] | None = None,
        must_hold: bool = False,
    ) -> int:
        """Free the rows we hold, writing ``values`` with it; returns how many were released.

        ``must_hold``: raise :class:`LeaseLost` instead of returning 0 (the values are an outcome
        that only the holder may write).
        """
        released = rows.filter(self.held_by(token)).update(
            **{self.owner_field: "", self.expiry_field: None}, **(values or {})
        )
        if must_hold and not released:
            raise LeaseLost(f"The lease {token!r} on {rows.model.__name__} was lost.")
        return released
