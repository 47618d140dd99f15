"""Our Japanese catalogue leaves Wagtail's and Django's words alone.

Django merges every installed app's catalogue into one, so a msgid we translate without a
context replaces Wagtail's or Django's translation of the same msgid on their own screens (the
page explorer's "Updated", the users list's "Admin"). Short shared words therefore carry a
pgettext context, or reuse the msgid with the translation Wagtail gives it.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from pathlib import Path

import django
import pytest
import wagtail
from django.utils import translation

import wagtail_salesforce

OURS = Path(wagtail_salesforce.__file__).parent / "locale" / "ja" / "LC_MESSAGES" / "django.mo"


def catalogue(mo_file: Path) -> dict[object, str]:
    """msgid (or ``(msgid, n)`` for plurals; ``"context\\x04msgid"`` with a context) -> msgstr."""
    with mo_file.open("rb") as file:
        translations = gettext.GNUTranslations(file)
    messages: dict[object, str] = translations._catalog  # type: ignore[attr-defined]
    return {key: value for key, value in messages.items() if key not in ("", ("", 0))}


def japanese_catalogues(package_root: Path) -> Iterator[Path]:
    yield from sorted(package_root.glob("**/locale/ja/LC_MESSAGES/django.mo"))


def theirs() -> dict[object, dict[str, str]]:
    """Every msgid of Wagtail's and Django's Japanese catalogues -> {translation: app}."""
    found: dict[object, dict[str, str]] = {}
    for root in (Path(wagtail.__file__).parent, Path(django.__file__).parent):
        for mo_file in japanese_catalogues(root):
            app = str(mo_file.parent.parent.parent.parent.relative_to(root.parent))
            for key, value in catalogue(mo_file).items():
                found.setdefault(key, {}).setdefault(value, app)
    return found


def without_context(key: object) -> bool:
    msgid = key[0] if isinstance(key, tuple) else key
    return "\x04" not in str(msgid)


def test_the_catalogues_are_found() -> None:
    assert OURS.is_file()
    assert len(theirs()) > 1000  # Wagtail's and Django's Japanese, not an empty glob


def test_no_msgid_we_translate_without_context_changes_wagtails_or_djangos_words() -> None:
    others = theirs()
    clashes = [
        f"{key!r}: ours {ours!r}, {app} says {translation!r}"
        for key, ours in catalogue(OURS).items()
        if without_context(key)
        for translation, app in others.get(key, {}).items()
        if translation != ours
    ]
    assert clashes == []


@pytest.mark.parametrize(("msgid", "wagtail_says"), [("Updated", "更新"), ("Admin", "管理者")])
def test_the_words_the_issue_names_keep_wagtails_translation(msgid: str, wagtail_says: str) -> None:
    with translation.override("ja"):
        assert translation.gettext(msgid) == wagtail_says
