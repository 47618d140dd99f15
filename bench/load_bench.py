"""Load bench of the scale-out set-up; prints ONE JSON object.

The example site runs under gunicorn (``--web-workers`` sync workers) on PostgreSQL, with Redis
as django-q2's broker and two django-q2 clusters delivering; the sandbox runs as a separate
process. A bench-only app adds a plain Wagtail form page beside the mixin page (same fields, same
templates), so the mixin is the only difference.

1. **Capacity**, both pages in the same run, probes interleaved (plain, mixin, plain, ...): an
   open-loop load generator offers a fixed arrival rate for ``--probe-seconds``; a rate is
   *sustained* when every request succeeds, at least 95% of the offered rate completes and the
   visitor's p95 latency (measured from the scheduled send time, so queueing counts) stays under
   ``--slo-ms``. Rates grow by 1.5x until one fails, then a bisection narrows the boundary:
   ``plain_max_rate`` and ``mixin_max_rate`` (requests/s), and ``mixin_to_plain`` (goal >= 0.9).
   While a probe runs, the delivery side (clusters, sandbox) is paused, as if it ran on other
   machines (``--no-isolate-web-tier`` lets it compete for this box's CPU instead); it catches
   up between probes. The probes' undelivered backlog is discarded before the main run.
2. **Main run**: the mixin page at ``--rate`` (default 20/s, i.e. 72,000 submissions an hour)
   for ``--duration`` seconds (default 60) while the sandbox injects faults (5xx, lost responses
   after commit, row locks, latency) and, with ``--sandbox-outage S``, stops answering for S
   seconds in the middle. Then the outbox drains (bounded) and every submission is looked up in
   Salesforce: ``lost`` (accepted by the site, not in Salesforce) and ``duplicated`` (extra
   records) must both be 0.

Output keys: ``plain_max_rate``, ``mixin_max_rate``, ``mixin_to_plain``, ``throughput``
(completed requests/s in the main run), ``offered_rate``, ``visitor_latency_ms`` (p50/p95/p99),
``delivery_lag_s`` (p50/p95, submission to delivered), ``submitted``, ``delivered``, ``lost``,
``duplicated``, ``dead_letters``, ``errors``, ``probes`` and the set-up.

Usage: ``python bench/load_bench.py [--duration 60] [--web-workers 4] [--sandbox-outage 0]``.
Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and ``redis-server`` installed (the
bench starts a private one on a free port).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(REPO), str(REPO / "example_site"), str(BENCH)]

import requests  # noqa: E402

from tests.services import (  # noqa: E402
    POSTGRES_HOST,
    POSTGRES_PORT,
    RedisServer,
    SiteProcesses,
    free_port,
    postgres_execute,
    postgres_url_for,
    service_reachable,
    wait_until,
)

API = "/services/data/v62.0"
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FAULTS = (
    {"kind": "latency", "latency_ms": 100, "method": "POST"},
    {"kind": "http_503", "rate": 0.05},
    # Delivery writes in batches through /composite (and a lone create through /sobjects).
    {
        "kind": "lose_response",
        "rate": 0.05,
        "method": "POST",
        "path": r"/(composite|sobjects/Lead)/?$",
    },
    {
        "kind": "unable_to_lock_row",
        "rate": 0.05,
        "method": "POST",
        "path": r"/(composite|sobjects/)",
    },
)
WAGTAIL_SALESFORCE = {
    "TIMEOUT": [3.0, 10.0],
    "OUTBOX_RETRY_BASE_SECONDS": 2.0,
    "OUTBOX_RETRY_MAX_SECONDS": 20.0,
    "OUTBOX_LEASE_SECONDS": 120.0,
    # The load generator stands in for many visitors behind one proxy (this machine): the
    # rate limit counts each visitor's address, as it would behind a real load balancer.
    "TRUSTED_PROXIES": ["127.0.0.1"],
}
Q_CLUSTER = {"workers": 4, "poll": 0.2, "timeout": 100, "retry": 150}


def visitor_address(batch: int, index: int) -> str:
    """A documentation-range address of its own for each simulated visitor (RFC 5737 and
    the benchmarking range 198.18.0.0/15 of RFC 2544)."""
    number = batch * 1_000_000 + index
    return f"198.{18 + (number >> 16) % 2}.{(number >> 8) % 256}.{number % 256}"


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


# --- load generator --------------------------------------------------------------------------


@dataclass
class Outcome:
    email: str
    latency_s: float  # from the scheduled send time: waiting for a free client counts
    ok: bool


class Visitors:
    """An open-loop load generator: request ``i`` is due at ``start + i / rate`` whatever
    happened to the others; a pool of threads (each a visitor with its own cookie jar and CSRF
    token) sends them."""

    def __init__(self, base_url: str, threads: int) -> None:
        self.base_url = base_url
        self.threads = threads
        self.batch = 0  # each run's emails carry its number: "{page}-b{batch}-{index}@..."

    def _visitor(self, path: str) -> tuple[requests.Session, str]:
        session = requests.Session()
        session.trust_env = False
        page = session.get(self.base_url + path, timeout=30)
        page.raise_for_status()
        match = CSRF_INPUT.search(page.text)
        if match is None:
            raise RuntimeError(f"no CSRF token on {path}")
        return session, match.group(1)

    def run(self, path: str, rate: float, seconds: float) -> list[Outcome]:
        self.batch += 1
        batch = self.batch
        total = max(1, round(rate * seconds))
        visitors = [self._visitor(path) for _ in range(self.threads)]
        outcomes: list[Outcome] = []
        lock = threading.Lock()
        counter = iter(range(total))
        start = time.monotonic() + 0.2

        def work(session: requests.Session, token: str) -> None:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                due = start + index / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # the arrival schedule, not a wait for a condition
                email = f"{path.strip('/')}-b{batch}-{index:06d}@load.example"
                data = {
                    "csrfmiddlewaretoken": token,
                    "email": email,
                    "first_name": "Load",
                    "last_name": f"Visitor {index}",
                    "company": "Bench",
                    "message": "",
                }
                try:
                    response = session.post(
                        self.base_url + path,
                        data=data,
                        headers={
                            "Referer": self.base_url + path,
                            "X-Forwarded-For": visitor_address(batch, index),
                        },
                        timeout=30,
                    )
                    ok = response.status_code == 200
                except requests.RequestException:
                    ok = False
                with lock:
                    outcomes.append(Outcome(email, time.monotonic() - due, ok))

        workers = [threading.Thread(target=work, args=visitor) for visitor in visitors]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        for session, _token in visitors:
            session.close()
        return outcomes


def probe_summary(outcomes: list[Outcome], rate: float, seconds: float, slo_ms: float) -> dict:
    latencies = [o.latency_s * 1000 for o in outcomes if o.ok]
    errors = sum(1 for o in outcomes if not o.ok)
    # Completion rate: requests done within the probe window plus the SLO allowance.
    completed_in_time = sum(1 for o in outcomes if o.ok and o.latency_s * 1000 <= slo_ms)
    p95 = percentile(latencies, 0.95)
    sustained = (
        errors == 0
        and completed_in_time >= 0.95 * len(outcomes)
        and p95 is not None
        and p95 <= slo_ms
    )
    return {
        "rate": round(rate, 2),
        "seconds": seconds,
        "requests": len(outcomes),
        "errors": errors,
        "p50_ms": round(percentile(latencies, 0.5) or 0, 1),
        "p95_ms": round(p95 or 0, 1),
        "sustained": sustained,
    }


class Background:
    """The delivery side (cluster process groups, the sandbox): paused while the web tier's
    capacity is probed, as if it ran on machines of its own; it catches up in between."""

    def __init__(self, groups: list[int], pids: list[int]) -> None:
        self.groups = groups
        self.pids = pids

    def _signal(self, sig: signal.Signals) -> None:
        for group in self.groups:
            os.killpg(group, sig)
        for pid in self.pids:
            os.kill(pid, sig)

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)


def find_max_rates(
    visitors: Visitors,
    paths: dict[str, str],
    seconds: float,
    slo_ms: float,
    start_rate: float,
    background: Background | None,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The highest sustained rate of each page; probes of both pages interleaved per step.
    With ``background``, it is paused during each probe."""
    probes: list[dict[str, Any]] = []
    best = dict.fromkeys(paths, 0.0)
    failed: dict[str, float | None] = dict.fromkeys(paths, None)

    def probe(name: str, rate: float) -> bool:
        if background is not None:
            background.pause()
        try:
            outcomes = visitors.run(paths[name], rate, seconds)
        finally:
            if background is not None:
                background.resume()
        summary = probe_summary(outcomes, rate, seconds, slo_ms)
        probes.append({"page": name, **summary})
        if summary["sustained"]:
            best[name] = max(best[name], rate)
        else:
            current = failed[name]
            failed[name] = rate if current is None else min(current, rate)
        return bool(summary["sustained"])

    rate = start_rate
    while any(failed[name] is None for name in paths) and rate < 2000:
        for name in paths:
            if failed[name] is None:
                probe(name, rate)
        rate *= 1.5
    for _ in range(3):  # bisection: each step halves the gap between sustained and failed
        for name in paths:
            upper = failed[name]
            if upper is not None and upper - best[name] > 1.0:
                probe(name, (best[name] + upper) / 2)
    return best, probes


