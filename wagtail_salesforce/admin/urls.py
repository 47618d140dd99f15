"""Every admin URL of the plugin, mounted at ``/admin/salesforce/`` under the one namespace
``wagtail_salesforce`` by the ``register_admin_urls`` hook (``wagtail_hooks.py``).

The OAuth callback's path is part of the connected app's set-up: keep ``oauth/callback/``.
"""

from django.urls import path

from . import corrections, outbox, people
from .connection import views as connection
from .sync import leads, runs, segments

app_name = "wagtail_salesforce"

urlpatterns = [
    # Settings → Salesforce
    path("", connection.settings_index, name="index"),
    path("site/<int:site_id>/", connection.settings_edit, name="edit"),
    path("site/<int:site_id>/connect/", connection.connect, name="connect"),
    path("site/<int:site_id>/test/", connection.test_connection, name="test_connection"),
    path("site/<int:site_id>/disconnect/", connection.disconnect, name="disconnect"),
    path("oauth/callback/", connection.oauth_callback, name="oauth_callback"),
    # Reports → Salesforce outbox
    path("outbox/", outbox.OutboxReportView.as_view(), name="outbox"),
    path(
        "outbox/results/",
        outbox.OutboxReportView.as_view(results_only=True),
        name="outbox_results",
    ),
    path("outbox/retry/", outbox.retry_view, name="outbox_retry"),
    path("outbox/deliver-held/", outbox.deliver_held_view, name="outbox_deliver_held"),
    path(
        "outbox/<int:entry_id>/correct/",
        corrections.CorrectionView.as_view(),
        name="outbox_correct",
    ),
    # Leads, segments, sync runs
    path("leads/", leads.LeadIndexView.as_view(), name="leads"),
    path("leads/results/", leads.LeadIndexView.as_view(results_only=True), name="leads_results"),
    path("leads/<int:lead_id>/", leads.lead_edit, name="lead_edit"),
    path("leads/new/<int:site_id>/", leads.lead_create, name="lead_create"),
    path("segments/", segments.SegmentIndexView.as_view(), name="segments"),
    path(
        "segments/results/",
        segments.SegmentIndexView.as_view(results_only=True),
        name="segments_results",
    ),
    path("segments/save/", segments.segment_save, name="segment_save"),
    path(
        "segments/<int:segment_id>/export/",
        leads.SegmentExportView.as_view(),
        name="segment_export",
    ),
    path("segments/<int:pk>/delete/", segments.SegmentDeleteView.as_view(), name="segment_delete"),
    path("sync-runs/", runs.SyncRunIndexView.as_view(), name="sync_runs"),
    path(
        "sync-runs/results/",
        runs.SyncRunIndexView.as_view(results_only=True),
        name="sync_runs_results",
    ),
    path("sync-runs/sync-now/<int:site_id>/", runs.sync_now, name="sync_now"),
    # Settings → Personal data requests
    path("people/", people.person_requests, name="people"),
    path("people/export/", people.person_export, name="people_export"),
    path("people/erase/", people.person_erase, name="people_erase"),
]
