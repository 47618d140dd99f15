"""Admin URLs of the outbox; included under ``salesforce/outbox/`` with the namespace
``wagtail_salesforce_outbox`` (see the ``register_admin_urls`` hook)."""

from django.urls import path

from . import views

app_name = "wagtail_salesforce_outbox"

urlpatterns = [
    path("", views.OutboxReportView.as_view(), name="index"),
    path("results/", views.OutboxReportView.as_view(results_only=True), name="index_results"),
    path("retry/", views.retry_view, name="retry"),
]
