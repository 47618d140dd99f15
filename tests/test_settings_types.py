"""Every WAGTAIL_SALESFORCE key has a declared type; ``manage.py check`` reports a value of the
wrong type (``wagtail_salesforce.E001``), naming the key, the type found and the one expected."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from wagtail_salesforce import conf
from wagtail_salesforce.checks import check_setting_types, check_settings


def test_every_default_has_its_declared_type() -> None:
    wrong = {
        name: conf.describe_value(setting.default)
        for name, setting in conf.SETTINGS.items()
        if not conf.matches(setting.default, setting.type)
    }
    assert wrong == {}


def test_values_of_the_declared_types_pass(settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {
        "CONFIG_FILES": [Path("a.yaml"), "b.yaml"],
        "CA_FILE": Path("ca.pem"),
        "ENCRYPTION_KEY": b"key",
        "OLD_ENCRYPTION_KEYS": ("old",),
        "TIMEOUT": [3, 10.5],
        "OUTBOX_RETRY_BASE_SECONDS": 10,  # an int is a fine number of seconds
        "CONSUMER_KEY": None,
    }
    assert check_setting_types() == []


@pytest.mark.parametrize(
    ("key", "value", "found", "expected"),
    [
        ("API_VERSION", 62.0, "float", "str"),
        ("MAX_RETRIES", "3", "str", "int"),
        ("MAX_RETRIES", True, "bool", "int"),
        ("OUTBOX_LEASE_SECONDS", "300", "str", "float"),
        ("CONFIG_FILES", "salesforce.yaml", "str", "list[str | PathLike] | None"),
        ("OLD_ENCRYPTION_KEYS", ["new", 1], "list[int | str]", "list[str | bytes]"),
        ("TIMEOUT", (5.0, 30.0, 1.0), "tuple[float]", "tuple[float, float] | float"),
    ],
)
def test_a_value_of_the_wrong_type_is_an_error_naming_key_and_types(
    settings: Any, key: str, value: Any, found: str, expected: str
) -> None:
    settings.WAGTAIL_SALESFORCE = {key: value, "LOGIN_URL": "https://test.salesforce.com"}

    [message] = check_setting_types()

    assert message.id == "wagtail_salesforce.E001"
    assert message.msg == f"WAGTAIL_SALESFORCE[{key!r}] is a {found}; expected {expected}."


def test_each_bad_key_gets_its_own_message(settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {"MAX_RETRIES": "3", "SYNC_BATCH_SIZE": 1.5, "API_VERSOIN": 1}

    assert sorted(m.msg.split("]")[0] for m in check_setting_types()) == [
        "WAGTAIL_SALESFORCE['MAX_RETRIES'",
        "WAGTAIL_SALESFORCE['SYNC_BATCH_SIZE'",
    ]
    [unknown] = check_settings()
    assert unknown.id == "wagtail_salesforce.W001"
    assert "'API_VERSOIN'" in unknown.msg and "did you mean 'API_VERSION'?" in unknown.msg


def test_a_settings_value_that_is_not_a_dict_is_reported_and_ignored(settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = [("API_VERSION", "63.0")]

    [message] = check_setting_types()

    assert message.msg == "WAGTAIL_SALESFORCE is a list; expected dict."
    assert conf.get("API_VERSION") == conf.DEFAULTS["API_VERSION"]
    assert check_settings() == []


def test_manage_py_check_fails_on_a_wrong_type(settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {"OUTBOX_MAX_ATTEMPTS": "twelve"}

    with pytest.raises(SystemCheckError, match=r"wagtail_salesforce\.E001"):
        call_command("check", stdout=StringIO(), stderr=StringIO())
