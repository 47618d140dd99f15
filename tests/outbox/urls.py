"""The example site's URLs plus the outbox admin views (as the ``register_admin_urls`` hook
mounts them), so the admin tests do not depend on the hook being wired."""

from django.urls import include, path
from example_site.urls import urlpatterns as site_urlpatterns

from wagtail_salesforce.outbox import admin_urls

urlpatterns = [
    path("admin/salesforce/outbox/", include(admin_urls, namespace="wagtail_salesforce_outbox")),
    *site_urlpatterns,
]
