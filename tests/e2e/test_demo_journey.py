"""The demo's promise, end to end in Chromium: `example_site/demo.py` (sandbox, runserver, a
django-q2 cluster on the ORM broker and SQLite) is connected from the admin as its banner says, a
visitor submits the landing-page form, and the Lead shows in the sandbox's record browser and as
delivered in the outbox report."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.example_site.demo_process import BANNER_END, start_demo

pytestmark = pytest.mark.browser

# How long the Lead may take to appear: the cluster polls its queue every 0.5 s, so it is there
# within a few seconds; the bound only keeps a broken demo from hanging the suite.
# 45 characters at 90 ms each: about 4 s, as a person types.
TYPING_DELAY_MS = 90
DELIVERY_DEADLINE_SECONDS = 60


def _fact(banner: str, label: str) -> str:
    match = re.search(rf"^\s*{re.escape(label)}:\s+(.+)$", banner, re.MULTILINE)
    assert match, f"{label!r} is missing from the banner:\n{banner}"
    return match.group(1).strip()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, str]]:
    started = start_demo(tmp_path / "state")
    process, banner = started.process, started.banner
    try:
        assert BANNER_END in banner, banner
        admin_user, admin_password = _fact(banner, "Admin login").split(" / ")
        sandbox_user, sandbox_password = _fact(banner, "Sandbox login").split(" / ")
        yield {
            "site": _fact(banner, "Site").rstrip("/"),
            "admin_user": admin_user,
            "admin_password": admin_password,
            "login_url": _fact(banner, "Login URL"),
            "consumer_key": _fact(banner, "Consumer key"),
            "consumer_secret": _fact(banner, "Consumer secret"),
            "sandbox_user": sandbox_user,
            "sandbox_password": sandbox_password,
        }
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _goto_when_up(page: Any, url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            page.goto(url)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # runserver is still binding its port; poll until the deadline


def test_the_demo_delivers_a_landing_page_submission_to_the_sandbox(
    browser_page: Any, demo: dict[str, str]
) -> None:
    page, site = browser_page, demo["site"]

    # The editor connects the site, as the banner tells them to.
    _goto_when_up(page, site + "/admin/login/")
    page.fill("#id_username", demo["admin_user"])
    page.fill("#id_password", demo["admin_password"])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))
    page.goto(site + "/admin/salesforce/")
    page.fill("#id_login_url", demo["login_url"])
    page.fill("#id_consumer_key", demo["consumer_key"])
    page.fill("#id_consumer_secret", demo["consumer_secret"])
    page.click("#salesforce-save")
    page.wait_for_selector("text=Salesforce settings saved.")
    page.click("#salesforce-connect")
    page.wait_for_url(demo["login_url"] + "/**")
    page.fill("#username", demo["sandbox_user"])
    page.fill("#password", demo["sandbox_password"])
    page.click("#Login")
    page.click("#oaapprove")
    page.wait_for_selector("[data-status=connected]")

    # A visitor types into the landing-page form at a person's pace (the form holds a form
    # filled faster than SPAM_MIN_FILL_SECONDS as suspected spam) and submits it.
    page.goto(site + "/contact-us/")
    for selector, text in (
        ("#id_email", "demo-visitor@example.com"),
        ("#id_first_name", "Demo"),
        ("#id_last_name", "Visitor"),
        ("#id_company", "Example Co"),
    ):
        page.locator(selector).press_sequentially(text, delay=TYPING_DELAY_MS)
    page.click("#lead-form button[type=submit]")
    page.wait_for_selector("#thank-you")

    # The cluster delivers it: the Lead is in the sandbox's record browser.
    deadline = time.monotonic() + DELIVERY_DEADLINE_SECONDS
    while True:
        page.goto(demo["login_url"] + "/browse/Lead")
        if page.locator("td", has_text="demo-visitor@example.com").count():
            break
        assert time.monotonic() < deadline, "the submission never reached the sandbox"
        time.sleep(0.5)  # delivery runs in the demo's cluster; poll the browser until the deadline
    page.locator("tr", has_text="demo-visitor@example.com").locator("a").first.click()
    record_url = page.url
    record = page.inner_text("body")
    assert "Visitor" in record and "Example Co" in record

    # The editor sees it delivered, linked to that record: {instance_url}/{Id}, which the
    # sandbox answers as an org does, with the record's page.
    page.goto(site + "/admin/salesforce/outbox/?state=delivered")
    [lead_id] = re.findall(r"/browse/Lead/(\w+)$", record_url)
    entry_row = page.locator("tr[data-state=delivered]")
    assert entry_row.count() == 1
    href = str(entry_row.locator("a", has_text=lead_id).get_attribute("href"))
    assert href.endswith(f"/{lead_id}") and "/browse/" not in href
    page.goto(href)
    assert page.url == record_url
