"""Durable delivery of form submissions to Salesforce (model, delivery service, sweeper).

Import the service from :mod:`wagtail_salesforce.outbox.delivery`; this package's ``__init__``
stays import-light so ``models.py`` can import the model at app loading time.
"""
