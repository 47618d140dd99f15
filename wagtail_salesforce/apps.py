from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class WagtailSalesforceConfig(AppConfig):
    name = "wagtail_salesforce"
    label = "wagtail_salesforce"
    verbose_name = _("Salesforce")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, once the app registry is ready: checks register themselves, the
        # pipelines' receivers connect to the core signals, and the task module (which imports
        # the pipelines' models) provides the schedule handler.
        from django_q.signals import post_execute  # needs the app registry

        from . import checks  # noqa: F401
        from .heartbeat import record_heartbeat
        from .outbox import receivers as outbox_receivers  # noqa: F401
        from .sync import receivers as sync_receivers  # noqa: F401
        from .tasks import ensure_schedules

        # Schedules are (re)registered idempotently after every migrate, on every node.
        post_migrate.connect(
            ensure_schedules, sender=self, dispatch_uid="wagtail_salesforce.ensure_schedules"
        )
        # A cluster's monitor records when it last finished one of our tasks (health panel).
        post_execute.connect(record_heartbeat, dispatch_uid="wagtail_salesforce.heartbeat")
