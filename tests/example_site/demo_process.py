"""Starting ``example_site/demo.py`` from a test: free ports, the process, and its banner."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BANNER_END = "Press Ctrl-C to stop everything."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Demo:
    process: subprocess.Popen[str]
    port: int
    sandbox_port: int
    banner: str
    # Everything the demo printed after its banner (read on, so a full pipe never blocks it).
    later_output: list[str] = field(default_factory=list)


def read_banner(process: subprocess.Popen[str]) -> str:
    """The demo's output up to the end of its banner (or all of it, if it exits first)."""
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        if BANNER_END in line:
            break
    return "".join(lines)


def start_demo(state_dir: Path) -> Demo:
    """Start the demo on free ports and read its output up to the end of its banner (or until
    it exits). The caller stops it; ``banner`` lacks BANNER_END if the demo failed to start."""
    port, sandbox_port, api_port = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, str(REPO / "example_site" / "demo.py"), "--port", str(port),
         "--sandbox-port", str(sandbox_port), "--sandbox-api-port", str(api_port),
         "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    demo = Demo(process, port, sandbox_port, read_banner(process))
    stdout = process.stdout
    threading.Thread(target=lambda: demo.later_output.extend(stdout), daemon=True).start()
    return demo
