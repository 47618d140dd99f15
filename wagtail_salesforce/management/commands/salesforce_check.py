"""``manage.py salesforce_check [--site HOST] [--format text|json]``

Validates the YAML config offline, then against the connected org's metadata: objects and fields
exist and are writable as needed, constants fit their fields, required fields are mapped, record
types and campaigns exist and are active. Exit status: 0 when the config fits, 1 when the config
has problems, 2 when the site is not connected or Salesforce cannot be asked (for CI).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from wagtail_salesforce.config import ConfigError, ConfigIssue, get_config
from wagtail_salesforce.config.errors import ERROR
from wagtail_salesforce.config.metadata import refresh_describes
from wagtail_salesforce.config.online import ClientOrgMetadata, check_against_org
from wagtail_salesforce.connection.credentials import client_for
from wagtail_salesforce.exceptions import NotConnected, SalesforceError


class Command(BaseCommand):
    help = "Check the Salesforce YAML config against the connected org's metadata."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--site",
            metavar="HOST",
            help="hostname of the Wagtail site whose connection to use (default: the default site)",
        )
        parser.add_argument(
            "--format",
            choices=["text", "json"],
            default="text",
            help="text (default) or json (one object, for CI)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output_format: str = options["format"]
        try:
            config = get_config()
        except ConfigError as error:
            self._report(output_format, error.issues, site=None, stage="offline")
            raise CommandError(self._summary(error.issues), returncode=1) from None
        site = self._site(options.get("site"))
        # The connection first: without one there is no org to fit, whatever the config says.
        try:
            client = client_for(site)
        except NotConnected as error:
            raise CommandError(
                _(
                    "Site %(site)s is not connected to Salesforce: %(error)s Connect it in the "
                    "Wagtail admin under Settings → Salesforce, then run this command again."
                )
                % {"site": site.hostname, "error": error},
                returncode=2,
            ) from None
        if not config.forms and config.sync is None:
            if output_format == "json":
                self._report(output_format, [], site=site.hostname, stage="online")
            self.stderr.write(_("The config has no forms and no sync section: nothing to check."))
            return
        try:
            metadata = ClientOrgMetadata(client)
            issues = check_against_org(config, metadata)
            # The forms validate against these; the client has them already (no extra call).
            refresh_describes(
                site.pk, config, metadata.describe, picklist_values=client.picklist_values
            )
        except NotConnected as error:
            raise CommandError(
                _("Site %(site)s is not connected to Salesforce: %(error)s")
                % {"site": site.hostname, "error": error},
                returncode=2,
            ) from None
        except SalesforceError as error:
            raise CommandError(
                _("Salesforce could not be asked: %(error)s") % {"error": error}, returncode=2
            ) from None
        self._report(output_format, issues, site=site.hostname, stage="online")
        if any(issue.severity == ERROR for issue in issues):
            raise CommandError(self._summary(issues), returncode=1)

    def _site(self, hostname: str | None) -> Any:
        from wagtail.models import Site

        if hostname:
            site = Site.objects.filter(hostname=hostname).first()
            if site is None:
                known = ", ".join(Site.objects.values_list("hostname", flat=True)) or "-"
                raise CommandError(
                    _("No Wagtail site has hostname %(host)s (known: %(known)s).")
                    % {"host": hostname, "known": known}
                )
            return site
        site = Site.objects.filter(is_default_site=True).first()
        if site is None:
            raise CommandError(_("There is no default Wagtail site; pass --site HOST."))
        return site

    def _summary(self, issues: list[ConfigIssue]) -> str:
        errors = sum(1 for issue in issues if issue.severity == ERROR)
        return ngettext(
            "%(count)d problem in the Salesforce config.",
            "%(count)d problems in the Salesforce config.",
            errors,
        ) % {"count": errors}

    def _report(
        self, output_format: str, issues: list[ConfigIssue], *, site: str | None, stage: str
    ) -> None:
        errors = [issue for issue in issues if issue.severity == ERROR]
        if output_format == "json":
            payload = {
                "ok": not errors,
                "stage": stage,
                "site": site,
                "errors": len(errors),
                "warnings": len(issues) - len(errors),
                "issues": [issue.as_dict() for issue in issues],
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        for issue in issues:
            self.stdout.write(str(issue))
        if not errors:
            self.stdout.write(
                self.style.SUCCESS(_("The Salesforce config fits the org of %(site)s."))
                % {"site": site}
            )
