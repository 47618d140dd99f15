"""The form page's submissions list, with each submission's Salesforce delivery status."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from wagtail.contrib.forms.views import SubmissionsListView

from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState

from .exports import NeutralisedExportMixin


class SalesforceSubmissionsListView(NeutralisedExportMixin, SubmissionsListView):
    """Adds a "Salesforce" column: the state of each submission's outbox entry. Its CSV and
    XLSX downloads hold visitors' own words, so their cells are neutralised like every export."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        if self.is_export:
            return context
        ids = [row["model_id"] for row in context.get("data_rows", [])]
        entries = {
            entry.submission_id: entry
            for entry in OutboxEntry.objects.filter(submission_id__in=ids).only(
                "submission_id", "state", "last_error_message"
            )
        }
        labels = dict(OutboxState.choices)
        context["data_headings"] = [
            *context.get("data_headings", []),
            {"name": "salesforce_status", "label": _("Salesforce"), "order": None},
        ]
        for row in context.get("data_rows", []):
            entry = entries.get(row["model_id"])
            status: str
            if entry is None:
                status = str(_("Not sent"))
            elif entry.state == OutboxState.DEAD and entry.last_error_message:
                status = f"{labels[entry.state]}: {entry.last_error_message}"
            else:
                status = str(labels[entry.state])
            row["fields"] = [*row["fields"], status]
        return context
