"""The CLI and management command as separate processes, persistence with --data, the record
browser, and the subprocess fixture."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from wagtail_salesforce.sandbox.server import SandboxProcess, launch_sandbox_process

from .conftest import RawApi

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_KEYS = {"login_url", "instance_url", "ca_file", "client_id", "client_secret",
                "callback_urls", "username", "password"}


def _lead_count(process: SandboxProcess, token: str) -> int:
    api = RawApi(process, token)
    return api.get("/query", params={"q": "SELECT COUNT() FROM Lead"}).json()["totalSize"]


def _password_token(process: SandboxProcess) -> str:
    response = requests.post(f"{process.login_url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": process.client_id,
        "client_secret": process.client_secret, "username": process.username,
        "password": process.password}, timeout=10)
    return response.json()["access_token"]


def test_cli_prints_its_facts_first_and_exits_cleanly_on_sigint(tmp_path: Path) -> None:
    process = launch_sandbox_process("--state-dir", str(tmp_path))
    try:
        assert set(process.info) >= STARTUP_KEYS
        assert process.login_url.startswith("http://127.0.0.1:")
        assert process.instance_url.startswith("https://127.0.0.1:")
        assert Path(process.ca_file).read_text().startswith("-----BEGIN CERTIFICATE-----")
        versions = requests.get(f"{process.instance_url}/services/data/",
                                verify=process.ca_file, timeout=10)
        assert versions.status_code == 200
    finally:
        status = process.stop()
    assert status == 0


def test_callback_url_option_registers_another_callback_on_the_connected_app() -> None:
    extra = "http://127.0.0.1:8123/admin/salesforce/oauth/callback/"
    process = launch_sandbox_process("--callback-url", extra)
    try:
        assert process.info["callback_urls"][-1] == extra
        authorize = requests.get(
            f"{process.login_url}/services/oauth2/authorize",
            params={"response_type": "code", "client_id": process.client_id,
                    "redirect_uri": extra},
            timeout=10, allow_redirects=False,
        )
        # A known callback: errors (here, the app's required PKCE) go back to it.
        assert authorize.status_code == 302
        assert authorize.headers["Location"].startswith(extra + "?error=")
        refused = requests.get(
            f"{process.login_url}/services/oauth2/authorize",
            params={"response_type": "code", "client_id": process.client_id,
                    "redirect_uri": "http://127.0.0.1:8124/admin/salesforce/oauth/callback/"},
            timeout=10, allow_redirects=False,
        )
        assert refused.status_code != 302 and "redirect_uri_mismatch" in refused.text
    finally:
        assert process.stop() == 0


def test_cli_sigterm_also_exits_zero() -> None:
    process = launch_sandbox_process()
    process.process.send_signal(signal.SIGTERM)
    assert process.process.wait(timeout=20) == 0
    process.stop()


def test_data_file_keeps_records_across_a_restart(tmp_path: Path) -> None:
    data = str(tmp_path / "org.sqlite3")
    first = launch_sandbox_process("--data", data)
    try:
        token = _password_token(first)
        created = RawApi(first, token).post("/sobjects/Lead/", json={
            "LastName": "Persisted", "Company": "Acme"})
        lead_id = created.json()["id"]
    finally:
        assert first.stop() == 0
    second = launch_sandbox_process("--data", data)
    try:
        record = RawApi(second, _password_token(second)).get(f"/sobjects/Lead/{lead_id}")
        assert record.status_code == 200 and record.json()["LastName"] == "Persisted"
    finally:
        assert second.stop() == 0


def test_bad_org_file_is_a_clear_error(tmp_path: Path) -> None:
    org_file = tmp_path / "org.yaml"
    org_file.write_text("org: {colour: blue}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "wagtail_salesforce.sandbox", "--org", str(org_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "cannot load the org file" in result.stderr and "Traceback" not in result.stderr


def test_management_command_is_the_same_server() -> None:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings",
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "example_site")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "salesforce_sandbox", "--port", "0"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert set(info) >= STARTUP_KEYS
        page = requests.get(info["login_url"] + "/", timeout=10)
        assert page.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert process.stdout is not None
        process.stdout.close()


def test_subprocess_fixture_is_reset_between_tests(salesforce_sandbox_process: Any) -> None:
    token = _password_token(salesforce_sandbox_process)
    assert _lead_count(salesforce_sandbox_process, token) == 0
    RawApi(salesforce_sandbox_process, token).post("/sobjects/Lead/", json={
        "LastName": "Child", "Company": "Acme"})
    assert _lead_count(salesforce_sandbox_process, token) == 1
    info = salesforce_sandbox_process.control("GET", "info")
    assert info["api_calls_used"] == 3
    salesforce_sandbox_process.reset()
    assert _lead_count(salesforce_sandbox_process, _password_token(salesforce_sandbox_process)) == 0


def test_record_browser_lists_a_created_record(api: RawApi, salesforce_sandbox: Any) -> None:
    lead_id = api.post("/sobjects/Lead/", json={"LastName": "Visible<b>", "Company": "Acme",
                                                "Email": "visible@example.com"}).json()["id"]
    index = requests.get(f"{salesforce_sandbox.login_url}/", timeout=10)
    assert index.status_code == 200
    assert re.search(r'<a href="/browse/Lead">Leads?</a></td><td><code>Lead</code></td><td>1</td>',
                     index.text)
    listing = requests.get(f"{salesforce_sandbox.login_url}/browse/Lead", timeout=10)
    assert lead_id in listing.text and "visible@example.com" in listing.text
    assert "Visible&lt;b&gt;" in listing.text and "Visible<b>" not in listing.text
    record = requests.get(f"{salesforce_sandbox.login_url}/browse/Lead/{lead_id}", timeout=10)
    assert record.status_code == 200 and "<th>Company</th><td>Acme</td>" in record.text
    missing = requests.get(f"{salesforce_sandbox.login_url}/browse/Nope", timeout=10)
    assert missing.status_code == 404


def test_record_browser_lists_newest_first(api: RawApi, salesforce_sandbox: Any) -> None:
    older = api.post("/sobjects/Lead/", json={"LastName": "Older", "Company": "Acme"}).json()["id"]
    newer = api.post("/sobjects/Lead/", json={"LastName": "Newer", "Company": "Acme"}).json()["id"]
    listing = requests.get(f"{salesforce_sandbox.login_url}/browse/Lead", timeout=10).text
    assert listing.index(newer) < listing.index(older)


def test_stopping_hangs_up_on_keep_alive_connections(tmp_path: Path) -> None:
    from wagtail_salesforce.sandbox.server import start_sandbox

    running = start_sandbox()
    api = RawApi(running, running.password_token()["access_token"])
    # The sandbox deletes its CA file when it stops; keep a copy so only the socket can fail.
    ca_copy = tmp_path / "ca.pem"
    ca_copy.write_bytes(Path(running.ca_file).read_bytes())
    api.session.verify = str(ca_copy)
    assert api.get("/limits").status_code == 200  # opens a pooled keep-alive connection
    running.stop()
    try:
        api.get("/limits")
    except requests.ConnectionError:
        return
    raise AssertionError("a stopped sandbox still answered on an old connection")


def test_taken_port_is_a_clear_error_and_exit_status_2() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "wagtail_salesforce.sandbox", "--api-port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
        )
    assert result.returncode == 2 and result.stdout == ""
    assert "cannot start" in result.stderr and "Traceback" not in result.stderr
