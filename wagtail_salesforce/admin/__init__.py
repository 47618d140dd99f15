"""Wagtail admin: the Settings → Salesforce panel and its OAuth views."""
