"""bench/sync_bench.py runs end to end and reports one JSON object with every field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_sync_bench_prints_one_json_object_meeting_the_call_goals() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "sync_bench.py"),
            "--leads",
            "60",
            "--naive-sample",
            "20",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    (run,) = report["runs"]
    assert {
        "leads",
        "api_calls",
        "wall_s",
        "peak_rss_mb",
        "naive_api_calls",
        "naive_wall_s",
    } <= set(run)
    assert run["leads"] == 60 and run["naive_api_calls"] == 60
    # 60 new leads: a pull, one look-up call, one write call; then one pull-back call.
    assert run["api_calls"] == 4
    assert report["idle_cycle_api_calls"] == 1
