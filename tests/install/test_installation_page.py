"""docs/en/installation.md followed literally: ``wagtail start``, the wheel in a fresh venv, the
page's blocks in order, ``check`` and ``migrate``, a real ``qcluster``, the sandbox, a form
submitted over HTTP, and the Lead in the sandbox.

The test changes the page in two ways only (``Reader.substitutions``): the package comes from
the wheel built from this checkout (not from PyPI), and the ports are free ones (8000, 8001 and
8443 may be taken on a shared machine). Everything else runs as a reader would run it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.install.conftest import Distribution
from tests.install.page_steps import Step, page_steps
from tests.services import free_port, read_line, stop_process_group, wait_until

pytestmark = pytest.mark.install

HERE = Path(__file__).resolve().parent
SETTINGS_MODULE = "mysite.settings.dev"  # what a wagtail start project's manage.py uses


class Reader:
    """Runs the page's steps as a reader at a shell would: one environment and working
    directory carried from step to step, servers left running in the background."""

    def __init__(self, home: Path, venv: Path, wheel: Path) -> None:
        self.cwd = home
        self.python = venv / "bin" / "python"
        # The page's ports -> free ones.
        self.ports = {"8000": free_port(), "8001": free_port(), "8443": free_port()}
        self.substitutions = {
            r"pip install wagtail-salesforce$": f"pip install --quiet {wheel}",
            **{rf"\b{port}\b": str(free) for port, free in self.ports.items()},
        }
        self.env = {
            key: value for key, value in os.environ.items()
            # pytest's own settings must not leak into the reader's shell.
            if key not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DJANGO_ALLOW_ASYNC_UNSAFE"}
        }
        self.env.update(
            VIRTUAL_ENV=str(venv),
            PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            PYTHONUNBUFFERED="1",
        )
        self.background: dict[str, subprocess.Popen[str]] = {}
        self.transcript: list[str] = []

    def text(self, body: str) -> str:
        for pattern, replacement in self.substitutions.items():
            body = re.sub(pattern, replacement, body, flags=re.MULTILINE)
        return body

    def apply(self, step: Step) -> None:
        body = self.text(step.body)
        self.transcript.append(f"--- {step}\n{body}")
        if step.action in ("write", "append"):
            path = self.cwd / step.argument
            assert step.action == "write" or path.exists(), f"{path} should exist by now"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w" if step.action == "write" else "a", encoding="utf-8") as file:
                file.write(body)
        elif step.action == "run":
            self._run(body)
        else:
            self._start(step.argument, body)

    def _run(self, body: str) -> None:
        state = self.cwd / ".reader-state"
        script = f"set -e\n{body}\npwd > {state}.cwd\nenv -0 > {state}.env\n"
        result = subprocess.run(
            ["bash", "-c", script], cwd=self.cwd, env=self.env, capture_output=True, text=True,
            timeout=900, check=False,
        )
        self.transcript.append(result.stdout[-3000:] + result.stderr[-3000:])
        assert result.returncode == 0, "\n".join(self.transcript[-2:])
        self.cwd = Path(Path(f"{state}.cwd").read_text().strip())
        variables = Path(f"{state}.env").read_bytes().decode().split("\0")
        self.env = dict(item.split("=", 1) for item in variables if "=" in item)

    def _start(self, name: str, body: str) -> None:
        self.background[name] = subprocess.Popen(
            ["bash", "-c", f"exec {body}"], cwd=self.cwd, env=self.env,
            stdout=subprocess.PIPE, stderr=(self.cwd / f"{name}.log").open("w"),
            text=True, start_new_session=True,
        )

    def log(self, name: str) -> str:
        path = self.cwd / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        # SIGTERM to each server's main process, as a process manager should send it: django-q2
        # stops its own workers (a signal to the whole group makes it wait for workers gone).
        for process in self.background.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
        for process in reversed(self.background.values()):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20.0)
            stop_process_group(process, signal.SIGTERM, timeout=5.0)  # and anything left
            if process.stdout is not None:
                process.stdout.close()


@pytest.fixture
def reader(tmp_path: Path, distribution: Distribution) -> Iterator[Reader]:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    home = tmp_path / "work"
    home.mkdir()
    reader = Reader(home, venv, distribution.wheel)
    try:
        yield reader
    finally:
        reader.stop()


def _sandbox_leads(facts: dict[str, str], ca_file: str, email: str) -> list[dict[str, object]]:
    """The sandbox's Leads with ``email``, read through its REST API as an integration would."""
    token = requests.post(
        f"{facts['login_url']}/services/oauth2/token",
        data={
            "grant_type": "password", "client_id": facts["client_id"],
            "client_secret": facts["client_secret"], "username": facts["username"],
            "password": facts["password"],
        },
        timeout=10,
    )
    token.raise_for_status()
    answer = requests.get(
        f"{token.json()['instance_url']}/services/data/v62.0/query",
        params={"q": f"SELECT Id, LastName, Company, LeadSource FROM Lead WHERE Email = '{email}'"},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        verify=ca_file, timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["records"]


def test_the_installation_page_followed_literally_delivers_a_lead(reader: Reader) -> None:
    started = time.monotonic()
    facts: dict[str, str] = {}
    for step in page_steps("en"):
        reader.apply(step)
        if step.argument == "sandbox":
            process = reader.background["sandbox"]
            line = read_line(process, time.monotonic() + 60)
            assert line.startswith("{"), f"the sandbox did not start:\n{reader.log('sandbox')}"
            facts = json.loads(line)

    assert facts, "the page never started the sandbox"
    # What the reader sees at step 7: a clean check and the YAML accepted.
    transcript = "\n".join(reader.transcript)
    assert "System check identified no issues (0 silenced)." in transcript
    assert "OK: salesforce.yaml: 1 form mapping\n" in transcript
    assert set(reader.background) == {"sandbox", "qcluster", "web"}
    web_port = reader.ports["8000"]
    site = f"http://127.0.0.1:{web_port}"
    wait_until(
        lambda: _answers(f"{site}/contact-us/"), timeout=60,
        message=f"the site did not come up:\n{reader.log('web')}",
    )

    # Settings → Sites and Settings → Salesforce, then Connect (see connect_site.py).
    connected = subprocess.run(
        [str(reader.python),
         str(HERE / "connect_site.py"), SETTINGS_MODULE, str(web_port), json.dumps(facts)],
        cwd=reader.cwd, env=reader.env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert connected.returncode == 0, connected.stderr[-4000:]
    assert connected.stdout.strip().splitlines()[-1] == "connected"

    # The visitor: the form page over HTTP, CSRF token and all.
    browser = requests.Session()
    form_page = browser.get(f"{site}/contact-us/", timeout=10)
    assert form_page.status_code == 200 and 'name="last_name"' in form_page.text
    email = "ada.lovelace@example.com"
    thanks = browser.post(
        f"{site}/contact-us/",
        data={
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            "email": email, "last_name": "Lovelace", "company": "",
        },
        timeout=30,
    )
    assert thanks.status_code == 200 and "Thank you!" in thanks.text, thanks.text[-2000:]

    leads = wait_until(
        # The CA file the page exported for the site and the cluster.
        lambda: _sandbox_leads(facts, reader.env["SALESFORCE_CA_FILE"], email), timeout=90,
        message=f"no Lead arrived:\n{reader.log('qcluster')}",
        interval=0.5,
    )
    assert [(lead["LastName"], lead["Company"], lead["LeadSource"]) for lead in leads] == [
        ("Lovelace", "(not provided)", "Web")
    ]
    # The cluster's heartbeat landed where the web tier's health panel reads it.
    heartbeat = subprocess.run(
        [str(reader.python), "manage.py", "shell", "-c",
         "from wagtail_salesforce.heartbeat import last_heartbeat; print(last_heartbeat())"],
        cwd=reader.cwd, env=reader.env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert heartbeat.returncode == 0 and heartbeat.stdout.strip() != "None", heartbeat.stderr
    print(f"the installation page took {time.monotonic() - started:.0f} s to follow")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def test_the_japanese_page_has_the_same_steps() -> None:
    # Prose is translated; the blocks (code and comments aside) are the same in both languages.
    def shape(step: Step) -> tuple[str, str, list[str]]:
        code = [line for line in step.body.splitlines() if not line.lstrip().startswith("#")]
        return step.action, step.argument, code

    assert [shape(step) for step in page_steps("ja")] == [
        shape(step) for step in page_steps("en")
    ]
