"""Bulk action on the Leads listing: send the selected leads again in the next sync (after a
push error, say), through Wagtail's bulk-action framework (``register_bulk_action``)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy, ngettext
from wagtail.admin.views.bulk_action import BulkAction
from wagtail.log_actions import log

from wagtail_salesforce.sync.models import Lead

from ..permissions import leads_policy

SEND_IN_NEXT_SYNC_ACTION = "wagtail_salesforce.send_in_next_sync"


class SendInNextSyncBulkAction(BulkAction):
    display_name = gettext_lazy("Send in the next sync")
    action_type = "send_in_next_sync"
    aria_label = gettext_lazy("Send the selected leads to Salesforce in the next sync")
    template_name = "wagtail_salesforce/sync/confirm_bulk_send.html"
    models = [Lead]
    action_priority = 10

    def check_perm(self, obj: Lead) -> bool:
        return leads_policy.user_has_permission(self.request.user, "edit")

    def get_execution_context(self) -> dict[str, Any]:
        return {"user": self.request.user}

    def object_context(self, obj: Lead) -> dict[str, Any]:
        return {"item": obj, "edit_url": reverse("wagtail_salesforce:lead_edit", args=[obj.pk])}

    def get_all_objects_in_listing_query(self, parent_id: Any) -> QuerySet[Lead, int]:
        return Lead.objects.values_list("pk", flat=True)

    @classmethod
    def execute_action(
        cls, objects: list[Lead], user: Any = None, **kwargs: Any
    ) -> tuple[int, int]:
        # The push sends what each lead holds; a failed push left ``needs_push`` off.
        count = Lead.objects.filter(pk__in=[lead.pk for lead in objects]).update(needs_push=True)
        for lead in objects:
            log(instance=lead, action=SEND_IN_NEXT_SYNC_ACTION, user=user)
        return count, 0

    def get_success_message(self, num_parent_objects: int, num_child_objects: int) -> str:
        return ngettext(
            "%(count)d lead will be sent in the next sync.",
            "%(count)d leads will be sent in the next sync.",
            num_parent_objects,
        ) % {"count": num_parent_objects}
