"""Django finds the app's models here; they live in their concern's package."""

from wagtail_salesforce.config.metadata import CachedDescribe  # noqa: F401
from wagtail_salesforce.connection.models import (  # noqa: F401
    ApiUsageDaily,
    ConnectionStatus,
    SalesforceConnection,
)
from wagtail_salesforce.heartbeat import ClusterHeartbeat  # noqa: F401
from wagtail_salesforce.outbox.models import OutboxEntry, OutboxState  # noqa: F401
from wagtail_salesforce.sync.models import (  # noqa: F401
    Lead,
    Segment,
    SyncConflict,
    SyncLease,
    SyncRun,
    SyncState,
)
