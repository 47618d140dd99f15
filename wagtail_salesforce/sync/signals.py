"""Extension points of the sync.

``pre_push(sender=Lead, site, sobject, operation, records, leads)``
    Just before records are sent (``operation`` is ``"create"`` or ``"update"``). ``records`` are
    the Salesforce payloads (dicts, one per lead in ``leads``); receivers may change them in place
    (add a field, reformat a value) but must not add or remove records.
``post_pull(sender=Lead, site, sobject, leads)``
    After a batch of pulled records has been stored; ``leads`` are the local leads it created or
    changed.
``leads_merged(sender=Lead, site, kept, merged)``
    A merge in Salesforce made two local leads one person: ``merged`` is about to be deleted
    (in the pull's transaction) and ``kept`` carries on. Rows with a foreign key to the lead are
    already moved to ``kept``; a receiver folds in anything else it keeps about ``merged``.
"""

from __future__ import annotations

from django.dispatch import Signal

pre_push = Signal()
post_pull = Signal()
leads_merged = Signal()
