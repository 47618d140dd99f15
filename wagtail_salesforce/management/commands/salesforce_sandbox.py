"""``manage.py salesforce_sandbox``: run the local Salesforce-compatible sandbox server.

A thin wrapper over ``python -m wagtail_salesforce.sandbox`` with the same options.
"""

from __future__ import annotations

from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from wagtail_salesforce.sandbox.__main__ import add_arguments, serve


class Command(BaseCommand):
    help = (
        "Run the local Salesforce-compatible sandbox (OAuth, REST, Bulk 2.0). Prints one JSON line "
        "with its URLs and credentials, then serves until interrupted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        status = serve(
            host=options["host"],
            port=options["port"],
            api_port=options["api_port"],
            data=options["data"],
            org=options["org"],
            state_dir=options["state_dir"],
            callback_urls=options["callback_urls"],
            out=cast(TextIO, self.stdout),  # an OutputWrapper: a text stream
        )
        if status != 0:
            raise CommandError(_("The sandbox could not start (see the message above)."))
