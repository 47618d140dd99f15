"""Benchmark of the sandbox server; prints ONE JSON object.

* ``rest_requests_per_s``: simple-salesforce (``requests.Session`` trusting the sandbox CA) doing
  a fixed mix of create / get / update / query calls over loopback TLS, one client thread, with
  the sandbox in a SEPARATE process (client and server do not share a GIL). Goal: >= 500.
* ``peak_rss_mb_100k_leads``: the sandbox process's peak RSS (``VmHWM``) after 100,000 leads were
  loaded through the Bulk API 2.0 and queried (a full SOQL read with queryMore paging, indexed
  look-ups, and a Bulk query). Goal: < 400 MB.

Usage: ``python bench/sandbox_bench.py [--quick]`` (``--quick`` uses smaller numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wagtail_salesforce.sandbox.server import SandboxProcess, launch_sandbox_process  # noqa: E402

API_VERSION = "62.0"
REST_GOAL_PER_S = 500
RSS_GOAL_MB = 400


def _client(process: SandboxProcess) -> Salesforce:
    response = requests.post(f"{process.login_url}/services/oauth2/token", data={
        "grant_type": "password", "client_id": process.client_id,
        "client_secret": process.client_secret, "username": process.username,
        "password": process.password}, timeout=30)
    response.raise_for_status()
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify otherwise
    session.verify = process.ca_file
    return Salesforce(instance_url=process.instance_url,
                      session_id=response.json()["access_token"], session=session,
                      version=API_VERSION)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("VmHWM not found")


def bench_rest(requests_total: int) -> dict[str, Any]:
    """create / get / update / query in rotation; every step is one REST request."""
    process = launch_sandbox_process()
    try:
        sf = _client(process)
        created: list[str] = []
        started = time.perf_counter()
        for step in range(requests_total):
            kind = step % 4
            if kind == 0 or not created:
                result = sf.Lead.create({"LastName": f"Bench{step}", "Company": "Bench Ltd",
                                         "Email": f"bench{step}@example.com"})
                created.append(result["id"])
            elif kind == 1:
                sf.Lead.get(created[-1])
            elif kind == 2:
                sf.Lead.update(created[-1], {"Title": f"Step {step}"})
            else:
                email = f"bench{step - 3}@example.com"
                sf.query(f"SELECT Id, Email FROM Lead WHERE Email = '{email}'")  # noqa: S608
        elapsed = time.perf_counter() - started
        return {
            "rest_requests": requests_total,
            "rest_seconds": round(elapsed, 3),
            "rest_requests_per_s": round(requests_total / elapsed, 1),
            "rest_mix": "create/get/update/query, 1 client thread, sandbox in its own process",
        }
    finally:
        process.stop()


def bench_volume(leads: int, chunk: int) -> dict[str, Any]:
    process = launch_sandbox_process()
    try:
        sf = _client(process)
        with tempfile.TemporaryDirectory() as scratch:
            csv_path = Path(scratch) / "leads.csv"
            with csv_path.open("w", encoding="utf-8") as out:
                out.write("FirstName,LastName,Company,Email,LeadSource\n")
                for number in range(leads):
                    out.write(f"Lead,Number{number},Company {number % 997},"
                              f"lead{number}@example.com,Web\n")
            started = time.perf_counter()
            # bulk2 splits the file into jobs of ``chunk`` rows, one after the other.
            results = sf.bulk2.Lead.insert(csv_file=str(csv_path), batch_size=chunk, wait=0.2)
            load_seconds = time.perf_counter() - started
        failed = sum(result["numberRecordsFailed"] for result in results)
        if failed:
            raise RuntimeError(f"{failed} leads failed to load")

        started = time.perf_counter()
        total = 0
        for _ in sf.query_all_iter("SELECT Id, Email, LastName, Company FROM Lead"):
            total += 1
        emails = ", ".join(f"'lead{n}@example.com'" for n in range(0, leads, max(1, leads // 200)))
        matched = sf.query(f"SELECT Id FROM Lead WHERE Email IN ({emails})")["totalSize"]  # noqa: S608
        bulk_rows = 0
        for page in sf.bulk2.Lead.query("SELECT Id, Email FROM Lead", wait=0.2):
            bulk_rows += page.count("\n") - 1
        query_seconds = time.perf_counter() - started
        if total < leads or bulk_rows < leads or matched == 0:
            raise RuntimeError(f"queries saw {total} / {bulk_rows} rows, {matched} matches")
        return {
            "leads": leads,
            "load_seconds_bulk": round(load_seconds, 2),
            "query_seconds": round(query_seconds, 2),
            "queried_rows_rest": total,
            "queried_rows_bulk": bulk_rows,
            "peak_rss_mb_100k_leads" if leads == 100_000 else "peak_rss_mb": _peak_rss_mb(
                process.pid),
        }
    finally:
        process.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller numbers (a smoke run)")
    args = parser.parse_args(argv)
    rest_total = 800 if args.quick else 4000
    leads = 10_000 if args.quick else 100_000
    # The box is shared: record how busy it was, since throughput depends on free cores.
    result: dict[str, Any] = {"quick": args.quick, "cpus": os.cpu_count(),
                              "load_average_1m_before": round(os.getloadavg()[0], 2)}
    result.update(bench_rest(rest_total))
    result.update(bench_volume(leads, chunk=10_000 if args.quick else 25_000))
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    rss = result.get("peak_rss_mb_100k_leads", result.get("peak_rss_mb"))
    result["goals"] = {
        "rest_requests_per_s>=500": result["rest_requests_per_s"] >= REST_GOAL_PER_S,
        "peak_rss_mb<400": rss is not None and rss < RSS_GOAL_MB,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
