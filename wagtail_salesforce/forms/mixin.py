"""``SalesforceFormMixin``: a Wagtail form page whose submissions are delivered to Salesforce."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel, MultiFieldPanel

from wagtail_salesforce.admin.editor_panel import SalesforceMappingPanel

from .mapping_field import MappingSelect, validate_mapping_key


class SalesforceFormMixin(models.Model):
    """Add to a page built on ``AbstractForm``/``AbstractEmailForm`` (before it in the bases)::

        class LandingPage(SalesforceFormMixin, AbstractEmailForm):
            content_panels = [..., *SalesforceFormMixin.salesforce_panels]

    Each submission commits together with an outbox entry; delivery to Salesforce runs after the
    commit, in a django-q2 task, so the visitor never waits on Salesforce.
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
                    self.create_outbox_entry(form, submission)
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

    def create_outbox_entry(self, form: Any, submission: Any) -> Any:
        """Store the delivery job; enqueue the delivery task for after the commit."""
        from wagtail_salesforce.outbox.models import OutboxEntry
        from wagtail_salesforce.tasks import enqueue_delivery

        form_submission_model = OutboxEntry._meta.get_field("submission").related_model
        entry = OutboxEntry.objects.create_for_submission(
            site_id=self._salesforce_site_id(),
            page_id=self.pk,
            submission=submission if isinstance(submission, form_submission_model) else None,
            form_data=submission.form_data if submission is not None else form.cleaned_data,
            mapping_key=self.salesforce_mapping,
        )
        enqueue_delivery(entry.pk)
        return entry

    def _salesforce_site_id(self) -> int:
        """The Site this submission came through (its connection delivers the entry)."""
        from wagtail.models import Site

        request = getattr(self, "_salesforce_request", None)
        site = Site.find_for_request(request) if request is not None else None
        if site is None:
            site = self.get_site()  # type: ignore[attr-defined]
        if site is None:
            site = Site.objects.get(is_default_site=True)
        return int(site.pk)

    def get_submissions_list_view_class(self) -> Any:
        from wagtail_salesforce.admin.submissions import SalesforceSubmissionsListView

        return self.submissions_list_view_class or SalesforceSubmissionsListView  # type: ignore[attr-defined]
