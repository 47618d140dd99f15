"""People's data on request: find everything the plugin holds about one person by email, export
it (access requests) and erase it (erasure requests).

A consumer like the admin: it reads the sync's leads, the outbox and Wagtail's form submissions
and may call Salesforce through the client; nothing in the pipelines imports it.
"""
