"""Re-encrypt every stored Salesforce secret with the current ``ENCRYPTION_KEY``.

Rotation: set the new key as ``ENCRYPTION_KEY``, move the old one to ``OLD_ENCRYPTION_KEYS``,
deploy, run this command, then remove the old key from ``OLD_ENCRYPTION_KEYS``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from wagtail_salesforce.connection import crypto
from wagtail_salesforce.connection.models import SalesforceConnection

ENCRYPTED_FIELDS = (
    "consumer_secret_encrypted",
    "access_token_encrypted",
    "refresh_token_encrypted",
)


class Command(BaseCommand):
    help = "Re-encrypt the stored Salesforce secrets with the current encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        failed: list[int] = []
        for pk in SalesforceConnection.objects.order_by("pk").values_list("pk", flat=True):
            with transaction.atomic():
                row = SalesforceConnection.objects.select_for_update().filter(pk=pk).first()
                if row is None:
                    continue
                try:
                    values = {
                        name: crypto.reencrypt(getattr(row, name)) for name in ENCRYPTED_FIELDS
                    }
                except crypto.SecretUnreadable:
                    failed.append(pk)
                    continue
                # Conditional on token_version: a refresh that landed meanwhile keeps its token.
                rotated += SalesforceConnection.objects.filter(
                    pk=pk, token_version=row.token_version
                ).update(**values)
        self.stdout.write(f"Re-encrypted the secrets of {rotated} connection(s).")
        if failed:
            raise CommandError(
                "These connections have secrets no configured key can decrypt (add the old key to "
                f"OLD_ENCRYPTION_KEYS and run again): {', '.join(map(str, failed))}"
            )
