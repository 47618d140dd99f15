"""Schedules are registered by name: one row, updated in place, duplicates removed."""

from __future__ import annotations

from django_q.models import Schedule

from wagtail_salesforce.core.schedules import register_schedule


def test_a_schedule_is_created_then_updated_in_place(db: None) -> None:
    assert register_schedule("example", "module.first")
    first = Schedule.objects.get(name="example")

    assert register_schedule("example", "module.second", minutes=5)

    [schedule] = Schedule.objects.filter(name="example")
    assert schedule.pk == first.pk
    assert (schedule.func, schedule.minutes, schedule.schedule_type) == (
        "module.second",
        5,
        Schedule.MINUTES,
    )


def test_rows_left_with_the_same_name_are_removed(db: None) -> None:
    for _ in range(3):
        Schedule.objects.create(name="example", func="module.old", schedule_type=Schedule.HOURLY)

    register_schedule("example", "module.new")

    assert list(Schedule.objects.filter(name="example").values_list("func", flat=True)) == [
        "module.new"
    ]
