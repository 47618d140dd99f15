"""Which Wagtail Site an admin screen is about (every plugin screen is per site)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import cached_property
from wagtail.models import Site


def default_site() -> Site | None:
    """The default site, else the first one (where new rows are filed when none is chosen)."""
    return Site.objects.order_by("-is_default_site", "pk").first()


def request_site(request: HttpRequest) -> Site | None:
    """The site whose admin this request came through, else the default one."""
    return Site.find_for_request(request) or default_site()


class SiteFilterMixin:
    """For a listing whose filter drawer has a ``site`` filter: the site it shows."""

    filters: Any

    @cached_property
    def current_site(self) -> Site | None:
        """The site the drawer filters on, else the default one (where "Add" and "Save as
        segment" file new rows)."""
        filters = self.filters
        if filters is not None and filters.is_valid() and filters.form.cleaned_data.get("site"):
            site: Site = filters.form.cleaned_data["site"]
            return site
        return default_site()
