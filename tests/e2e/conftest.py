"""Browser tests: Debian's Chromium driven by Playwright's sync API against ``live_server``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sync.conftest import SYNC_YAML

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test
# itself (fixtures, assertions) would otherwise be refused as "async unsafe".
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    # Module scope: only one sync_playwright() may run at a time, and other modules start their own.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[Any]:
    # The sandbox's API host serves HTTPS with a certificate of its own throwaway CA; record
    # links ({instance_url}/{Id}) open there before it redirects to its record browser.
    context = chromium.new_context(locale="en-GB", ignore_https_errors=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def sync_yaml(tmp_path: Path, settings: Any) -> Path:
    """The sync tests' YAML as the site's only config file (for the Leads screens)."""
    path = tmp_path / "salesforce.yaml"
    path.write_text(SYNC_YAML, encoding="utf-8")
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(path)]}
    return path


# The password of every admin user the browser tests create.
PASSWORD = "correct-horse-battery"


def log_in(page: Any, live_server: Any, username: str) -> Any:
    """Log ``username`` in to the Wagtail admin on ``page``; returns the page, on the dashboard."""
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))
    return page


def new_page(
    chromium: Any,
    *,
    locale: str = "en-GB",
    accept_downloads: bool = False,
    viewport: dict[str, int] | None = None,
) -> Any:
    """A page in a context of its own (its own cookies: one user each). A tall ``viewport``
    gets a whole admin screen into one screenshot (the admin scrolls inside its own layout)."""
    options: dict[str, Any] = {"locale": locale, "accept_downloads": accept_downloads}
    if viewport is not None:
        options["viewport"] = viewport
    context = chromium.new_context(**options)
    context.set_default_timeout(15_000)
    return context.new_page()


def group_member(
    django_user_model: Any,
    username: str,
    group_name: str,
    codenames: list[str],
    *,
    language: str | None = None,
) -> Any:
    """An admin user in ``group_name``, whose permissions are Wagtail admin access and the
    plugin's ``codenames``; ``language``: the user's preferred admin language."""
    from django.contrib.auth.models import Group, Permission
    from wagtail.users.models import UserProfile

    user = django_user_model.objects.create_user(username, f"{username}@example.com", PASSWORD)
    group, _created = Group.objects.get_or_create(name=group_name)
    group.permissions.add(
        Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"),
        *Permission.objects.filter(
            content_type__app_label="wagtail_salesforce", codename__in=codenames
        ),
    )
    user.groups.add(group)
    if language is not None:
        profile = UserProfile.get_for_user(user)
        profile.preferred_language = language
        profile.save()
    return user


def listed_leads(page: Any) -> list[str]:
    """The emails the Leads listing shows, in order."""
    return [
        cell.strip()
        for cell in page.locator(
            "#listing-results tbody tr a[href*='/admin/salesforce/leads/']"
        ).all_inner_texts()
    ]
