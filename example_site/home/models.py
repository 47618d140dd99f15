from __future__ import annotations

from django.db import models
from modelcluster.fields import ParentalKey
from wagtail.admin.panels import FieldPanel, FieldRowPanel, InlinePanel, MultiFieldPanel
from wagtail.contrib.forms.models import AbstractEmailForm, AbstractFormField
from wagtail.contrib.forms.panels import FormSubmissionsPanel
from wagtail.fields import RichTextField
from wagtail.models import Page

from wagtail_salesforce.forms.mixin import SalesforceFormMixin


class HomePage(Page):
    intro = RichTextField(blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]


class FormField(AbstractFormField):
    page = ParentalKey("LandingPage", on_delete=models.CASCADE, related_name="form_fields")


# Wagtail ships no types, so django-stubs cannot see the managers AbstractEmailForm brings.
class LandingPage(SalesforceFormMixin, AbstractEmailForm):  # type: ignore[django-manager-missing]
    """A landing page with a lead form, delivered to Salesforce by the mapping an editor picks."""

    intro = RichTextField(blank=True)
    thank_you_text = RichTextField(blank=True)

    content_panels = [
        *AbstractEmailForm.content_panels,
        FormSubmissionsPanel(),
        FieldPanel("intro"),
        InlinePanel("form_fields", label="Form fields"),
        FieldPanel("thank_you_text"),
        MultiFieldPanel(
            [
                FieldRowPanel([FieldPanel("from_address"), FieldPanel("to_address")]),
                FieldPanel("subject"),
            ],
            "Email",
        ),
        *SalesforceFormMixin.salesforce_panels,
    ]
