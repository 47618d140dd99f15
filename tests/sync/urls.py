"""The example site's URLs plus the sync admin views (as the ``register_admin_urls`` hook mounts
them), so these tests do not depend on the hook being wired into wagtail_hooks.py."""

from django.urls import include, path
from example_site.urls import urlpatterns as site_urlpatterns

from wagtail_salesforce.sync.admin import urls as sync_urls

urlpatterns = [
    path("admin/salesforce/sync/", include(sync_urls, namespace="wagtail_salesforce_sync")),
    *site_urlpatterns,
]
