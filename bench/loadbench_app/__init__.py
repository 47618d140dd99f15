"""A bench-only Django app: a plain Wagtail form page (no Salesforce mixin) for the load bench's
baseline. Not part of the example site; added to INSTALLED_APPS by ``settings.py`` here only."""
