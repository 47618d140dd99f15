"""bench/form_bench.py runs and prints one JSON object with the issue's keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_form_bench_reports_every_variant_and_no_salesforce_calls() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "form_bench.py"), "--requests", "3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.strip()]
    report = json.loads(line)
    variants = ("mixin", "mixin_salesforce_slow", "mixin_salesforce_down", "mixin_queues_wakeup")
    for variant in ("plain", *variants):
        assert set(report[variant]) == {"median_ms", "p95_ms"}
        assert 0 < report[variant]["median_ms"] <= report[variant]["p95_ms"]
    assert report["overhead_ratio"] == round(
        report["mixin"]["median_ms"] / report["plain"]["median_ms"], 3
    )
    assert report["wakeup_ratio"] == round(
        report["mixin_queues_wakeup"]["median_ms"] / report["plain"]["median_ms"], 3
    )
    # Four mixin variants x (3 measured + 1 warm-up) POSTs stored; Salesforce never called.
    assert report["outbox_entries_queued"] == 16
    assert report["salesforce_calls_during_posts"] == 0
    # Each measured mixin_queues_wakeup POST queued a delivery task; other POSTs in its wake-up
    # window queued none.
    assert 3 <= report["delivery_tasks_queued"] < 16
    # A POST while Salesforce answers after 2 s still returns in well under that.
    assert report["mixin_salesforce_slow"]["p95_ms"] < report["salesforce_latency_ms_when_slow"]
