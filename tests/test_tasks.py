"""Schedule registration: one row per schedule, whatever was there before."""

import pytest
from django_q.models import Schedule

from wagtail_salesforce.sync.tasks import SYNC_SCHEDULE_NAME
from wagtail_salesforce.tasks import SWEEP_SCHEDULE_NAME, ensure_schedules

pytestmark = pytest.mark.django_db


def test_duplicate_schedules_left_by_a_race_are_collapsed_to_one() -> None:
    for _ in range(3):
        Schedule.objects.create(name=SWEEP_SCHEDULE_NAME, func="an.old.path",
                                schedule_type=Schedule.MINUTES, minutes=5)

    ensure_schedules()

    [sweeper] = Schedule.objects.filter(name=SWEEP_SCHEDULE_NAME)
    assert sweeper.func == "wagtail_salesforce.tasks.sweep_outbox" and sweeper.minutes == 1
    assert Schedule.objects.filter(name=SYNC_SCHEDULE_NAME).count() == 1
