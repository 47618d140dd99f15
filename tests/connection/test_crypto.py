"""Secrets at rest: Fernet with a key from settings (or SECRET_KEY), rotation, clear errors."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection as db_connection

from wagtail_salesforce.connection import crypto
from wagtail_salesforce.connection.models import SalesforceConnection

from .oauth_helpers import default_site


def test_round_trip_returns_the_plain_text_and_the_stored_form_differs() -> None:
    token = crypto.encrypt("00Dxx!secret-access-token")
    assert "secret-access-token" not in token
    assert crypto.decrypt(token) == "00Dxx!secret-access-token"


def test_empty_secret_is_stored_as_empty_string() -> None:
    assert crypto.encrypt("") == ""
    assert crypto.decrypt("") == ""


def test_default_key_is_derived_from_secret_key(settings: Any) -> None:
    token = crypto.encrypt("value")
    assert Fernet(crypto.derive_key(settings.SECRET_KEY)).decrypt(token.encode()) == b"value"


def test_explicit_key_encrypts_and_derived_key_still_decrypts_old_values(settings: Any) -> None:
    old_token = crypto.encrypt("before the key was set")
    key = Fernet.generate_key().decode()
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": key}
    new_token = crypto.encrypt("after")
    assert Fernet(key.encode()).decrypt(new_token.encode()) == b"after"
    assert crypto.decrypt(old_token) == "before the key was set"


def test_old_keys_decrypt_until_removed(settings: Any) -> None:
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": first}
    token = crypto.encrypt("refresh-token")
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": second, "OLD_ENCRYPTION_KEYS": [first]}
    assert crypto.decrypt(token) == "refresh-token"
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": second}
    with pytest.raises(crypto.SecretUnreadable) as raised:
        crypto.decrypt(token)
    assert "refresh-token" not in str(raised.value)
    assert "OLD_ENCRYPTION_KEYS" in str(raised.value)


def test_secret_key_fallbacks_still_decrypt(settings: Any) -> None:
    token = crypto.encrypt("tok")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-django-secret-key-for-this-test"
    assert crypto.decrypt(token) == "tok"


def test_malformed_key_is_a_configuration_error_that_does_not_echo_the_key(settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": "not-a-fernet-key-hunter2"}
    with pytest.raises(ImproperlyConfigured) as raised:
        crypto.encrypt("x")
    assert "hunter2" not in str(raised.value)
    assert "ENCRYPTION_KEY" in str(raised.value)


def test_old_keys_given_as_one_string_is_rejected(settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {"OLD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    with pytest.raises(ImproperlyConfigured, match="list"):
        crypto.encrypt("x")


def _raw_rows() -> str:
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT * FROM wagtail_salesforce_salesforceconnection")
        return repr(cursor.fetchall())


@pytest.mark.django_db
def test_secrets_are_absent_from_the_database_in_clear_text() -> None:
    connection = SalesforceConnection(site=default_site(), enabled=True, consumer_key="key")
    connection.consumer_secret = "consumer-secret-7f3a"
    connection.access_token = "00D!access-token-91bc"
    connection.refresh_token = "5Aep-refresh-token-c0de"
    connection.save()
    raw = _raw_rows()
    for secret in ("consumer-secret-7f3a", "access-token-91bc", "refresh-token-c0de"):
        assert secret not in raw
    reloaded = SalesforceConnection.objects.get(pk=connection.pk)
    assert reloaded.refresh_token == "5Aep-refresh-token-c0de"


@pytest.mark.django_db
def test_rotate_key_command_reencrypts_so_the_old_key_can_be_dropped(settings: Any) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": old}
    connection = SalesforceConnection(site=default_site())
    connection.consumer_secret = "cs"
    connection.refresh_token = "rt"
    connection.save()
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": new, "OLD_ENCRYPTION_KEYS": [old]}
    out = StringIO()
    call_command("salesforce_rotate_key", stdout=out)
    assert "1 connection" in out.getvalue()
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": new}
    # Keep SECRET_KEY's derived key out of the picture: only the new key may decrypt now.
    settings.SECRET_KEY = "unrelated-secret-key-for-the-check"
    reloaded = SalesforceConnection.objects.get(pk=connection.pk)
    assert (reloaded.consumer_secret, reloaded.refresh_token) == ("cs", "rt")


@pytest.mark.django_db
def test_rotate_key_command_reports_rows_no_key_can_read(settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": Fernet.generate_key().decode()}
    connection = SalesforceConnection(site=default_site())
    connection.consumer_secret = "cs"
    connection.save()
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": Fernet.generate_key().decode()}
    with pytest.raises(CommandError, match=str(connection.pk)):
        call_command("salesforce_rotate_key", stdout=StringIO())
