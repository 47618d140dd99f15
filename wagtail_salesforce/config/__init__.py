"""The declarative YAML config: form mappings and sync rules.

Importable without Django settings (the offline CLI uses it); only ``get_config`` reads settings.

    from wagtail_salesforce.config import get_config
    mapping = get_config().forms["contact-us"]
"""

from __future__ import annotations

import threading
from pathlib import Path

from wagtail_salesforce import conf

from .errors import ConfigError, ConfigIssue
from .loader import MAX_ALIAS_EXPANSION, load_config, loads, schema, validate_files
from .model import (
    Activity,
    CampaignRef,
    Conflict,
    Constant,
    Direction,
    FieldSource,
    FormMapping,
    From,
    Location,
    OnUpdate,
    SalesforceConfig,
    SpamLimits,
    SyncConfig,
    SyncField,
    Template,
)

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "Activity",
    "CampaignRef",
    "ConfigError",
    "ConfigIssue",
    "Conflict",
    "Constant",
    "Direction",
    "FieldSource",
    "FormMapping",
    "From",
    "Location",
    "OnUpdate",
    "SalesforceConfig",
    "SpamLimits",
    "SyncConfig",
    "SyncField",
    "Template",
    "config_paths",
    "get_config",
    "load_config",
    "loads",
    "schema",
    "validate_files",
]

_cache_lock = threading.Lock()
_cache: tuple[tuple[object, ...], SalesforceConfig] | None = None


def config_paths() -> tuple[list[Path], bool]:
    """The configured files, and whether they were named explicitly in settings.

    With no ``CONFIG_FILES`` setting the default ``salesforce.yaml`` beside manage.py is optional:
    a site without it simply has no mappings.
    """
    return conf.config_files(), bool(conf.get("CONFIG_FILES"))


def _fingerprint(paths: list[Path]) -> tuple[object, ...]:
    """Path, modification time and size of each file: editing a file changes it."""
    parts: list[object] = []
    for path in paths:
        try:
            stat = path.stat()
            parts.append((str(path), stat.st_mtime_ns, stat.st_size))
        except OSError:
            parts.append((str(path), None, None))
    return tuple(parts)


def get_config() -> SalesforceConfig:
    """The site's config from ``WAGTAIL_SALESFORCE["CONFIG_FILES"]``, reloaded when a file changes.

    Raises ConfigError when the files are invalid (or an explicitly configured one is missing).
    """
    global _cache
    paths, explicit = config_paths()
    if not explicit:
        paths = [path for path in paths if path.exists()]
        if not paths:
            return SalesforceConfig()
    fingerprint = _fingerprint(paths)
    with _cache_lock:
        if _cache is not None and _cache[0] == fingerprint:
            return _cache[1]
        config = load_config(paths)
        _cache = (fingerprint, config)
        return config
