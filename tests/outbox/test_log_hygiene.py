"""Break 3 of issue 12: a dead letter's log line cannot forge lines or carry a visitor's data."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wagtail.models import Site

from wagtail_salesforce.connection.models import SalesforceConnection
from wagtail_salesforce.observability import CorrelationIdFilter, JsonFormatter
from wagtail_salesforce.outbox.delivery import deliver_entry
from wagtail_salesforce.outbox.models import OutboxState

from .conftest import make_entry

FORGED = "\r\nOutbox entry 999999 delivered to Lead 00QFORGED0000001"
HOSTILE_MESSAGE = "x" * 32_001 + FORGED


@pytest.fixture
def log_files(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The package's records written by real handlers to two files: plain text and JSON."""
    text_path, json_path = tmp_path / "plain.log", tmp_path / "json.log"
    text_handler = logging.FileHandler(text_path, encoding="utf-8")
    text_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    json_handler = logging.FileHandler(json_path, encoding="utf-8")
    json_handler.addFilter(CorrelationIdFilter())
    json_handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("wagtail_salesforce")
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(text_handler)
    logger.addHandler(json_handler)
    try:
        yield text_path, json_path
    finally:
        for handler in (text_handler, json_handler):
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(previous_level)


def _dead_letter(site: Site) -> Any:
    entry = make_entry(
        site, "lead-full", email="ada@example.com", last_name="Lovelace", message=HOSTILE_MESSAGE
    )
    assert deliver_entry(entry.pk) == OutboxState.DEAD
    entry.refresh_from_db()
    # Salesforce's own message echoes the submitted value: that is what reaches the log.
    assert entry.last_error_code == "STRING_TOO_LONG" and FORGED in entry.last_error_message
    return entry


def test_a_dead_letter_writes_no_forged_line_and_no_huge_line(
    site: Site, connection: SalesforceConnection, log_files: tuple[Path, Path]
) -> None:
    text_path, json_path = log_files
    entry = _dead_letter(site)
    for path in (text_path, json_path):
        lines = path.read_text("utf-8").splitlines()
        assert not any(
            "999999" in line and not line.startswith(("INFO", "WARNING", "{")) for line in lines
        )
        assert not [line for line in lines if line.lstrip('{" ').startswith("Outbox entry 999999")]
        assert max(len(line) for line in lines) < 5000
    [dead] = [
        line for line in text_path.read_text("utf-8").splitlines() if "failed permanently" in line
    ]
    assert dead.startswith(f"WARNING wagtail_salesforce.outbox.attempt Outbox entry {entry.pk} ")
    # Personal data stays out of the message: only its length is told.
    length = len(entry.last_error_message)
    assert dead.endswith(f"STRING_TOO_LONG: [salesforce_message withheld, {length} chars]")
    assert "xxxx" not in dead


def test_the_json_log_keeps_the_message_as_a_separate_escaped_field(
    site: Site, connection: SalesforceConnection, log_files: tuple[Path, Path]
) -> None:
    _text_path, json_path = log_files
    entry = _dead_letter(site)
    records = [json.loads(line) for line in json_path.read_text("utf-8").splitlines()]
    [dead] = [r for r in records if "failed permanently" in r["message"]]
    assert dead["personal_fields"] == ["salesforce_message"]
    assert dead["error_code"] == "STRING_TOO_LONG"
    assert dead["salesforce_message"].endswith(f"…[cut, {len(entry.last_error_message)} chars]")
    assert "withheld" in dead["message"]


def test_a_setting_lets_the_message_carry_it_escaped_and_cut(
    site: Site, connection: SalesforceConnection, log_files: tuple[Path, Path], settings: Any
) -> None:
    settings.WAGTAIL_SALESFORCE = {**settings.WAGTAIL_SALESFORCE, "LOG_PERSONAL_DATA": True}
    text_path, _json_path = log_files
    entry = make_entry(
        site,
        "lead-full",
        email="ada@example.com",
        last_name="Lovelace",
        message="x" * 31_995 + FORGED,
    )
    assert deliver_entry(entry.pk) == OutboxState.DEAD
    entry.refresh_from_db()
    [dead] = [
        line for line in text_path.read_text("utf-8").splitlines() if "failed permanently" in line
    ]
    assert "STRING_TOO_LONG: Description: data value too large: Message: xxx" in dead
    assert f"…[cut, {len(entry.last_error_message)} chars]" in dead
