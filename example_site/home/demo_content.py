"""The example site's content: a home page and a landing page with a lead form.

Used by ``manage.py setup_demo`` and by tests; idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

from wagtail.models import Page, Site

from .models import FormField, HomePage, LandingPage

LANDING_FORM_FIELDS: tuple[tuple[str, str, bool], ...] = (
    # (label, field type, required); clean names derive from labels: "Email" -> "email".
    ("Email", "email", True),
    ("First name", "singleline", False),
    ("Last name", "singleline", True),
    ("Company", "singleline", False),
    ("Message", "multiline", False),
)
# The form mapping in example_site/salesforce.yaml that the landing page delivers to.
LANDING_SALESFORCE_MAPPING = "landing-lead"


@dataclass(frozen=True)
class DemoContent:
    site: Site
    home: HomePage
    landing: LandingPage


def build_demo_content(hostname: str = "127.0.0.1", port: int = 8000) -> DemoContent:
    root = Page.get_first_root_node()
    home = HomePage.objects.first()
    if home is None:
        home = root.add_child(
            instance=HomePage(
                title="wagtail-salesforce example",
                slug="home-example",
                intro="<p>A landing page whose form sends leads to Salesforce.</p>",
            )
        )
    site = Site.objects.filter(is_default_site=True).first()
    if site is None:
        site = Site(is_default_site=True)
    site.hostname, site.port, site.root_page, site.site_name = hostname, port, home, "Example"
    site.save()
    # Wagtail's initial "Welcome" page is of the plain Page type; remove it once ours is the root.
    Page.objects.filter(depth=2, content_type__model="page").delete()

    landing = LandingPage.objects.filter(slug="contact-us").first()
    if landing is None:
        landing = home.add_child(
            instance=LandingPage(
                title="Contact us",
                slug="contact-us",
                intro="<p>Tell us about your project and we will get back to you.</p>",
                thank_you_text="<p>Thank you! We received your message.</p>",
                salesforce_mapping=LANDING_SALESFORCE_MAPPING,
            )
        )
        for order, (label, field_type, required) in enumerate(LANDING_FORM_FIELDS):
            FormField.objects.create(
                page=landing, sort_order=order, label=label, field_type=field_type,
                required=required,
            )
    elif not landing.salesforce_mapping:
        # A landing page made before the plugin's forms landed: select the demo mapping.
        landing.salesforce_mapping = LANDING_SALESFORCE_MAPPING
        landing.save(update_fields=["salesforce_mapping"])
    return DemoContent(site=site, home=home.specific, landing=landing.specific)
