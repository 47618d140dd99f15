from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WagtailSalesforceConfig(AppConfig):
    name = "wagtail_salesforce"
    label = "wagtail_salesforce"
    verbose_name = _("Salesforce")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Checks register themselves on import; importing here keeps start-up in one place.
        from . import checks  # noqa: F401
