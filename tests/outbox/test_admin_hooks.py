"""The outbox's hooks, registered in the app's wagtail_hooks.py: URLs, menu item, permission and
log action."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse
from wagtail.log_actions import LogActionRegistry

from wagtail_salesforce import wagtail_hooks


def test_the_report_and_retry_are_mounted_under_salesforce_outbox() -> None:
    assert reverse("wagtail_salesforce:outbox") == "/admin/salesforce/outbox/"
    assert reverse("wagtail_salesforce:outbox_results") == "/admin/salesforce/outbox/results/"
    assert reverse("wagtail_salesforce:outbox_retry") == "/admin/salesforce/outbox/retry/"


def test_the_reports_menu_item_is_shown_only_to_users_who_may_view_the_outbox(
    db: None, django_user_model: Any
) -> None:
    item = wagtail_hooks.register_outbox_menu_item()
    request = RequestFactory().get("/admin/")
    request.user = django_user_model.objects.create_user("plain", "plain@example.com", "pw")
    assert item.url == "/admin/salesforce/outbox/"
    assert not item.is_shown(request)

    view_outbox = Permission.objects.get(codename="view_outboxentry")
    assert view_outbox in wagtail_hooks.register_permissions()
    request.user.user_permissions.add(view_outbox)
    request.user = django_user_model.objects.get(pk=request.user.pk)  # drop the perm cache
    assert item.is_shown(request)


def test_the_retry_log_action_is_registered_with_a_label() -> None:
    registry = LogActionRegistry()
    registry.has_scanned_for_actions = True  # only what this hook registers
    wagtail_hooks.register_log_actions(registry)

    assert registry.action_exists("wagtail_salesforce.retry")
