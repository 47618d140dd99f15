"""`make demo`: the sandbox, the example site and a django-q2 cluster in one foreground command.

Ctrl-C (or SIGTERM) stops every process it started. State lives in ``.demo/`` at the repository
root (the site's SQLite database and the sandbox's records), so a second run keeps what the first
one made. Delete ``.demo/`` to start over.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

EXAMPLE_DIR = Path(__file__).resolve().parent
REPO_DIR = EXAMPLE_DIR.parent
STATE_DIR = REPO_DIR / ".demo"
# setup_demo's last line; kept in step with home/management/commands/setup_demo.py.
READY_PREFIX = "Demo content ready: "

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a local demo account, printed to the user


def _start(cmd: list[str], env: dict[str, str], name: str, **kwargs: object) -> subprocess.Popen:
    print(f"[demo] starting {name}: {' '.join(cmd)}", flush=True)
    # A new process group per child, so Ctrl-C in this terminal reaches only us and we stop them.
    return subprocess.Popen(cmd, env=env, cwd=EXAMPLE_DIR, start_new_session=True, **kwargs)  # noqa: S603


def _read_sandbox_facts(stdout: IO[str]) -> dict[str, object]:
    """The sandbox's first stdout line: one JSON object with its URLs and credentials."""
    line = stdout.readline()
    if not line:
        raise RuntimeError("the sandbox exited before printing its start-up line")
    return json.loads(line)


def _manage(args: list[str], env: dict[str, str]) -> str:
    """Run ``manage.py ARGS``; returns what it printed (also shown to the user)."""
    done = subprocess.run(  # noqa: S603 - our interpreter and manage.py
        [sys.executable, "manage.py", *args], env=env, cwd=EXAMPLE_DIR, check=True,
        stdout=subprocess.PIPE, text=True,
    )
    print(done.stdout, end="", flush=True)
    return done.stdout


def _landing_url(setup_output: str) -> str:
    """The landing page's URL, from ``setup_demo``'s "Demo content ready: URL" line."""
    for line in setup_output.splitlines():
        if line.startswith(READY_PREFIX):
            return line.removeprefix(READY_PREFIX).strip()
    raise RuntimeError(f"setup_demo did not say where the landing page is: {setup_output!r}")


def _say(message: str) -> None:
    """Print a status line; a closed terminal or pipe (the parent went first) must not stop
    the shutdown, or the children would outlive the demo."""
    with contextlib.suppress(OSError):
        print(message, flush=True)


def _stop(processes: list[tuple[str, subprocess.Popen]]) -> None:
    for name, process in reversed(processes):
        if process.poll() is None:
            _say(f"[demo] stopping {name}")
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for _name, process in processes:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # `make demo PORT=8100 SANDBOX_PORT=8101 SANDBOX_API_PORT=8444` passes these.
    parser.add_argument("--port", type=int, default=8000, help="the example site's port")
    parser.add_argument("--sandbox-port", type=int, default=8001, help="sandbox login/browser port")
    parser.add_argument("--sandbox-api-port", type=int, default=8443, help="sandbox HTTPS API port")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR,
                        help="where the database and the sandbox's records are kept")
    options = parser.parse_args(argv)

    state_dir: Path = options.state_dir.resolve()  # children run in example_site/
    state_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["SQLITE_PATH"] = str(state_dir / "db.sqlite3")
    env["DJANGO_SETTINGS_MODULE"] = "example_site.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env["WAGTAILADMIN_BASE_URL"] = f"http://127.0.0.1:{options.port}"

    processes: list[tuple[str, subprocess.Popen]] = []

    def on_signal(signum: int, _frame: object) -> None:
        # One signal starts the shutdown; a second one must not interrupt it half-way (make
        # passes its own SIGTERM on to us after the process group already had one), or the
        # children would outlive the demo.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    # Installed explicitly: a process started in the background inherits an ignored SIGINT.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sandbox = _start(
            [
                sys.executable, "-m", "wagtail_salesforce.sandbox",
                "--host", "127.0.0.1",
                "--port", str(options.sandbox_port),
                "--api-port", str(options.sandbox_api_port),
                "--state-dir", str(state_dir / "sandbox-tls"),
                "--data", str(state_dir / "sandbox.sqlite3"),
                # The connected app accepts this site's callback whatever --port says.
                "--callback-url",
                f"http://127.0.0.1:{options.port}/admin/salesforce/oauth/callback/",
                "--callback-url",
                f"http://localhost:{options.port}/admin/salesforce/oauth/callback/",
            ],
            env, "the Salesforce sandbox", stdout=subprocess.PIPE, text=True,
        )
        processes.append(("sandbox", sandbox))
        assert sandbox.stdout is not None
        facts = _read_sandbox_facts(sandbox.stdout)
        env["SALESFORCE_CA_FILE"] = str(facts["ca_file"])
        env["SALESFORCE_ALLOWED_LOGIN_HOSTS"] = urlsplit(str(facts["login_url"])).netloc

        _manage(["migrate", "--noinput", "-v0"], env)
        landing_url = _landing_url(_manage(
            ["setup_demo", "--username", DEMO_USERNAME, "--password", DEMO_PASSWORD,
             "--port", str(options.port)], env,
        ))

        processes.append(("web", _start(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{options.port}", "--noreload"],
            env, "the example site")))
        processes.append(("qcluster", _start(
            [sys.executable, "manage.py", "qcluster"], env, "the django-q2 cluster")))

        site = f"http://127.0.0.1:{options.port}"
        print(
            "\n"
            "================ wagtail-salesforce demo ================\n"
            f"  Site:            {site}/\n"
            f"  Landing page:    {landing_url}\n"
            f"  Wagtail admin:   {site}/admin/\n"
            f"  Admin login:     {DEMO_USERNAME} / {DEMO_PASSWORD}\n"
            f"  Salesforce sandbox records: {facts['login_url']}/\n"
            f"  Sandbox login:   {facts['username']} / {facts['password']}\n"
            f"  Consumer key:    {facts['client_id']}\n"
            f"  Consumer secret: {facts['client_secret']}\n"
            f"  Login URL:       {facts['login_url']}\n"
            "\n"
            "  Try it: in the admin open Settings > Salesforce, paste the login URL, consumer key\n"
            "  and secret above, Save, click Connect, log in at the sandbox and Allow.\n"
            "  Then submit the landing-page form: within seconds the Lead (with its record type,\n"
            "  in the campaign \"Autumn Webinar\") shows in the sandbox's record browser, and\n"
            "  Reports > Salesforce outbox shows the delivery.\n"
            "  Press Ctrl-C to stop everything.\n"
            "==========================================================\n",
            flush=True,
        )
        while True:
            for name, process in processes:
                if process.poll() is not None:
                    print(f"[demo] {name} exited with {process.returncode}; stopping", flush=True)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(processes)
        _say("[demo] stopped")


if __name__ == "__main__":
    sys.exit(main())
