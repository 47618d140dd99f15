"""Coalesced delivery wake-ups: one queued drain per window per process, and every entry
committed in the window delivered by it (django-q2's ORM broker, tasks run as a worker would)."""

from __future__ import annotations

import importlib
import logging
from typing import Any

import pytest
from django.db import transaction
from django_q.conf import Conf
from django_q.models import OrmQ
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.outbox import wakeups
from wagtail_salesforce.outbox.delivery import drain, sweep
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

from .conftest import leads_with_email, make_entry


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A real queue (not django-q2's sync mode) and a wake-up window on a clock we move."""
    monkeypatch.setattr(Conf, "SYNC", False)
    fake = FakeClock()
    monkeypatch.setattr(wakeups, "_wakeup_window", wakeups._WakeupWindow(clock=fake))
    return fake


@pytest.fixture
def submit(django_capture_on_commit_callbacks: Any) -> Any:
    """What the form mixin does: the entry, and its delivery requested, in one transaction
    (the test's own transaction stands in for the commit: its callbacks run at the end)."""

    def submit_one(site: Site, email: str) -> OutboxEntry:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            entry = make_entry(site, "lead-plain", email=email, last_name="Visitor")
            wakeups.enqueue_delivery(entry.pk)
        return entry

    return submit_one


def queued() -> list[dict[str, Any]]:
    return [row.task for row in OrmQ.objects.order_by("pk")]


def run_queued() -> list[Any]:
    """Run and remove every queued task, as a django-q2 worker would."""
    results = []
    for row in OrmQ.objects.order_by("pk"):
        task = row.task
        module, name = task["func"].rsplit(".", 1)
        results.append(getattr(importlib.import_module(module), name)(*task["args"]))
        row.delete()
    return results


def states() -> list[str]:
    return list(OutboxEntry.objects.order_by("pk").values_list("state", flat=True))


def test_submissions_within_a_window_share_one_drain_that_delivers_them_all(
    site: Site, connection: SalesforceConnection, submit: Any, sandbox: Any, clock: FakeClock
) -> None:
    for n in range(3):
        submit(site, f"visitor{n}@example.com")
        clock.now += 0.3

    [task] = queued()
    assert task["func"] == wakeups.DRAIN_TASK

    [result] = run_queued()

    assert result == {"attempted": 3, "states": {OutboxState.DELIVERED: 3}}
    assert states() == [OutboxState.DELIVERED] * 3
    assert all(len(leads_with_email(sandbox, f"visitor{n}@example.com")) == 1 for n in range(3))


def test_a_submission_after_the_window_queues_a_new_drain(
    site: Site, connection: SalesforceConnection, submit: Any, clock: FakeClock
) -> None:
    submit(site, "first@example.com")
    clock.now += 0.99
    submit(site, "second@example.com")
    clock.now += 0.02  # 1.01 s after the first wake-up: its window (1 s) has closed
    submit(site, "third@example.com")

    assert [task["func"] for task in queued()] == [wakeups.DRAIN_TASK] * 2


def test_a_drain_delivers_entries_committed_while_it_watches(
    site: Site, connection: SalesforceConnection, sandbox: Any
) -> None:
    wall = FakeClock()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        # A visitor's submission commits while the drain waits for more.
        if not waits:
            make_entry(site, "lead-plain", email="late@example.com", last_name="Late")
        waits.append(seconds)
        wall.now += seconds

    result = drain(wall.now + 1.0, poll_seconds=0.25, wall_clock=wall, sleep=sleep)

    assert result.states == {OutboxState.DELIVERED: 1}
    assert len(leads_with_email(sandbox, "late@example.com")) == 1
    assert sum(waits) == pytest.approx(1.0)  # it kept watching until the end of its window


def test_a_drain_started_after_its_window_delivers_what_is_due_and_does_not_wait(
    site: Site, connection: SalesforceConnection
) -> None:
    make_entry(site, "lead-plain", email="queued@example.com", last_name="Queued")

    def sleep(seconds: float) -> None:
        raise AssertionError("a drain started late must not wait")

    result = drain(0.0, sleep=sleep)

    assert result.states == {OutboxState.DELIVERED: 1}


def test_entries_waiting_for_a_retry_or_paused_are_left_to_their_time_and_the_sweeper(
    site: Site, connection: SalesforceConnection
) -> None:
    from django.utils import timezone

    later = timezone.now() + timezone.timedelta(minutes=5)
    waiting = make_entry(site, "lead-plain", email="later@example.com", last_name="Later")
    OutboxEntry.objects.filter(pk=waiting.pk).update(
        state=OutboxState.RETRYING, next_attempt_at=later
    )
    paused = make_entry(site, "lead-plain", email="paused@example.com", last_name="Paused")
    OutboxEntry.objects.filter(pk=paused.pk).update(state=OutboxState.PAUSED)

    result = drain(0.0)

    assert result.attempted == 0
    assert states() == [OutboxState.RETRYING, OutboxState.PAUSED]


def test_a_window_of_zero_queues_one_delivery_task_per_entry(
    site: Site, connection: SalesforceConnection, submit: Any, clock: FakeClock, settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {
        **settings.WAGTAIL_SALESFORCE,
        "OUTBOX_WAKEUP_WINDOW_SECONDS": 0,
    }
    first = submit(site, "one@example.com")
    second = submit(site, "two@example.com")

    assert [(task["func"], task["args"]) for task in queued()] == [
        (wakeups.DELIVER_TASK, (first.pk,)),
        (wakeups.DELIVER_TASK, (second.pk,)),
    ]
    assert run_queued() == [OutboxState.DELIVERED, OutboxState.DELIVERED]


def test_a_wakeup_rolls_back_with_its_transaction_and_the_sweeper_covers_its_window(
    site: Site,
    connection: SalesforceConnection,
    submit: Any,
    clock: FakeClock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    class VisitorTransactionFailed(Exception):
        pass

    with pytest.raises(VisitorTransactionFailed), transaction.atomic():
        make_entry(site, "lead-plain", email="gone@example.com", last_name="Gone")
        wakeups.enqueue_delivery(OutboxEntry.objects.get().pk)
        assert len(queued()) == 1  # written in the visitor's transaction (the ORM broker)
        raise VisitorTransactionFailed

    assert not OutboxEntry.objects.exists() and queued() == []
    # The rest of that window has no drain: its entries wait for the sweeper (a minute).
    submit(site, "next@example.com")
    assert queued() == []
    assert sweep().states == {OutboxState.DELIVERED: 1}
    clock.now += 1.0
    submit(site, "later@example.com")
    assert [task["func"] for task in queued()] == [wakeups.DRAIN_TASK]


def test_a_broker_failure_loses_nothing_and_the_next_submission_wakes_a_worker(
    site: Site,
    connection: SalesforceConnection,
    submit: Any,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    working_broker = wakeups._broker()

    def broken_broker() -> Any:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(wakeups, "_broker", broken_broker)
    with caplog.at_level(logging.ERROR, logger="wagtail_salesforce.outbox.wakeups"):
        first = submit(site, "first@example.com")  # the visitor's request does not fail

    assert "the outbox sweeper will deliver" in caplog.text
    assert OutboxEntry.objects.get(pk=first.pk).state == OutboxState.PENDING
    monkeypatch.setattr(wakeups, "_broker", lambda: working_broker)
    submit(site, "second@example.com")  # same window, but the failed one did not count

    assert len(queued()) == 1
    run_queued()
    assert states() == [OutboxState.DELIVERED] * 2
