"""The baseline page: the example LandingPage minus ``SalesforceFormMixin``, on the same
templates, so the mixin is the only difference. Its tables come from its own (bench-only)
migration."""

from __future__ import annotations

from django.db import models
from modelcluster.fields import ParentalKey
from wagtail.contrib.forms.models import AbstractEmailForm, AbstractFormField


class PlainFormPage(AbstractEmailForm):
    template = "home/landing_page.html"
    landing_page_template = "home/landing_page_landing.html"


class PlainFormField(AbstractFormField):
    page = ParentalKey(PlainFormPage, on_delete=models.CASCADE, related_name="form_fields")
