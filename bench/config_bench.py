"""Benchmark: load and validate a config file with 1,000 form mappings (goal: under a second).

Prints one JSON object. The file is generated into a temporary directory; each mapping has a
record type, a campaign, eight fields (from, from+default, constant, template) like a real one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from wagtail_salesforce.config import load_config

MAPPINGS = 1000
GOAL_SECONDS = 1.0
RUNS = 5


def generate(mappings: int) -> str:
    lines = ["version: 1", "forms:"]
    for index in range(mappings):
        lines += [
            f"  form-{index:04d}:",
            f"    label: Landing page {index} to Lead",
            "    object: Lead",
            "    record_type: Web_Inquiry",
            "    campaign:",
            f"      name: Campaign {index % 17}",
            "      member_status: Responded",
            "    match_on: Email",
            "    external_id: Submission_Id__c",
            "    fields:",
            "      Email: {from: email}",
            "      FirstName: {from: first_name}",
            "      LastName: {from: last_name}",
            '      Company: {from: company, default: "(not provided)"}',
            "      LeadSource: {value: Web}",
            "      HasOptedOutOfEmail: {value: false}",
            f"      Product__c: {{value: product-{index % 9}}}",
            '      Description: {template: "Page {page}\\n{message}"}',
        ]
    lines += [
        "sync:",
        "  match: [Contact, Lead]",
        "  create_as: Lead",
        "  defaults: {Company: '(not provided)'}",
        "  fields:",
        "    first_name: {Lead: FirstName, Contact: FirstName, conflict: newest_wins}",
        "    last_name: {Lead: LastName, Contact: LastName, conflict: newest_wins}",
        "    lead_status: {Lead: Status, direction: from_salesforce}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mappings", type=int, default=MAPPINGS)
    parser.add_argument("--runs", type=int, default=RUNS, help="best of N runs is reported")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "salesforce.yaml"
        path.write_text(generate(args.mappings), encoding="utf-8")
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            config = load_config([path])
            timings.append(time.perf_counter() - started)
        assert len(config.forms) == args.mappings
        size = path.stat().st_size
    best = min(timings)
    print(
        json.dumps(
            {
                "mappings": args.mappings,
                "file_bytes": size,
                "runs": args.runs,
                "load_and_validate_s": round(best, 4),
                "median_s": round(statistics.median(timings), 4),
                "goal_s": GOAL_SECONDS,
                "within_goal": best < GOAL_SECONDS,
            }
        )
    )
    return 0 if best < GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
