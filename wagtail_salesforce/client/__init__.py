"""The one door to Salesforce: everything that speaks HTTP to an org goes through here.

``SalesforceClient(credentials)`` builds a client for any object satisfying the
:class:`Credentials` protocol (tests, scripts); for a Wagtail site's stored connection use
``wagtail_salesforce.connection.credentials.client_for(site)``. The client knows nothing of
Django models or connections.

Modules, each importing only those listed after it: :mod:`.operations` (``SalesforceClient``:
REST CRUD, queries, composite, collections, describes), :mod:`.bulk` (Bulk API 2.0 ingest),
:mod:`.results` (per-record results), :mod:`.transport` (session, TLS, retries, error mapping,
call counting), :mod:`.budget` (the API budget each call is checked against, and the
priority calls run at), :mod:`.validation` and :mod:`.soql` (names, Ids and SOQL literals).
"""

from __future__ import annotations

from .budget import (
    DELIVERY,
    PROBE,
    SYNC,
    ApiBudget,
    BudgetState,
    Stage,
    api_priority,
    budget_state,
    bulk_threshold,
)
from .bulk import BULK_OPERATIONS, BulkOperation
from .operations import (
    COLLECTION_CHUNK_SIZE,
    COMPOSITE_MAX_COLLECTIONS,
    COMPOSITE_MAX_QUERIES,
    CollectionOperation,
    CollectionWrite,
    SalesforceClient,
    clear_describe_cache,
    collection_reference,
)
from .results import RecordResult, UpsertResult
from .soql import soql_field_list, soql_identifier, soql_in_batches, soql_quote
from .transport import Credentials, Transport, parse_limit_info

__all__ = [
    "DELIVERY",
    "PROBE",
    "SYNC",
    "ApiBudget",
    "BudgetState",
    "Stage",
    "api_priority",
    "budget_state",
    "bulk_threshold",
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
    "Transport",
    "UpsertResult",
    "clear_describe_cache",
    "collection_reference",
    "parse_limit_info",
    "soql_field_list",
    "soql_identifier",
    "soql_in_batches",
    "soql_quote",
]
