"""Django system checks for wagtail-salesforce (ids ``wagtail_salesforce.E0xx``/``W0xx``)."""

from __future__ import annotations

import importlib
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.core import checks

from . import conf
from .config import checks as config_checks  # noqa: F401 - registers the YAML config checks
from .config.errors import did_you_mean
from .connection import login_hosts
from .forms import checks as forms_checks  # noqa: F401 - registers the proxy checks


@checks.register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Each unknown key of ``WAGTAIL_SALESFORCE`` (a misspelt key is silently ignored)."""
    messages: list[checks.CheckMessage] = []
    for key in sorted(conf.unknown_settings(), key=str):
        close = did_you_mean(key, conf.SETTINGS)
        messages.append(
            checks.Warning(
                f"Unknown {conf.SETTINGS_NAME} key {key!r}" + (f": {close}" if close else "."),
                hint=None if close else f"Known keys: {', '.join(sorted(conf.SETTINGS))}.",
                id="wagtail_salesforce.W001",
            )
        )
    return messages


@checks.register()
def check_setting_types(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Each key of ``WAGTAIL_SALESFORCE`` whose value has the wrong type."""
    messages: list[checks.CheckMessage] = []
    for problem in conf.type_problems():
        where = f"{conf.SETTINGS_NAME}[{problem.key!r}]" if problem.key else conf.SETTINGS_NAME
        messages.append(
            checks.Error(
                f"{where} is a {problem.found}; expected {problem.expected}.",
                hint="See the settings reference (docs/en/settings.md) for each key's type.",
                id="wagtail_salesforce.E001",
            )
        )
    return messages


