"""Shared fixtures. The ``salesforce_sandbox`` fixture comes from the package's pytest plugin."""

pytest_plugins = ["tests.services"]
