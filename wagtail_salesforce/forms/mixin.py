"""``SalesforceFormMixin``: a Wagtail form page whose submissions are delivered to Salesforce."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel, MultiFieldPanel
from wagtail.models import Site

from wagtail_salesforce.admin.editor_panel import SalesforceMappingPanel
from wagtail_salesforce.config import ConfigError, FormMapping, get_config
from wagtail_salesforce.config.constraints import FieldRules, cached_rules, normalise_text
from wagtail_salesforce.core.signals import submission_received

from . import spam, verification
from .constraints import apply_rules
from .mapping_field import MappingSelect, validate_mapping_key

VERIFICATION_FIELD = "salesforce_verification"


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

    def salesforce_form_mapping(self) -> FormMapping | None:
        """The chosen mapping, or None (none chosen, or the YAML cannot be loaded: the system
        checks report that, and the form still accepts)."""
        if not self.salesforce_mapping:
            return None
        try:
            return get_config().forms.get(self.salesforce_mapping)
        except ConfigError:
            return None

    def salesforce_field_rules(self) -> dict[str, FieldRules]:
        """What the org's cached describe says about each form field (no Salesforce call)."""
        mapping = self.salesforce_form_mapping()
        if mapping is None:
            return {}
        return cached_rules(self._salesforce_site_id(), mapping)

    def get_form(self, *args: Any, **kwargs: Any) -> Any:
        rules = self.salesforce_field_rules()
        if args and args[0] is not None and hasattr(args[0], "copy"):
            # Normalise before anything else: validation, storage and delivery see one spelling.
            data = args[0].copy()
            for name, rule in rules.items():
                if rule.normalise and name in data:
                    data.setlist(name, [normalise_text(value) for value in data.getlist(name)])
            args = (data, *args[1:])
        form = super().get_form(*args, **kwargs)  # type: ignore[misc]
        if self.salesforce_mapping:
            apply_rules(form, rules)
            spam.add_spam_fields(form, int(self.pk))
            backend = verification.configured_backend()
            if (
                backend is not None
                and spam.SpamLimits.for_mapping(self.salesforce_form_mapping()).verification
            ):
                form.fields[VERIFICATION_FIELD] = forms.CharField(
                    required=False, label="", widget=backend.widget()
                )
        return form

    def salesforce_held_reason(self, form: Any) -> str:
        """Why this submission is held as suspected spam, or "" to queue it for delivery."""
        data = form.cleaned_data
        mapping = self.salesforce_form_mapping()
        limits = spam.SpamLimits.for_mapping(mapping)
        if data.get(spam.honeypot_name()):
            return spam.HeldReason.HONEYPOT
        token = str(data.get(spam.FILL_TOKEN_FIELD) or "")
        reason = spam.fill_time_reason(token, int(self.pk), limits.min_fill_seconds)
        if reason:
            return reason
        request = getattr(self, "_salesforce_request", None)
        visible = {k: v for k, v in data.items() if k not in spam.spam_field_names()}
        if spam.is_duplicate(self.salesforce_mapping, visible, limits):
            return spam.HeldReason.DUPLICATE
        client = spam.client_address(request) if request is not None else ""
        backend = verification.configured_backend() if limits.verification else None
        if backend is not None:
            token = str(request.POST.get(backend.response_field, "")) if request else ""
            try:
                if not backend.verify(token, client):
                    return spam.HeldReason.VERIFICATION_FAILED
            except verification.VerificationUnavailable:
                return spam.HeldReason.VERIFICATION_UNAVAILABLE
        if spam.over_rate_limit(client, self.salesforce_mapping, limits):
            return spam.HeldReason.RATE_LIMITED
        return ""

    def process_form_submission(self, form: Any) -> Any:
        # The submission and its outbox entry commit together, or neither does. Email (from
        # EmailFormMixin) is sent after the commit: a slow or failing mail server must neither
        # hold the transaction open nor roll the submission back.
        held_reason = ""
        if self.salesforce_mapping and hasattr(form, "cleaned_data"):
            held_reason = self.salesforce_held_reason(form)
            for name in (*spam.spam_field_names(), VERIFICATION_FIELD):
                form.cleaned_data.pop(name, None)
        self._salesforce_held_reason = held_reason
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
            held_reason=getattr(self, "_salesforce_held_reason", ""),
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