@checks.register()
def check_login_hosts(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``ALLOWED_LOGIN_HOSTS`` entries that are not hosts, and a ``LOGIN_URL`` the secret may
    not be sent to (with ``CONSUMER_SECRET`` in settings, every site uses that URL)."""
    messages: list[checks.CheckMessage] = [
        checks.Error(
            f"{conf.SETTINGS_NAME}['ALLOWED_LOGIN_HOSTS'] has {entry!r}, which is not a host.",
            hint="List hosts as 'name', 'name:port' or '*.domain' (no scheme, no path).",
            id="wagtail_salesforce.E002",
        )
        for entry in login_hosts.invalid_allowed_entries()
    ]
    login_url = conf.get("LOGIN_URL")
    if isinstance(login_url, str) and not login_hosts.is_allowed_login_url(login_url):
        messages.append(
            checks.Error(
                f"{conf.SETTINGS_NAME}['LOGIN_URL'] is {login_url!r}, which is not an HTTPS "
                "Salesforce login host: the consumer secret is never sent there.",
                hint="Use https://login.salesforce.com, https://test.salesforce.com or your My "
                f"Domain URL, or list the host in {conf.SETTINGS_NAME}['ALLOWED_LOGIN_HOSTS'].",
                id="wagtail_salesforce.E003",
            )
        )
    return messages


@checks.register()
def check_erasure_salesforce(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``ERASURE_SALESFORCE`` names one of the choices (else the erasure screen cannot open)."""
    from .people.erasure import SalesforceChoice

    value = conf.get("ERASURE_SALESFORCE")
    if value in SalesforceChoice.values:
        return []
    return [
        checks.Error(
            f"{conf.SETTINGS_NAME}['ERASURE_SALESFORCE'] is {value!r}, not one of "
            f"{', '.join(map(repr, SalesforceChoice.values))}.",
            hint="Use 'keep' (the default), 'anonymise' or 'delete' (docs/en/people.md).",
            id="wagtail_salesforce.E004",
        )
    ]


# The outbox sweeper and the delivery drains stop taking new entries after 50 s; django-q2 must
# let them finish the entry in hand.
MIN_TASK_TIMEOUT_SECONDS = 60


@checks.register()
def check_task_timeout(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    cluster = getattr(settings, "Q_CLUSTER", {}) or {}
    timeout = cluster.get("timeout")
    if timeout is None or float(timeout) >= MIN_TASK_TIMEOUT_SECONDS:
        return []
    return [
        checks.Warning(
            f"Q_CLUSTER['timeout'] is {timeout} s: django-q2 would kill the outbox sweeper and "
            "delivery drains (which run for up to 50 s) in the middle of a delivery.",
            hint=f"Set Q_CLUSTER['timeout'] to at least {MIN_TASK_TIMEOUT_SECONDS} (and "
            "'retry' above it); the example site uses 120 and 180.",
            id="wagtail_salesforce.W002",
        )
    ]


# Installation and the task cluster (wagtail_salesforce.E2xx/W2xx). Without a working django-q2
# cluster every submission waits in the outbox for ever, and nothing at run time says why.

DJANGO_Q_NOT_INSTALLED_ID = "wagtail_salesforce.E201"
Q_CLUSTER_MISSING_ID = "wagtail_salesforce.E202"
BROKER_NOT_IMPORTABLE_ID = "wagtail_salesforce.E203"
BROKER_NOT_REACHABLE_ID = "wagtail_salesforce.E204"
ENCRYPTION_KEY_UNSET_ID = "wagtail_salesforce.W201"

# How long the Redis reachability check waits: a check must not hang `manage.py` start-up.
BROKER_PING_TIMEOUT_SECONDS = 2.0

_INSTALL_DOCS = "See docs/en/installation.md."


@checks.register()
def check_django_q_installed(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    if django_apps.is_installed("django_q"):
        return []
    return [
        checks.Error(
            "'django_q' is not in INSTALLED_APPS: no task cluster can deliver form submissions "
            "or run the sync, and django-q2's tables do not exist.",
            hint=f"Add 'django_q' to INSTALLED_APPS, then run migrate. {_INSTALL_DOCS}",
            id=DJANGO_Q_NOT_INSTALLED_ID,
        )
    ]


def _broker_module(cluster: dict[str, Any]) -> str:
    """The module of the broker django-q2 picks for ``cluster`` (the order of its get_broker)."""
    if cluster.get("broker_class"):
        return str(cluster["broker_class"]).rsplit(".", 1)[0]
    if cluster.get("iron_mq"):
        return "django_q.brokers.ironmq"
    if isinstance(cluster.get("sqs"), dict):
        return "django_q.brokers.aws_sqs"
    if cluster.get("orm"):
        return "django_q.brokers.orm"
    if cluster.get("mongo"):
        return "django_q.brokers.mongo"
    return "django_q.brokers.redis_broker"


@checks.register()
def check_task_broker(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Q_CLUSTER is set, its broker can be imported and (ORM, Redis) reached."""
    if not django_apps.is_installed("django_q"):
        return []  # E201 says what to do first.
    cluster = getattr(settings, "Q_CLUSTER", None)
    if not cluster:
        return [
            checks.Error(
                "Q_CLUSTER is not set: django-q2 then expects a Redis server on localhost, and "
                "every form submission waits in the outbox.",
                hint="Set Q_CLUSTER, e.g. {'name': 'mysite', 'orm': 'default', 'timeout': 120, "
                "'retry': 180, 'catch_up': False} for the database broker. " + _INSTALL_DOCS,
                id=Q_CLUSTER_MISSING_ID,
            )
        ]
    module = _broker_module(cluster)
    try:
        importlib.import_module(module)
    except ImportError as error:
        hint = f"Install what the broker needs ({error.name or error})."
        if module == "django_q.brokers.redis_broker":
            hint = (
                "Install the Redis client (pip install 'wagtail-salesforce[redis]'), or set "
                "Q_CLUSTER['orm'] = 'default' to use the database as the broker."
            )
        return [
            checks.Error(
                f"django-q2's broker for Q_CLUSTER ({module}) cannot be imported: {error}.",
                hint=hint,
                id=BROKER_NOT_IMPORTABLE_ID,
            )
        ]
    if module == "django_q.brokers.orm":
        return _check_orm_broker(str(cluster["orm"]))
    if module == "django_q.brokers.redis_broker" and not cluster.get("django_redis"):
        return _check_redis_broker(cluster.get("redis", {}))
    return []


def _check_orm_broker(alias: str) -> list[checks.CheckMessage]:
    if alias in settings.DATABASES:
        return []
    return [
        checks.Error(
            f"Q_CLUSTER['orm'] names the database {alias!r}, which is not in DATABASES.",
            hint=f"Use one of: {', '.join(sorted(settings.DATABASES))}.",
            id=BROKER_NOT_REACHABLE_ID,
        )
    ]


def _check_redis_broker(options: str | dict[str, Any]) -> list[checks.CheckMessage]:
    import redis  # only when Redis is the broker (the [redis] extra)

    timeouts = {
        "socket_connect_timeout": BROKER_PING_TIMEOUT_SECONDS,
        "socket_timeout": BROKER_PING_TIMEOUT_SECONDS,
    }
    if isinstance(options, str):
        client = redis.Redis.from_url(options, **timeouts)
    else:
        client = redis.Redis(**{**options, **timeouts})
    try:
        client.ping()
    except redis.RedisError as error:
        return [
            checks.Error(
                f"django-q2's Redis broker does not answer: {error}",
                hint="Start Redis or correct Q_CLUSTER['redis']; without a broker no task "
                "runs. On a single machine the database broker (Q_CLUSTER['orm']) needs no "
                "server.",
                id=BROKER_NOT_REACHABLE_ID,
            )
        ]
    finally:
        client.close()
    return []


# A deployment check (`manage.py check --deploy`), beside Django's own SECRET_KEY and DEBUG ones:
# a development site with the derived key loses nothing worth a warning on every command.
@checks.register(deploy=True)
def check_encryption_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.DEBUG or conf.get("ENCRYPTION_KEY"):
        return []
    return [
        checks.Warning(
            "WAGTAIL_SALESFORCE['ENCRYPTION_KEY'] is not set: the consumer secret and tokens are "
            "encrypted with a key derived from SECRET_KEY, so changing SECRET_KEY (without "
            "keeping the old one in SECRET_KEY_FALLBACKS) makes them unreadable.",
            hint="Generate a key with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())' and set it from the environment.",
            id=ENCRYPTION_KEY_UNSET_ID,
        )
    ]
