"""Mounted by ``register_admin_urls`` under ``/admin/salesforce/``."""

from django.urls import path

from . import views

app_name = "wagtail_salesforce"

urlpatterns = [
    path("", views.settings_index, name="index"),
    path("site/<int:site_id>/", views.settings_edit, name="edit"),
    path("site/<int:site_id>/connect/", views.connect, name="connect"),
    path("site/<int:site_id>/test/", views.test_connection, name="test_connection"),
    path("site/<int:site_id>/disconnect/", views.disconnect, name="disconnect"),
    path("oauth/callback/", views.oauth_callback, name="oauth_callback"),
]
