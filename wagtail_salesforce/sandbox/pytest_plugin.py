"""pytest plugin: the ``salesforce_sandbox`` fixture (filled in by the sandbox server work)."""
