from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from home.demo_content import build_demo_content

READY_PREFIX = "Demo content ready: "


class Command(BaseCommand):
    help = "Create the demo's superuser, home page and landing page (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", required=True)
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=options["username"],
            defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"},
        )
        if created:
            user.set_password(options["password"])
            user.save()
        content = build_demo_content(port=options["port"])
        # The URL the page is served at (through its Site), not its tree path.
        self.stdout.write(f"{READY_PREFIX}{content.landing.get_full_url()}")
