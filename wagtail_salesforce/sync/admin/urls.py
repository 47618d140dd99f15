"""Mounted under ``/admin/salesforce/sync/`` by the ``register_admin_urls`` hook in
``hooks.py`` (namespace ``wagtail_salesforce_sync``)."""

from django.urls import path

from . import views

app_name = "wagtail_salesforce_sync"

urlpatterns = [
    path("", views.index, name="index"),
    path("site/<int:site_id>/leads/", views.lead_list, name="leads"),
    path("site/<int:site_id>/leads/new/", views.lead_create, name="create"),
    path("site/<int:site_id>/leads/<int:lead_id>/", views.lead_edit, name="edit"),
    path("site/<int:site_id>/leads/export.csv", views.export_filter, name="export"),
    path("site/<int:site_id>/segments/", views.segment_list, name="segments"),
    path("site/<int:site_id>/segments/save/", views.segment_save, name="segment_save"),
    path(
        "site/<int:site_id>/segments/<int:segment_id>/export.csv",
        views.segment_export,
        name="segment_export",
    ),
    path(
        "site/<int:site_id>/segments/<int:segment_id>/delete/",
        views.segment_delete,
        name="segment_delete",
    ),
    path("site/<int:site_id>/runs/", views.run_list, name="runs"),
    path("site/<int:site_id>/runs/sync-now/", views.sync_now, name="sync_now"),
]
