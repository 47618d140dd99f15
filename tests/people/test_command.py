"""``manage.py salesforce_person``: the same export and erasure for scripts."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from wagtail.models import ModelLogEntry

from tests.sync.conftest import sf_records
from wagtail_salesforce.sync.models import ErasureTombstone, Lead, person_hash

from .conftest import GRACE, OTHER, Known


def test_export_writes_the_json_document_and_logs_it_by_hash(
    grace: Known, tmp_path: Path, django_user_model: Any
) -> None:
    django_user_model.objects.create_user("dpo", "dpo@example.com", "x")
    target = tmp_path / "grace.json"

    call_command(
        "salesforce_person", "export", "GRACE.Hopper@example.com", output=str(target), user="dpo"
    )

    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["email"] == GRACE and len(document["leads"]) == 1
    assert len(document["form_submissions"]) == 1 and len(document["outbox_entries"]) == 1
    [logged] = ModelLogEntry.objects.filter(action="wagtail_salesforce.export")
    assert logged.data["person"] == person_hash(GRACE) and logged.data["listing"] == "person"
    assert logged.user.username == "dpo"
    assert "grace" not in json.dumps([logged.label, logged.data]).lower()


def test_erase_without_yes_asks_and_stops_unless_confirmed(
    grace: Known, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("builtins.input", lambda _question: "no")
    with pytest.raises(CommandError, match="nothing was erased"):
        call_command("salesforce_person", "erase", GRACE)
    assert Lead.objects.filter(email=GRACE).exists()

    monkeypatch.setattr("builtins.input", lambda _question: "yes")
    call_command("salesforce_person", "erase", GRACE, stdout=io.StringIO())
    assert not Lead.objects.filter(email=GRACE).exists()


def test_erase_with_yes_deletes_in_salesforce_when_allowed(
    grace: Known, sandbox: Any, plugin_settings: dict[str, Any], settings: Any
) -> None:
    with pytest.raises(CommandError, match="does not allow"):
        call_command("salesforce_person", "erase", GRACE, salesforce="delete", yes=True)
    settings.WAGTAIL_SALESFORCE = {**plugin_settings, "ERASURE_SALESFORCE": "delete"}
    out = io.StringIO()

    call_command("salesforce_person", "erase", GRACE, salesforce="delete", yes=True, stdout=out)

    summary = json.loads(out.getvalue())
    assert summary["person"] == person_hash(GRACE) and summary["salesforce"] == "delete"
    assert GRACE not in out.getvalue()
    assert ErasureTombstone.objects.count() == 1
    emails = {str(r.get("Email") or "") for r in sf_records(sandbox, "Lead")}
    assert GRACE not in emails and OTHER in emails
