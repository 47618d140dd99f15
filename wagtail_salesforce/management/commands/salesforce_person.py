"""``manage.py salesforce_person export|erase EMAIL [...]``: access and erasure requests.

``export`` writes everything the plugin holds about the person as JSON (to stdout, or
``--output FILE``); ``erase`` erases it (the admin's "Personal data requests" does the same),
asking first unless ``--yes``. Exit codes: 0 done, 1 refused or not confirmed (nothing
erased), 2 Salesforce could not be reached or refused a change (nothing erased here).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from wagtail_salesforce.admin.exports import log_person_export
from wagtail_salesforce.people.access import JSON_ENCODER, find_person
from wagtail_salesforce.people.erasure import (
    ErasureRefused,
    SalesforceChoice,
    allowed_choices,
    configured_choice,
    erase_person,
)


class Command(BaseCommand):
    help = "Export or erase everything the Salesforce plugin holds about one person."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["export", "erase"])
        parser.add_argument("email", help="the person's email (any spelling)")
        parser.add_argument("--output", metavar="FILE", help="export: write the JSON here")
        parser.add_argument(
            "--salesforce",
            choices=SalesforceChoice.values,
            help="erase: what to do to the Salesforce records (default: ERASURE_SALESFORCE; "
            "never more than it allows)",
        )
        parser.add_argument("--yes", action="store_true", help="erase without asking")
        parser.add_argument(
            "--user", metavar="USERNAME", help="who asked, for the audit log (default: nobody)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._user(options.get("user"))
        person = find_person(options["email"])
        if not person.email:
            raise CommandError(_("Enter an email address."))
        if options["action"] == "export":
            self._export(person, user, options.get("output"))
        else:
            self._erase(person, user, options)

    def _user(self, username: str | None) -> Any:
        if not username:
            return None
        model = get_user_model()
        try:
            return model._default_manager.get_by_natural_key(username)
        except model.DoesNotExist:
            raise CommandError(_("No user is called %(name)s.") % {"name": username}) from None

    def _export(self, person: Any, user: Any, output: str | None) -> None:
        text = json.dumps(person.document(), cls=JSON_ENCODER, ensure_ascii=False, indent=2)
        log_person_export(user, person_hash=person.hash, rows=sum(person.counts().values()))
        if output:
            Path(output).write_text(text + "\n", encoding="utf-8")
        else:
            self.stdout.write(text)

    def _erase(self, person: Any, user: Any, options: dict[str, Any]) -> None:
        choice = SalesforceChoice(options.get("salesforce") or configured_choice())
        if choice not in allowed_choices():
            raise CommandError(
                _("ERASURE_SALESFORCE does not allow erasure to %(choice)s Salesforce records.")
                % {"choice": choice.value}
            )
        counts = ", ".join(f"{name}: {count}" for name, count in person.counts().items())
        if not options["yes"]:
            question = _(
                "Erase everything held about %(email)s (%(counts)s; Salesforce records: "
                "%(choice)s)? This cannot be undone. Type yes to go on: "
            ) % {"email": person.email, "counts": counts, "choice": choice.label}
            if input(question).strip().lower() != "yes":
                raise CommandError(_("Not confirmed; nothing was erased."))
        try:
            result = erase_person(person.email, salesforce=choice, user=user)
        except ErasureRefused as error:
            raise CommandError(str(error), returncode=2) from None
        self.stdout.write(json.dumps(result.summary()))
