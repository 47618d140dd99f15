"""The task cluster's heartbeat: when a django-q2 cluster last finished one of our tasks.

The outbox sweeper is scheduled every minute, so a running cluster refreshes its row at least
that often. The health panel asks "is a cluster running?" from this, not from a site's history:
a site connected a minute ago has no sync run yet while the cluster is busy with the others.

django-q2 sends ``post_execute`` from the cluster's monitor process after saving each result,
whatever the broker (ORM or Redis), so the row is written where every web process can read it.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.db import DatabaseError, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

TASK_PREFIX = "wagtail_salesforce."


class ClusterHeartbeat(models.Model):
    """One row per django-q2 cluster name: the last time it finished a wagtail-salesforce task."""

    cluster = models.CharField(_("cluster"), max_length=100, unique=True)
    last_task_at = models.DateTimeField(_("last task finished at"))
    last_task = models.CharField(_("last task"), max_length=255)

    class Meta:
        verbose_name = _("cluster heartbeat")
        verbose_name_plural = _("cluster heartbeats")

    def __str__(self) -> str:
        return f"{self.cluster}: {self.last_task} at {self.last_task_at:%Y-%m-%d %H:%M:%S}"


def _task_name(func: Any) -> str:
    if isinstance(func, str):
        return func
    return f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', repr(func))}"


def record_heartbeat(sender: Any, task: dict[str, Any], **kwargs: Any) -> None:
    """``post_execute`` receiver: note that this cluster just finished one of our tasks."""
    name = _task_name(task.get("func"))
    if not name.startswith(TASK_PREFIX):
        return
    from django_q.conf import Conf

    try:
        ClusterHeartbeat.objects.update_or_create(
            cluster=str(Conf.CLUSTER_NAME)[:100],
            defaults={"last_task_at": timezone.now(), "last_task": name[:255]},
        )
    except DatabaseError:
        # django-q2 sends this signal unguarded from its monitor loop: never stop the monitor.
        logger.exception("Could not record the cluster heartbeat after %s", name)


def last_heartbeat() -> datetime.datetime | None:
    """When any cluster last finished a wagtail-salesforce task (None: never)."""
    latest: datetime.datetime | None = ClusterHeartbeat.objects.aggregate(
        latest=models.Max("last_task_at")
    )["latest"]
    return latest