def renice_threads(pid: int, niceness: int) -> None:
    """Linux keeps niceness per thread: renice every thread of ``pid`` (the threads they start
    later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)


# --- the site --------------------------------------------------------------------------------


class Sandbox:
    """The sandbox CLI as a subprocess, with a REST session of the bench's own."""

    def __init__(self) -> None:
        from wagtail_salesforce.sandbox.server import launch_sandbox_process

        self.process = launch_sandbox_process()
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = self.process.ca_file
        token = self.session.post(
            f"{self.process.login_url}/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": self.process.client_id,
                "client_secret": self.process.client_secret,
                "username": self.process.username,
                "password": self.process.password,
            },
            timeout=10,
        )
        token.raise_for_status()
        self.token = token.json()
        self.session.headers["Authorization"] = f"Bearer {self.token['access_token']}"
        self.process.control("POST", "daily_limit", {"max": 10_000_000})

    def emails(self, like: str) -> collections.Counter[str]:
        counts: collections.Counter[str] = collections.Counter()
        url = f"{self.process.instance_url}{API}/query"
        if not re.fullmatch(r"[a-z0-9%_.@-]+", like):
            raise ValueError(f"unsafe LIKE pattern {like!r}")
        soql = f"SELECT Email FROM Lead WHERE Email LIKE '{like}'"  # noqa: S608 - checked above
        response = self.session.get(url, params={"q": soql}, timeout=60)
        while True:
            response.raise_for_status()
            page = response.json()
            counts.update(str(record["Email"]).lower() for record in page["records"])
            if page["done"]:
                return counts
            response = self.session.get(
                self.process.instance_url + page["nextRecordsUrl"], timeout=60
            )

    def stop(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)  # never leave it frozen
        self.process.stop()


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    if not service_reachable(POSTGRES_HOST, POSTGRES_PORT):
        raise SystemExit(f"PostgreSQL is not reachable on {POSTGRES_HOST}:{POSTGRES_PORT}")
    with tempfile.TemporaryDirectory(prefix="load-bench-") as workdir:
        log_dir = Path(workdir)
        database = f"wsf_load_bench_{os.getpid()}"
        postgres_execute(f'CREATE DATABASE "{database}"')
        redis = RedisServer(free_port(), log_dir / "redis.log")
        redis.start()
        site: SiteProcesses | None = None
        sandbox: Sandbox | None = None
        try:
            site = SiteProcesses.for_services(
                postgres_url_for(database),
                redis.url,
                ca_file="",
                log_dir=log_dir,
                settings_module="loadbench_app.settings",
                extra_env={
                    "PYTHONPATH": os.pathsep.join(
                        [str(REPO), str(REPO / "example_site"), str(BENCH)]
                    ),
                    "DJANGO_DEBUG": "0",
                    "LOAD_BENCH_WAGTAIL_SALESFORCE": json.dumps(WAGTAIL_SALESFORCE),
                    "LOAD_BENCH_Q_CLUSTER": json.dumps(Q_CLUSTER),
                },
            )
            sandbox = Sandbox()
            site.env["SALESFORCE_CA_FILE"] = sandbox.process.ca_file
            site.env["SALESFORCE_ALLOWED_LOGIN_HOSTS"] = "127.0.0.1"
            setup = json.loads(
                site.python(
                    "-m",
                    "loadbench_app.site_setup",
                    "setup",
                    sandbox.process.login_url,
                    sandbox.process.client_id,
                    sandbox.process.client_secret,
                    json.dumps(sandbox.token),
                ).splitlines()[-1]
            )
            port = free_port()
            site.start(
                "gunicorn",
                "-m",
                "gunicorn",
                "example_site.wsgi",
                "--workers",
                str(arguments.web_workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--graceful-timeout",
                "5",
            )
            base_url = f"http://127.0.0.1:{port}"
            wait_until(
                lambda: service_reachable("127.0.0.1", port, timeout=0.2),
                60,
                "gunicorn did not start\n" + site.logs_tail(),
            )
            # One box plays several machines: the workers and "Salesforce" get the CPU the web
            # tier leaves (as they would on machines of their own); their lag shows the cost.
            renice_threads(sandbox.process.pid, arguments.background_nice)
            clusters = [
                site.start_qcluster("cluster-a", nice=arguments.background_nice),
                site.start_qcluster("cluster-b", nice=arguments.background_nice),
            ]
            background = (
                Background([c.pid for c in clusters], [sandbox.process.pid])
                if arguments.isolate_web_tier
                else None
            )
            paths = {"plain": "/plain/", "mixin": "/mixin/"}
            visitors = Visitors(base_url, threads=arguments.threads)
            for path in paths.values():  # warm every worker's code paths and connections
                visitors.run(path, rate=20, seconds=1)

            max_rates, probes = find_max_rates(
                visitors,
                paths,
                arguments.probe_seconds,
                arguments.slo_ms,
                arguments.start_rate,
                background,
            )
            rate = arguments.rate
            # The probes' submissions are capacity-test traffic: drop their undelivered backlog
            # so the main run's delivery lag and exactly-once check are its own.
            discarded = json.loads(
                site.python("-m", "loadbench_app.site_setup", "discard-open").splitlines()[-1]
            )["discarded"]

            for fault in FAULTS:
                sandbox.process.control("POST", "faults", fault)
            # Salesforce stops answering in the middle of the run (SIGSTOP), then comes back.
            outage_timers: list[threading.Timer] = []
            if arguments.sandbox_outage:
                pid = sandbox.process.pid
                begin = (arguments.duration - arguments.sandbox_outage) / 2
                outage_timers = [
                    threading.Timer(begin, os.kill, (pid, signal.SIGSTOP)),
                    threading.Timer(
                        begin + arguments.sandbox_outage, os.kill, (pid, signal.SIGCONT)
                    ),
                ]
                for timer in outage_timers:
                    timer.start()
            main_started = time.monotonic()
            outcomes = visitors.run(paths["mixin"], rate, arguments.duration)
            main_seconds = time.monotonic() - main_started
            for timer in outage_timers:
                timer.join()
            os.kill(sandbox.process.pid, signal.SIGCONT)
            sandbox.process.control("DELETE", "faults")

            accepted = {o.email for o in outcomes if o.ok}
            main_batch = f"b{visitors.batch}"

            def report() -> dict[str, Any]:
                return json.loads(
                    site.python("-m", "loadbench_app.site_setup", "report").splitlines()[-1]
                )

            drain_deadline = time.monotonic() + arguments.drain_seconds
            while True:
                figures = report()
                open_entries = sum(
                    count
                    for state, count in figures["states"].items()
                    if state in ("pending", "retrying", "paused")
                )
                if not open_entries or time.monotonic() > drain_deadline:
                    break
                time.sleep(2)  # a Django process per look: poll gently
            in_salesforce = sandbox.emails(f"mixin-{main_batch}-%")
        finally:
            if site is not None:
                site.stop_all()
            if sandbox is not None:
                sandbox.stop()
            redis.stop()
            postgres_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    latencies = [o.latency_s * 1000 for o in outcomes if o.ok]
    lags = [figures["lags"][email] for email in accepted if email in figures["lags"]]
    open_states = {"pending", "retrying", "paused"}
    per_email = figures["per_email"]
    # Lost: accepted from a visitor, yet neither in Salesforce nor still queued for delivery.
    lost = len(
        [
            email
            for email in accepted
            if in_salesforce[email] == 0 and not open_states & set(per_email.get(email, []))
        ]
    )
    still_queued = len([email for email in accepted if open_states & set(per_email.get(email, []))])
    duplicated = sum(count - 1 for count in in_salesforce.values() if count > 1)
    return {
        "plain_max_rate": round(max_rates["plain"], 2),
        "mixin_max_rate": round(max_rates["mixin"], 2),
        "mixin_to_plain": round(max_rates["mixin"] / max_rates["plain"], 3)
        if max_rates["plain"]
        else None,
        "offered_rate": round(rate, 2),
        "duration_s": arguments.duration,
        "throughput": round(len(latencies) / main_seconds, 2),
        "visitor_latency_ms": {
            "p50": round(percentile(latencies, 0.5) or 0, 1),
            "p95": round(percentile(latencies, 0.95) or 0, 1),
            "p99": round(percentile(latencies, 0.99) or 0, 1),
        },
        "delivery_lag_s": {
            "p50": round(percentile(lags, 0.5) or 0, 2),
            "p95": round(percentile(lags, 0.95) or 0, 2),
        },
        "submitted": len(accepted),
        "errors": len(outcomes) - len(accepted),
        "delivered": len(lags),
        "outbox_states": figures["states"],
        "lost": lost,
        "still_queued_at_deadline": still_queued,
        "probe_backlog_discarded": discarded,
        "duplicated": duplicated,
        "dead_letters": figures["states"].get("dead", 0),
        "faults": list(FAULTS),
        "sandbox_outage_s": arguments.sandbox_outage,
        "probes": probes,
        "setup": {
            "web_workers": arguments.web_workers,
            "clusters": 2,
            "cluster_workers": Q_CLUSTER["workers"],
            "load_threads": arguments.threads,
            "background_nice": arguments.background_nice,
            "web_tier_isolated_during_probes": arguments.isolate_web_tier,
            "slo_ms": arguments.slo_ms,
            "probe_seconds": arguments.probe_seconds,
            "cpu_count": os.cpu_count(),
            "pages": setup["pages"],
            "database": "postgresql",
            "broker": "redis",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="main run seconds (60)")
    parser.add_argument("--rate", type=float, default=20.0, help="main run rate (20/s)")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument("--threads", type=int, default=32, help="load generator threads (32)")
    parser.add_argument("--probe-seconds", type=float, default=5.0, help="per probe (5)")
    parser.add_argument("--start-rate", type=float, default=5.0, help="first probe rate (5/s)")
    parser.add_argument("--slo-ms", type=float, default=1000.0, help="p95 limit (1000 ms)")
    parser.add_argument("--sandbox-outage", type=float, default=0.0, help="Salesforce down (s)")
    parser.add_argument(
        "--background-nice",
        type=int,
        default=19,
        help="CPU niceness of the clusters and the sandbox (19; 0 = compete with the web tier)",
    )
    parser.add_argument(
        "--isolate-web-tier",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pause clusters and sandbox during capacity probes (default: yes)",
    )
    parser.add_argument("--drain-seconds", type=float, default=300.0, help="drain bound (300)")
    arguments = parser.parse_args()
    for name in ("duration", "rate", "probe_seconds", "start_rate", "slo_ms", "drain_seconds"):
        if getattr(arguments, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if not 0 <= arguments.background_nice <= 19:
        parser.error("--background-nice must be between 0 and 19")
    if arguments.web_workers < 1 or arguments.threads < 1:
        parser.error("--web-workers and --threads must be at least 1")
    if not 0 <= arguments.sandbox_outage < arguments.duration:
        parser.error("--sandbox-outage must be between 0 and --duration")
    print(json.dumps(run(arguments)), flush=True)


if __name__ == "__main__":
    main()
