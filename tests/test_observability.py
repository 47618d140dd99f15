"""Structured logging: JSON lines carrying the correlation id bound for the unit of work."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import threading
from collections.abc import Iterator

import pytest

from wagtail_salesforce.observability import (
    NO_CORRELATION_ID,
    CorrelationIdFilter,
    JsonFormatter,
    bind_correlation_id,
    get_correlation_id,
    structured_logging,
)

LOGGER_NAME = "wagtail_salesforce.outbox.delivery"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The package's records, written by the configured JSON handler into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(CorrelationIdFilter())
    handler.setFormatter(JsonFormatter())
    package = logging.getLogger("wagtail_salesforce")
    previous_level = package.level
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        package.removeHandler(handler)
        package.setLevel(previous_level)


def _records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_line_with_the_bound_id_and_fields(
    log_lines: io.StringIO,
) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    with bind_correlation_id("3f2a-entry-token", outbox_entry=42, site=1):
        logger.info("Outbox entry %s delivered", 42, extra={"salesforce_object": "Lead"})
    logger.warning("after the block")

    inside, outside = _records(log_lines)
    assert inside["message"] == "Outbox entry 42 delivered"
    assert inside["correlation_id"] == "3f2a-entry-token"
    assert (inside["outbox_entry"], inside["site"]) == (42, 1)
    assert inside["salesforce_object"] == "Lead"
    assert (inside["level"], inside["logger"]) == ("INFO", LOGGER_NAME)
    assert str(inside["time"]).endswith("+00:00")
    assert outside["correlation_id"] == NO_CORRELATION_ID
    assert "outbox_entry" not in outside


def test_nested_bindings_override_and_restore_the_outer_one() -> None:
    with bind_correlation_id(prefix="sync", site=1) as outer:
        assert outer.startswith("sync-") and len(outer) == len("sync-") + 16
        with bind_correlation_id("inner", sync_run=7) as inner:
            assert get_correlation_id() == inner == "inner"
        assert get_correlation_id() == outer
    assert get_correlation_id() is None


def test_threads_keep_their_own_correlation_ids(log_lines: io.StringIO) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    both_bound = threading.Barrier(2)

    def deliver(name: str) -> None:
        with bind_correlation_id(name):
            both_bound.wait(timeout=10)  # both ids are bound at the same time
            logger.info("working on %s", name)

    threads = [threading.Thread(target=deliver, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert {(r["message"], r["correlation_id"]) for r in _records(log_lines)} == {
        ("working on first", "first"),
        ("working on second", "second"),
    }


def test_an_exception_is_written_inside_the_json_object(log_lines: io.StringIO) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    with bind_correlation_id("failing"):
        try:
            raise RuntimeError("Salesforce said no")
        except RuntimeError:
            logger.exception("delivery failed")

    (record,) = _records(log_lines)
    assert record["correlation_id"] == "failing"
    assert "RuntimeError: Salesforce said no" in str(record["exception"])


def test_structured_logging_settings_configure_json_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    package = logging.getLogger("wagtail_salesforce")
    saved = (package.handlers[:], package.level, package.propagate)
    try:
        logging.config.dictConfig(structured_logging(level="info"))
        with bind_correlation_id("from-settings"):
            logging.getLogger("wagtail_salesforce.sync.service").info("cycle started")
        (line,) = capsys.readouterr().err.splitlines()
    finally:
        package.handlers[:], package.level, package.propagate = saved
    assert json.loads(line)["correlation_id"] == "from-settings"


def test_blank_ids_and_unknown_levels_are_refused() -> None:
    with pytest.raises(ValueError, match="blank"), bind_correlation_id("  "):
        pass
    with pytest.raises(ValueError, match="Unknown log level"):
        structured_logging(level="LOUD")
