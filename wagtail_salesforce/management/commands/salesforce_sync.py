"""``manage.py salesforce_sync [--site HOST] [--full] [--dry-run] [--format text|json]``

Runs one sync cycle by hand (the schedule runs the same cycle every ``interval_minutes``).
``--full`` ignores the watermarks and reads every record; ``--dry-run`` reads from Salesforce
and reports what would change without writing anywhere. Exit codes: 0 done, 1 the cycle failed
or finished with errors, 2 not connected / not configured, 3 another worker holds the lease.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from wagtail.models import Site

from wagtail_salesforce.exceptions import SalesforceError
from wagtail_salesforce.sync.models import SyncRunStatus
from wagtail_salesforce.sync.service import run_cycle, sync_blocker


class Command(BaseCommand):
    help = "Run one Salesforce sync cycle for a site."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--site",
            metavar="HOST",
            help="hostname of the Wagtail site to sync (default: the default site)",
        )
        parser.add_argument(
            "--full", action="store_true", help="ignore the watermarks: read every record"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="report what would change without writing to Salesforce or the database",
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        site = self._site(options.get("site"))
        problem = sync_blocker(site)
        if problem is not None:  # said at once, as "Sync now" does
            raise CommandError(
                _("Site %(site)s cannot sync: %(error)s")
                % {"site": site.hostname, "error": problem},
                returncode=2,
            )
        try:
            outcome = run_cycle(site, full=options["full"], dry_run=options["dry_run"])
        except SalesforceError as error:
            raise CommandError(
                _("Site %(site)s cannot sync: %(error)s") % {"site": site.hostname, "error": error},
                returncode=2,
            ) from None
        run = outcome.run
        if run is None:
            raise CommandError(
                _("Another worker is syncing %(site)s right now; nothing was done.")
                % {"site": site.hostname},
                returncode=3,
            )
        # The command lists the errors themselves; a task's result only counts them.
        summary = {"site": site.hostname, **run.summary(), "errors": run.errors}
        if options["format"] == "json":
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                _(
                    "%(site)s: %(status)s. Pulled %(pulled)d, pushed %(pushed)d (created "
                    "%(created)d, updated %(updated)d), conflicts %(conflicts)d, duplicates "
                    "%(duplicates)d, API calls %(api_calls)d."
                )
                % summary
            )
            for problem in run.errors:
                self.stdout.write(f"  - {problem.get('email', '')} {problem['message']}")
        if run.status in (SyncRunStatus.FAILED, SyncRunStatus.PARTIAL):
            raise CommandError(
                _("The sync of %(site)s finished with errors.") % {"site": site.hostname},
                returncode=1,
            )

    def _site(self, hostname: str | None) -> Site:
        if hostname:
            site = Site.objects.filter(hostname=hostname).first()
            if site is None:
                raise CommandError(_("No Wagtail site has hostname %(host)s.") % {"host": hostname})
            return site
        site = Site.objects.filter(is_default_site=True).first()
        if site is None:
            raise CommandError(_("There is no default Wagtail site; pass --site HOST."))
        return site
