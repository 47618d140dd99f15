"""The one door to Salesforce: everything that speaks HTTP to an org goes through here.

``client_for(site)`` is the usual entry point; ``SalesforceClient(credentials)`` builds a client
for any object satisfying the :class:`Credentials` protocol (tests, scripts).
"""

from __future__ import annotations

from typing import Any

from .bulk import BULK_OPERATIONS, BulkOperation
from .client import (
    COLLECTION_CHUNK_SIZE,
    COMPOSITE_MAX_COLLECTIONS,
    COMPOSITE_MAX_QUERIES,
    CollectionOperation,
    CollectionWrite,
    Credentials,
    RecordResult,
    SalesforceClient,
    UpsertResult,
    clear_describe_cache,
)
from .http import parse_limit_info
from .soql import soql_field_list, soql_identifier, soql_in_batches, soql_quote

__all__ = [
    "BULK_OPERATIONS",
    "BulkOperation",
    "COLLECTION_CHUNK_SIZE",
    "COMPOSITE_MAX_COLLECTIONS",
    "COMPOSITE_MAX_QUERIES",
    "CollectionOperation",
    "CollectionWrite",
    "Credentials",
    "RecordResult",
    "SalesforceClient",
    "UpsertResult",
    "clear_describe_cache",
    "client_for",
    "parse_limit_info",
    "soql_field_list",
    "soql_identifier",
    "soql_in_batches",
    "soql_quote",
]


def client_for(site: Any) -> SalesforceClient:
    """A client for ``site``'s Salesforce connection.

    Raises ``NotConnected`` (or ``ReauthorizationRequired``) when the site has no usable
    connection. If the credentials have a ``record_api_calls(count)`` method it becomes the
    client's ``on_api_call`` hook (the per-connection, per-day API-call counter). The
    connection module is imported here, not at import time, so the client has no
    dependency on Django models until it is used this way.
    """
    from wagtail_salesforce.connection.credentials import credentials_for

    credentials = credentials_for(site)
    # The connection's per-day counter, when it offers one, counts every call as it happens.
    counter = getattr(credentials, "record_api_calls", None)
    return SalesforceClient(credentials, on_api_call=counter if callable(counter) else None)
