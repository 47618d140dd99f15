"""Wagtail admin for the sync: leads (list, filter, edit), segments, sync runs."""
