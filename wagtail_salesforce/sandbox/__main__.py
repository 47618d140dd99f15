"""Command line: ``python -m wagtail_salesforce.sandbox [--host H] [--port N] [--api-port N]
[--data FILE] [--org FILE] [--callback-url URL ...]``.

Prints ONE JSON line with ``login_url``, ``instance_url``, ``ca_file``, ``client_id``,
``client_secret``, ``callback_urls``, ``username`` and ``password`` first, then serves until
SIGINT/SIGTERM and exits 0 after closing the data file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from .orgfile import OrgFileError, load_org_definition
from .server import Sandbox

# What signal.signal() returns and accepts back: a function, SIG_DFL/SIG_IGN, or None.
SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def build_parser(prog: str = "python -m wagtail_salesforce.sandbox") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a local Salesforce-compatible server (OAuth, REST, Bulk 2.0).",
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The CLI's options (shared with ``manage.py salesforce_sandbox``)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0,
                        help="login host port: browser pages and OAuth, plain HTTP (0 = free port)")
    parser.add_argument("--api-port", type=int, default=0,
                        help="API host port: REST and Bulk over HTTPS (0 = free port)")
    parser.add_argument("--data", default=None,
                        help="SQLite file keeping the records across restarts (default: memory)")
    parser.add_argument("--org", default=None, help="org definition YAML (default: built-in org)")
    parser.add_argument("--state-dir", default=None,
                        help="directory for the generated CA and certificate (default: a temp dir)")
    parser.add_argument("--callback-url", action="append", default=[], dest="callback_urls",
                        metavar="URL",
                        help="also accept this OAuth callback URL on the org's first connected "
                        "app, as an administrator adds one in Salesforce (repeatable)")


def _check_port(value: int, name: str) -> None:
    if not 0 <= value <= 65535:
        raise SystemExit(f"{name} must be between 0 and 65535, got {value}")


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_port: int = 0,
    data: str | None = None,
    org: str | None = None,
    state_dir: str | None = None,
    callback_urls: Sequence[str] = (),
    out: TextIO | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """Start the sandbox, print its JSON line, serve until a signal (or ``stop_event``)."""
    out = out or sys.stdout
    _check_port(port, "--port")
    _check_port(api_port, "--api-port")
    try:
        definition = load_org_definition(org)
    except (OrgFileError, OSError) as error:
        print(f"salesforce sandbox: cannot load the org file: {error}", file=sys.stderr)
        return 2
    if callback_urls:
        if not definition.connected_apps:
            print("salesforce sandbox: --callback-url needs an org with a connected app",
                  file=sys.stderr)
            return 2
        first, *others = definition.connected_apps
        extended = dataclasses.replace(
            first, callback_urls=(*first.callback_urls, *callback_urls)
        )
        definition = dataclasses.replace(definition, connected_apps=(extended, *others))
    try:
        sandbox = Sandbox(
            definition, data_path=data, host=host, login_port=port, api_port=api_port,
            state_dir=Path(state_dir) if state_dir else None,
        )
    except OSError as error:
        print(f"salesforce sandbox: cannot start: {error}", file=sys.stderr)
        return 2
    stop = stop_event or threading.Event()
    previous: dict[signal.Signals, SignalHandler] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        sandbox.start()
        out.write(json.dumps(sandbox.startup_info()) + "\n")
        out.flush()
        stop.wait()
    finally:
        sandbox.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return serve(host=args.host, port=args.port, api_port=args.api_port, data=args.data,
                 org=args.org, state_dir=args.state_dir, callback_urls=args.callback_urls)


if __name__ == "__main__":
    sys.exit(main())
