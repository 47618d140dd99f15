"""Which hosts a login URL may name: the consumer secret is only ever sent to one of them.

Salesforce's documented login hosts (``login.salesforce.com``, ``test.salesforce.com``) and My
Domain login hosts (``NAME.my.salesforce.com`` and the partitioned forms
``NAME.PARTITION.my.salesforce.com``), over HTTPS on the default port; plus the hosts an
operator lists in ``WAGTAIL_SALESFORCE["ALLOWED_LOGIN_HOSTS"]``. The panel's form, the system
check and every OAuth request (:mod:`.oauth`) apply the same rule, so a row edited in the
database cannot send the secret elsewhere either.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from wagtail_salesforce import conf
from wagtail_salesforce.exceptions import OAuthError

SALESFORCE_LOGIN_HOSTS = frozenset({"login.salesforce.com", "test.salesforce.com"})
# My Domain partitions Salesforce documents for customer orgs (OrgDomainLog.DomainPartition);
# "free", "sfdctest" and "sfrestore" are reserved for Salesforce's internal use.
MY_DOMAIN_PARTITIONS = frozenset({"sandbox", "develop", "patch", "scratch", "demo", "trailblaze"})
MY_DOMAIN_PATTERN = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.(?P<partition>[a-z]+))?\.my\.salesforce\.com$"
)
ENTRY_PATTERN = re.compile(
    r"^(?P<host>(?:\*\.)?[a-z0-9.-]+|\[[0-9a-f:.]+\]|[0-9a-f:]+:[0-9a-f:.]*)(?::(?P<port>\d+))?$"
)


class LoginHostNotAllowed(OAuthError):
    """A login URL names a host the consumer secret must not be sent to."""

    def __init__(self, login_url: str) -> None:
        parts = urlsplit(login_url)
        super().__init__(
            "login_host_not_allowed",
            f"{parts.scheme}://{parts.netloc} is not a Salesforce login host nor listed in "
            f"{conf.SETTINGS_NAME}['ALLOWED_LOGIN_HOSTS']",
        )


def is_loopback_host(hostname: str | None) -> bool:
    """localhost, 127.0.0.0/8 and ::1: where plain HTTP is acceptable for development."""
    if not hostname:
        return False
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def is_salesforce_login_host(hostname: str) -> bool:
    if hostname in SALESFORCE_LOGIN_HOSTS:
        return True
    match = MY_DOMAIN_PATTERN.match(hostname)
    return match is not None and match["partition"] in (None, *MY_DOMAIN_PARTITIONS)


@dataclass(frozen=True)
class AllowedHost:
    """One ``ALLOWED_LOGIN_HOSTS`` entry: a host (``*.`` for its subdomains), any port or one."""

    host: str
    port: int | None

    @classmethod
    def parse(cls, entry: str) -> AllowedHost | None:
        match = ENTRY_PATTERN.match(entry.strip().lower())
        if not match:
            return None
        host = match["host"].strip("[]")
        return cls(host, int(match["port"]) if match["port"] else None)

    def matches(self, hostname: str, port: int | None) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host.startswith("*."):
            return hostname.endswith(self.host[1:])
        return hostname == self.host


def invalid_allowed_entries() -> list[str]:
    """Entries of ``ALLOWED_LOGIN_HOSTS`` that are not a host, ``host:port`` or ``*.domain``."""
    entries = conf.get("ALLOWED_LOGIN_HOSTS")
    if not isinstance(entries, list | tuple):
        return []  # the type check (E001) reports it
    return [str(e) for e in entries if not isinstance(e, str) or AllowedHost.parse(e) is None]


def _allowed_hosts() -> list[AllowedHost]:
    entries = conf.get("ALLOWED_LOGIN_HOSTS")
    if not isinstance(entries, list | tuple):
        return []
    return [h for e in entries if isinstance(e, str) and (h := AllowedHost.parse(e)) is not None]


def is_allowed_login_url(url: str) -> bool:
    """Whether the consumer secret may be sent to ``url`` (scheme, host and port only)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    hostname = (parts.hostname or "").lower()
    if not hostname or parts.username is not None or parts.password is not None:
        return False
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(hostname)):
        return False
    if is_salesforce_login_host(hostname) and parts.scheme == "https" and port in (None, 443):
        return True
    return any(host.matches(hostname, port) for host in _allowed_hosts())


def require_allowed_login_url(url: str) -> None:
    """Raise :class:`LoginHostNotAllowed` unless :func:`is_allowed_login_url`."""
    if not is_allowed_login_url(url):
        raise LoginHostNotAllowed(url)
