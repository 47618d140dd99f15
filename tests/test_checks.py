"""System checks for an installation that cannot deliver: each mistake has its own id."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.services import free_port
from wagtail_salesforce.checks import (
    BROKER_NOT_IMPORTABLE_ID,
    BROKER_NOT_REACHABLE_ID,
    DJANGO_Q_NOT_INSTALLED_ID,
    ENCRYPTION_KEY_UNSET_ID,
    Q_CLUSTER_MISSING_ID,
    check_django_q_installed,
    check_encryption_key,
    check_task_broker,
)
from wagtail_salesforce.config.checks import CONFIG_ERROR_ID, check_config_files

REPO = Path(__file__).resolve().parents[1]


def _ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def test_the_test_settings_pass_every_installation_check(settings: Any) -> None:
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": "a" * 43 + "="}
    assert check_django_q_installed() + check_task_broker() + check_encryption_key() == []


def _manage_py_check(tmp_path: Path, settings_body: str) -> subprocess.CompletedProcess[str]:
    """``manage.py check`` in its own process, on the test settings changed by ``settings_body``
    (what INSTALLED_APPS holds is fixed when Django starts)."""
    (tmp_path / "changed_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n" + settings_body, encoding="utf-8"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "changed_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO), str(REPO / "example_site")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "check"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )


def test_django_q_missing_from_installed_apps_is_an_error(tmp_path: Path) -> None:
    result = _manage_py_check(
        tmp_path, "INSTALLED_APPS = [app for app in INSTALLED_APPS if app != 'django_q']\n"
    )
    assert result.returncode == 1
    assert f"({DJANGO_Q_NOT_INSTALLED_ID}) 'django_q' is not in INSTALLED_APPS" in result.stderr
    # The broker check waits for that to be fixed rather than reporting a consequence.
    assert Q_CLUSTER_MISSING_ID not in result.stderr
    assert BROKER_NOT_IMPORTABLE_ID not in result.stderr


def test_django_q_in_installed_apps_passes() -> None:
    assert check_django_q_installed() == []


def test_no_q_cluster_is_an_error(settings: Any) -> None:
    del settings.Q_CLUSTER
    [message] = check_task_broker()
    assert message.id == Q_CLUSTER_MISSING_ID
    assert message.is_serious()
    assert "'orm': 'default'" in message.hint


def test_an_empty_q_cluster_is_as_good_as_none(settings: Any) -> None:
    settings.Q_CLUSTER = {}
    assert _ids(check_task_broker()) == [Q_CLUSTER_MISSING_ID]


def test_a_broker_whose_client_library_is_missing_is_an_error(settings: Any) -> None:
    settings.Q_CLUSTER = {"name": "site", "mongo": {"host": "127.0.0.1"}, "timeout": 120}
    [message] = check_task_broker()
    assert message.id == BROKER_NOT_IMPORTABLE_ID
    assert message.msg.startswith("django-q2's broker for Q_CLUSTER (django_q.brokers.mongo)")
    assert "No module named" in message.msg


def test_a_custom_broker_class_that_cannot_be_imported_is_an_error(settings: Any) -> None:
    settings.Q_CLUSTER = {"name": "site", "broker_class": "mysite.brokers.Missing"}
    [message] = check_task_broker()
    assert message.id == BROKER_NOT_IMPORTABLE_ID
    assert "mysite" in message.msg


def test_the_orm_broker_on_an_unknown_database_alias_is_an_error(settings: Any) -> None:
    settings.Q_CLUSTER = {"name": "site", "orm": "queue"}
    [message] = check_task_broker()
    assert message.id == BROKER_NOT_REACHABLE_ID
    assert "'queue'" in message.msg and message.hint == "Use one of: default."


def test_a_redis_broker_that_answers_passes(settings: Any, redis_url: str) -> None:
    settings.Q_CLUSTER = {"name": "site", "redis": redis_url, "timeout": 120, "retry": 180}
    assert check_task_broker() == []


def test_a_redis_broker_given_as_a_dict_that_answers_passes(settings: Any) -> None:
    from tests.services import REDIS_HOST, REDIS_PORT, require_service

    require_service("Redis", REDIS_HOST, REDIS_PORT)
    settings.Q_CLUSTER = {"name": "site", "redis": {"host": REDIS_HOST, "port": REDIS_PORT}}
    assert check_task_broker() == []


def test_a_redis_broker_that_does_not_answer_is_an_error(settings: Any) -> None:
    settings.Q_CLUSTER = {"name": "site", "redis": f"redis://127.0.0.1:{free_port()}/0"}
    [message] = check_task_broker()
    assert message.id == BROKER_NOT_REACHABLE_ID
    assert message.msg.startswith("django-q2's Redis broker does not answer:")


def test_q_cluster_without_a_broker_key_means_redis_on_localhost(settings: Any) -> None:
    # django-q2's own default: with Redis running locally that is a working set-up.
    from tests.services import REDIS_HOST, REDIS_PORT, require_service

    require_service("Redis", REDIS_HOST, REDIS_PORT)
    settings.Q_CLUSTER = {"name": "site", "timeout": 120, "retry": 180}
    assert check_task_broker() == []


def test_no_encryption_key_outside_debug_is_a_warning(settings: Any) -> None:
    settings.DEBUG = False
    settings.WAGTAIL_SALESFORCE = {}
    [message] = check_encryption_key()
    assert message.id == ENCRYPTION_KEY_UNSET_ID
    assert not message.is_serious()
    assert "SECRET_KEY_FALLBACKS" in message.msg


def test_an_encryption_key_or_debug_silences_the_warning(settings: Any) -> None:
    settings.DEBUG = True
    settings.WAGTAIL_SALESFORCE = {}
    assert check_encryption_key() == []
    settings.DEBUG = False
    settings.WAGTAIL_SALESFORCE = {"ENCRYPTION_KEY": "a" * 43 + "="}
    assert check_encryption_key() == []


def test_a_configured_config_file_that_cannot_be_read_is_an_error(
    settings: Any, tmp_path: Path
) -> None:
    unreadable = tmp_path / "salesforce.yaml"
    unreadable.mkdir()  # a directory: open() fails for root too, unlike a chmod 000 file
    settings.WAGTAIL_SALESFORCE = {"CONFIG_FILES": [str(unreadable)]}
    [message] = check_config_files()
    assert message.id == CONFIG_ERROR_ID
    assert message.msg.startswith(f"{unreadable}: cannot be read:")


def test_the_encryption_key_warning_is_part_of_the_deployment_checks(
    settings: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The browser tests' conftest sets it for the session; Django's deploy checks refuse it.
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    settings.DEBUG = False
    settings.WAGTAIL_SALESFORCE = {}
    call_command("check")
    assert ENCRYPTION_KEY_UNSET_ID not in "".join(capsys.readouterr())
    call_command("check", "--deploy")
    assert ENCRYPTION_KEY_UNSET_ID in "".join(capsys.readouterr())


def test_manage_py_check_fails_without_q_cluster(settings: Any) -> None:
    del settings.Q_CLUSTER
    with pytest.raises(SystemCheckError, match=r"wagtail_salesforce\.E202.*Q_CLUSTER is not set"):
        call_command("check")
