"""Every admin screen of the plugin, mounted under one URL namespace ``wagtail_salesforce``.

``connection/`` the Settings → Salesforce panel; ``outbox`` the delivery report; ``sync/`` leads,
segments and sync runs; ``health_panel`` the dashboard; ``editor_panel`` and ``submissions`` what
form pages show in the editor. ``wagtail_hooks.py`` registers them all.
"""
