"""Property tests of the three-way merge: random edit histories on both sides, several cycles."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wagtail_salesforce.config import Conflict, Direction
from wagtail_salesforce.sync.merge import FieldMerge, Winner, merge_field, normalise

VALUES = st.one_of(st.none(), st.sampled_from(["", " ", "Acme", "acme", "Globex", "Initech"]))
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@dataclass
class World:
    """One field as both sides hold it, plus the merge base and the times of the last edits."""

    base: Any = None
    local: Any = None
    remote: Any = None
    local_at: datetime.datetime | None = None
    remote_at: datetime.datetime | None = None

    def merge(self, direction: Direction, rule: Conflict) -> FieldMerge:
        return merge_field(
            direction=direction,
            rule=rule,
            base=self.base,
            local=self.local,
            remote=self.remote,
            local_changed_at=self.local_at,
            remote_changed_at=self.remote_at,
        )

    def apply(self, outcome: FieldMerge) -> None:
        """What a sync cycle does with an outcome: store locally, push, move the base."""
        if outcome.pull:
            self.local = outcome.value
        self.base = outcome.base
        if outcome.push:
            self.remote = outcome.value  # the push succeeded: Salesforce holds it now
            self.base = outcome.value
        self.local_at = None  # pushed or pulled: nothing local is pending any more


# An edit: (side, value, minutes after the epoch). A cycle boundary is ("sync", None, 0).
EDITS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["local", "remote"]), VALUES, st.integers(0, 600)),
        st.just(("sync", None, 0)),
    ),
    max_size=25,
)


def _check_rules(world: World, outcome: FieldMerge, direction: Direction, rule: Conflict) -> None:
    base, local, remote = normalise(world.base), normalise(world.local), normalise(world.remote)
    if direction is Direction.FROM_SALESFORCE:
        assert not outcome.push
        assert outcome.value == remote
        return
    if direction is Direction.TO_SALESFORCE:
        assert not outcome.pull
        assert outcome.value == local
        assert outcome.push == (local != base)
        return
    local_changed, remote_changed = local != base, remote != base
    if local == remote:
        assert not (outcome.push or outcome.pull or outcome.conflict)
    elif local_changed and not remote_changed:
        assert outcome.push and not outcome.pull and outcome.value == local
    elif remote_changed and not local_changed:
        assert outcome.pull and not outcome.push and outcome.value == remote
    else:
        assert outcome.conflict
        if rule is Conflict.SALESFORCE_WINS:
            expected = Winner.SALESFORCE
        elif rule is Conflict.WAGTAIL_WINS:
            expected = Winner.WAGTAIL
        elif rule is Conflict.SALESFORCE_UNLESS_BLANK:
            expected = Winner.WAGTAIL if remote is None else Winner.SALESFORCE
        else:
            newer_local = (
                world.local_at is not None
                and world.remote_at is not None
                and world.local_at > world.remote_at
            )
            expected = Winner.WAGTAIL if newer_local else Winner.SALESFORCE
        assert outcome.winner is expected
        assert outcome.value == (local if expected is Winner.WAGTAIL else remote)


@settings(max_examples=400, deadline=None)
@given(
    direction=st.sampled_from(list(Direction)),
    rule=st.sampled_from(list(Conflict)),
    start=VALUES,
    edits=EDITS,
)
def test_random_histories_obey_the_rules_and_a_second_cycle_changes_nothing(
    direction: Direction, rule: Conflict, start: Any, edits: list[tuple[str, Any, int]]
) -> None:
    world = World(base=start, local=start, remote=start)
    for side, value, minutes in [*edits, ("sync", None, 0)]:
        when = EPOCH + datetime.timedelta(minutes=minutes)
        if side == "local":
            world.local, world.local_at = value, when
        elif side == "remote":
            world.remote, world.remote_at = value, when
        else:
            before = World(**vars(world))
            outcome = world.merge(direction, rule)
            _check_rules(before, outcome, direction, rule)
            world.apply(outcome)
            settled = world.merge(direction, rule)
            assert not settled.push and not settled.pull and not settled.conflict
            if direction is Direction.BOTH:
                assert normalise(world.local) == normalise(world.remote) == normalise(world.base)
            elif direction is Direction.FROM_SALESFORCE:
                assert normalise(world.local) == normalise(world.remote)


@given(value=VALUES)
def test_blank_and_null_are_the_same_value(value: Any) -> None:
    outcome = merge_field(
        direction=Direction.BOTH,
        rule=Conflict.SALESFORCE_WINS,
        base=None,
        local="" if value is None else value,
        remote=None if value in ("", " ") else value,
    )
    assert not outcome.push and not outcome.pull and not outcome.conflict


def test_newest_wins_gives_ties_to_salesforce() -> None:
    outcome = merge_field(
        direction=Direction.BOTH,
        rule=Conflict.NEWEST_WINS,
        base="a",
        local="b",
        remote="c",
        local_changed_at=EPOCH,
        remote_changed_at=EPOCH,
    )
    assert outcome.winner is Winner.SALESFORCE and outcome.value == "c"


def test_a_conflict_won_locally_keeps_the_remote_value_as_base_until_pushed() -> None:
    outcome = merge_field(
        direction=Direction.BOTH, rule=Conflict.WAGTAIL_WINS, base="a", local="b", remote="c"
    )
    assert outcome.push and outcome.value == "b" and outcome.base == "c"
