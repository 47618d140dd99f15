"""``SalesforceFormMixin``: a Wagtail form page whose submissions are delivered to Salesforce."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel, MultiFieldPanel
from wagtail.models import Site

from wagtail_salesforce.admin.editor_panel import SalesforceMappingPanel
from wagtail_salesforce.core.signals import submission_received

from .mapping_field import MappingSelect, validate_mapping_key


class SalesforceFormMixin(models.Model):
    """Add to a page built on ``AbstractForm``/``AbstractEmailForm`` (before it in the bases)::

        class LandingPage(SalesforceFormMixin, AbstractEmailForm):
            content_panels = [..., *SalesforceFormMixin.salesforce_panels]

    Each submission is announced (:data:`~wagtail_salesforce.core.signals.submission_received`)
    inside the visitor's transaction; the outbox writes its entry there, so both commit together.
    Delivery to Salesforce runs after the commit, in a django-q2 task, so the visitor never waits
    on Salesforce.
    """

    salesforce_mapping = models.CharField(
        _("Salesforce mapping"),
        max_length=255,
        blank=True,
        default="",
        validators=[validate_mapping_key],
        help_text=_(
            "Where this form's submissions go in Salesforce (mappings are defined in the site's "
            "Salesforce YAML). Leave empty to keep submissions in Wagtail only."
        ),
    )

    salesforce_panels = [
        MultiFieldPanel(
            [
                FieldPanel("salesforce_mapping", widget=MappingSelect()),
                SalesforceMappingPanel(),
            ],
            heading=_("Salesforce"),
        )
    ]

    class Meta:
        abstract = True

    def serve(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # Remember the request while serving: its Site is already resolved (and cached on it)
        # by Wagtail's page serving, which spares a site look-up per submission.
        self._salesforce_request = request
        try:
            return super().serve(request, *args, **kwargs)  # type: ignore[misc]
        finally:
            self._salesforce_request = None

    def process_form_submission(self, form: Any) -> Any:
        # The submission and its outbox entry commit together, or neither does. Email (from
        # EmailFormMixin) is sent after the commit: a slow or failing mail server must neither
        # hold the transaction open nor roll the submission back.
        self._salesforce_deferred_mail: list[Callable[[], None]] | None = []
        try:
            with transaction.atomic():
                submission = super().process_form_submission(form)  # type: ignore[misc]
                if self.salesforce_mapping:
                    self.announce_submission(form, submission)
                for send in self._salesforce_deferred_mail:
                    transaction.on_commit(send)
        finally:
            self._salesforce_deferred_mail = None
        return submission

    def send_mail(self, form: Any) -> None:
        send = super().send_mail  # type: ignore[misc]  # EmailFormMixin's, when the page has it
        deferred = getattr(self, "_salesforce_deferred_mail", None)
        if deferred is None:
            send(form)
        else:
            deferred.append(lambda: send(form))

    def get_salesforce_form_data(self, form: Any, submission: Any) -> dict[str, Any]:
        """The data delivered to Salesforce (override to add data): the stored submission's,
        or the cleaned data when the page does not store submissions."""
        return dict(submission.form_data if submission is not None else form.cleaned_data)

    def announce_submission(self, form: Any, submission: Any) -> None:
        """Announce the submission inside the visitor's transaction (the outbox stores it)."""
        submission_received.send(
            sender=type(self),
            page=self,
            submission=submission,
            form_data=self.get_salesforce_form_data(form, submission),
            mapping_key=self.salesforce_mapping,
            site_id=self._salesforce_site_id(),
        )

    def _salesforce_site_id(self) -> int:
        """The Site this submission came through (its connection delivers the entry)."""
        request = getattr(self, "_salesforce_request", None)
        site = Site.find_for_request(request) if request is not None else None
        if site is None:
            site = self.get_site()  # type: ignore[attr-defined]
        if site is None:
            site = Site.objects.get(is_default_site=True)
        return int(site.pk)

    def get_submissions_list_view_class(self) -> Any:
        # Imported when called, as Wagtail's FormMixin does: the view module imports admin code
        # that needs the app registry, and this module is imported while models load.
        from wagtail_salesforce.admin.submissions import SalesforceSubmissionsListView

        return self.submissions_list_view_class or SalesforceSubmissionsListView  # type: ignore[attr-defined]
