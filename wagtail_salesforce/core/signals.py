"""What the pipelines announce. They never import one another: they send and receive these.

``submission_received(sender=<page class>, page, submission, form_data, mapping_key, site_id,
held_reason)``
    Sent by a Salesforce form page inside the visitor's transaction, right after the
    ``FormSubmission`` is saved (``submission`` is None when the page does not store
    submissions; ``form_data`` is then the cleaned data). The outbox's receiver writes the
    outbox entry in that same transaction, so the submission and its entry commit together or
    not at all: a receiver that raises rolls the submission back, and the visitor sees an error
    rather than a lost lead. ``held_reason`` is "" or why the form's spam checks held the
    submission: it is then stored, and delivered only when an editor releases it.
``submission_delivered(sender=<outbox entry class>, entry_id, site_id, mapping_key, form_data,
sobject, record_id, action, email, values, page_id, submitted_at)``
    Sent by the outbox after an entry's delivery is committed: ``sobject`` and ``record_id``
    name the Salesforce record written (``action`` is ``"created"`` or ``"updated"``),
    ``values`` are the mapped field values sent and ``email`` the submission's normalised
    email ("" without one); ``page_id`` and ``submitted_at`` say where and when the visitor
    sent it (the time consent given on the form counts from). The sync's receivers upsert the
    site's local lead and record the consent its form's checkboxes gave. Receivers run
    outside any transaction; the outbox logs (and otherwise ignores) a receiver's failure: the
    entry stays delivered.
"""

from __future__ import annotations

from django.dispatch import Signal

submission_received = Signal()
submission_delivered = Signal()
