"""The hook functions the app's wagtail_hooks.py registers for the outbox."""

from __future__ import annotations

from typing import Any

from django.test import RequestFactory
from django.urls import URLResolver

from wagtail_salesforce.outbox import admin_hooks


def test_admin_urls_mount_the_report_under_salesforce_outbox() -> None:
    [resolver] = admin_hooks.admin_urls()

    assert isinstance(resolver, URLResolver)
    assert str(resolver.pattern) == "salesforce/outbox/"
    assert resolver.namespace == "wagtail_salesforce_outbox"
    assert {p.name for p in resolver.url_patterns} == {"index", "index_results", "retry"}


def test_the_reports_menu_item_is_shown_only_to_users_who_may_view_the_outbox(
    db: None, django_user_model: Any
) -> None:
    from django.contrib.auth.models import Permission

    item = admin_hooks.reports_menu_item()
    request = RequestFactory().get("/admin/")
    request.user = django_user_model.objects.create_user("plain", "plain@example.com", "pw")
    assert item.url == "/admin/salesforce/outbox/"
    assert not item.is_shown(request)

    request.user.user_permissions.add(*admin_hooks.permissions())
    request.user = django_user_model.objects.get(pk=request.user.pk)  # drop the perm cache
    assert item.is_shown(request)
    assert list(admin_hooks.permissions()) == [Permission.objects.get(codename="view_outbox")]


def test_the_retry_log_action_is_registered_with_a_label() -> None:
    from wagtail.log_actions import LogActionRegistry

    registry = LogActionRegistry()
    registry.has_scanned_for_actions = True  # only what this hook registers
    admin_hooks.register_log_actions(registry)

    assert registry.action_exists("wagtail_salesforce.retry")
