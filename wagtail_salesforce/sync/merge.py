"""The three-way merge of one field: pure functions, no I/O.

``base`` is the value both sides last agreed on, ``local`` Wagtail's current value, ``remote``
Salesforce's. A side "changed" when its value differs from the base. Blank text and null are the
same value (Salesforce answers null for an empty field).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wagtail_salesforce.config import Conflict, Direction


class Winner(StrEnum):
    WAGTAIL = "wagtail"
    SALESFORCE = "salesforce"


@dataclass(frozen=True)
class FieldMerge:
    """What to do with one field.

    ``value`` is the field's merged value. ``pull``: store ``value`` locally. ``push``: send
    ``value`` to Salesforce. ``base``: the new merge base (what Salesforce holds once this
    outcome is applied locally and before any push: a pushed field keeps the old remote value as
    base until the push succeeds). ``winner`` is set for a real conflict only.
    """

    value: Any
    pull: bool
    push: bool
    base: Any
    winner: Winner | None = None

    @property
    def conflict(self) -> bool:
        return self.winner is not None


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def normalise(value: Any) -> Any:
    return None if is_blank(value) else value


def merge_field(
    *,
    direction: Direction,
    rule: Conflict,
    base: Any,
    local: Any,
    remote: Any,
    local_changed_at: datetime.datetime | None = None,
    remote_changed_at: datetime.datetime | None = None,
) -> FieldMerge:
    """Merge one field. Pure: the same inputs always give the same outcome.

    ``to_salesforce`` fields are never pulled, ``from_salesforce`` fields never pushed. For
    ``newest_wins`` a missing or equal time goes to Salesforce (the system of record).
    """
    base, local, remote = normalise(base), normalise(local), normalise(remote)
    local_changed = local != base
    remote_changed = remote != base

    if direction is Direction.FROM_SALESFORCE:
        # Salesforce owns the field: whatever Wagtail holds is replaced.
        return FieldMerge(value=remote, pull=local != remote, push=False, base=remote)
    if direction is Direction.TO_SALESFORCE:
        # Wagtail owns it: push a local change, ignore Salesforce's edits.
        return FieldMerge(value=local, pull=False, push=local_changed, base=base)

    if local == remote:
        # Same value on both sides (or no change at all): the base catches up.
        return FieldMerge(value=local, pull=False, push=False, base=local)
    if local_changed and not remote_changed:
        return FieldMerge(value=local, pull=False, push=True, base=remote)
    if remote_changed and not local_changed:
        return FieldMerge(value=remote, pull=True, push=False, base=remote)

    winner = _decide(rule, remote, local_changed_at, remote_changed_at)
    if winner is Winner.SALESFORCE:
        return FieldMerge(value=remote, pull=True, push=False, base=remote, winner=winner)
    return FieldMerge(value=local, pull=False, push=True, base=remote, winner=winner)


def _decide(
    rule: Conflict,
    remote: Any,
    local_changed_at: datetime.datetime | None,
    remote_changed_at: datetime.datetime | None,
) -> Winner:
    if rule is Conflict.WAGTAIL_WINS:
        return Winner.WAGTAIL
    if rule is Conflict.SALESFORCE_UNLESS_BLANK:
        return Winner.WAGTAIL if remote is None else Winner.SALESFORCE
    if rule is Conflict.NEWEST_WINS:
        if (
            local_changed_at is not None
            and remote_changed_at is not None
            and local_changed_at > remote_changed_at
        ):
            return Winner.WAGTAIL
        return Winner.SALESFORCE
    return Winner.SALESFORCE
