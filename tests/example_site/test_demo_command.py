"""`make demo` runs example_site/demo.py: it must come up and stop every process on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.example_site.demo_process import BANNER_END, REPO, free_port, read_banner, start_demo
from tests.services import wait_until


def _children_of(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (read from /proc, no extra dependency)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _process_groups(pids: set[int]) -> set[int]:
    return {os.getpgid(pid) for pid in pids if Path(f"/proc/{pid}").exists()}


def _alive_in_groups(groups: set[int]) -> list[int]:
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) in groups and (
                    "Z" not in (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                ):
                    alive.append(int(entry.name))
            except (OSError, ProcessLookupError):
                continue
    return alive


def test_demo_serves_the_site_and_sandbox_then_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    started = start_demo(tmp_path / "state")
    demo, port, sandbox_port, banner = (
        started.process, started.port, started.sandbox_port, started.banner
    )
    try:
        assert BANNER_END in banner, banner
        assert "Admin login:     admin / demo-password" in banner

        site = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        landing = None
        while time.monotonic() < deadline:
            try:
                landing = requests.get(f"{site}/contact-us/", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)  # runserver is still binding its port; poll until the deadline
        assert landing is not None and landing.status_code == 200
        assert 'name="email"' in landing.text
        browser = requests.get(f"http://127.0.0.1:{sandbox_port}/", timeout=5)
        assert browser.status_code == 200

        children = _children_of(demo.pid)
        groups = _process_groups(children) | {os.getpgid(demo.pid)}
        assert len(children) >= 3  # sandbox, web server, django-q2 cluster (and its workers)

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while _alive_in_groups(groups) and time.monotonic() < deadline:
            time.sleep(0.2)  # children finish their own shutdown; poll until the deadline
        assert _alive_in_groups(groups) == []
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()


def test_make_demo_takes_its_ports_and_prints_the_landing_pages_real_url(tmp_path: Path) -> None:
    port, sandbox_port, api_port = free_port(), free_port(), free_port()
    make = subprocess.Popen(
        # -o: the test's .venv is already installed; do not reinstall it from here.
        ["make", "-o", ".venv/.installed", "demo", f"PORT={port}",
         f"SANDBOX_PORT={sandbox_port}", f"SANDBOX_API_PORT={api_port}",
         f"DEMO_STATE={tmp_path / 'state'}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        banner = read_banner(make)
        assert BANNER_END in banner, banner
        landing_url = f"http://127.0.0.1:{port}/contact-us/"
        assert f"Demo content ready: {landing_url}\n" in banner
        assert f"  Landing page:    {landing_url}\n" in banner
        assert "Sandbox login:   " in banner and f":{sandbox_port}" in banner
        assert "/home-example/" not in banner
        page = wait_until(lambda: _get(landing_url), timeout=60, message="the landing page")
        assert page.status_code == 200 and 'name="email"' in page.text
        groups = _process_groups(_children_of(make.pid)) | {os.getpgid(make.pid)}
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        assert make.wait(timeout=60) is not None
        assert make.stdout is not None
        make.stdout.close()
    # make goes at once (passing its SIGTERM on to the demo, which already had one from the
    # group), and the demo's output pipe closes with it, as when a terminal closes; the demo
    # still stops its own children, which must all be gone.
    deadline = time.monotonic() + 30
    while _alive_in_groups(groups) and time.monotonic() < deadline:
        time.sleep(0.2)  # children finish their own shutdown; poll until the deadline
    assert _alive_in_groups(groups) == []


def _get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=5)
    except requests.ConnectionError:
        return None  # runserver is still binding its port
