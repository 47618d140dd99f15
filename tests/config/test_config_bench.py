"""The benchmark runs and reports one JSON object (its timing goal is judged by `make bench`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_loads_1000_mappings_and_prints_one_json_object():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "bench/config_bench.py", "--runs", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    [line] = result.stdout.splitlines()
    report = json.loads(line)
    assert report["mappings"] == 1000
    assert report["goal_s"] == 1.0
    assert report["runs"] == 1
    assert 0 < report["load_and_validate_s"] == report["median_s"]
    assert result.returncode == (0 if report["within_goal"] else 1)
