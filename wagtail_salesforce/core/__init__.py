"""Mechanisms every part of the plugin shares, and nothing else.

``lease``
    one lease on any row: a conditional UPDATE of an owner token and an expiry.
``backoff``
    the one retry delay: exponential with full jitter.
``schedules``
    django-q2 schedules registered by name, exactly one row each.
``signals``
    what the pipelines announce (a form submitted, a submission delivered); the pipelines
    listen to each other only through these.

The core imports Django, django-q2 and :mod:`wagtail_salesforce.conf`; never another part of the
plugin.
"""
