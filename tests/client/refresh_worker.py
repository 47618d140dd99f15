"""One worker process of the cross-process refresh test (see test_client_for.py).

It builds ``client_for`` the default site, prints ``ready``, waits (bounded) for the start file,
runs one query and prints a JSON line with the outcome.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    import django

    django.setup()
    from wagtail.models import Site

    from wagtail_salesforce.connection.credentials import client_for

    client = client_for(Site.objects.get(is_default_site=True))
    print("ready", flush=True)
    start_file = Path(os.environ["CLIENT_TEST_START_FILE"])
    deadline = time.monotonic() + 30
    while not start_file.exists():
        if time.monotonic() > deadline:
            print(json.dumps({"ok": False, "error": "no start signal"}), flush=True)
            return 1
        time.sleep(0.01)
    try:
        total = client.query("SELECT Id FROM Lead")["totalSize"]
    except Exception as error:  # reported to the parent test
        print(json.dumps({"ok": False, "error": repr(error)}), flush=True)
        return 1
    print(json.dumps({"ok": True, "total": total, "api_calls": client.api_calls}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
