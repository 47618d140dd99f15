"""Leads, segments and sync runs: Wagtail listings over the sync's models."""
