"""Salesforce record IDs: 15 case-sensitive characters plus a 3-character case-safe suffix.

Layout of the 15 characters (as in real orgs): a 3-character key prefix naming the object type
(``00Q`` Lead, ``003`` Contact, ...), a 3-character pod/instance part, and a 9-character base-62
counter. The suffix encodes, for each 5-character chunk, which characters are upper-case letters,
so an 18-character id survives case-insensitive systems (spreadsheets, some databases).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

# Standard key prefixes (documented by Salesforce; stable across orgs).
STANDARD_KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "RecordType": "012",
    "Organization": "00D",
    "Lead": "00Q",
    "Task": "00T",
    "CampaignMember": "00v",
    "CampaignMemberStatus": "01Y",
    "Campaign": "701",
}

# The pod/instance part every id minted by the sandbox carries (real orgs: e.g. "5g0").
SANDBOX_POD = "5g0"
COUNTER_WIDTH = 9
MASTER_RECORD_TYPE_ID = "012000000000000AAA"

_ID_SHAPE = re.compile(r"^[0-9A-Za-z]{15}(?:[A-Z0-5]{3})?$")


def checksum_suffix(id15: str) -> str:
    """The three characters Salesforce appends to a 15-character id to make it case-safe."""
    suffix = []
    for chunk_start in (0, 5, 10):
        bits = 0
        for position, char in enumerate(id15[chunk_start : chunk_start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(CHECKSUM_ALPHABET[bits])
    return "".join(suffix)


def to_18(record_id: str) -> str:
    """Return the 18-character form of a 15- or 18-character id.

    An 18-character id is re-derived from its first 15 characters, so a suffix that does not match
    (a mangled id) raises ``ValueError`` like any other malformed id.
    """
    if not is_valid_id(record_id):
        raise ValueError(f"not a Salesforce id: {record_id!r}")
    return record_id[:15] + checksum_suffix(record_id[:15])


def is_valid_id(value: object) -> bool:
    """True for a syntactically valid 15-character id or 18-character id with a correct suffix."""
    if not isinstance(value, str) or not _ID_SHAPE.match(value):
        return False
    if len(value) == 18:
        # Case-insensitive systems may upper-case the suffix only; it is upper-case by definition.
        return value[15:] == checksum_suffix(value[:15])
    return True


def key_prefix(record_id: str) -> str:
    """The object's key prefix: the first three characters of the id."""
    return record_id[:3]


def encode_base62(number: int, width: int) -> str:
    """Base-62 digits of ``number`` left-padded with '0' to ``width`` (ASCII order = numeric)."""
    if number < 0:
        raise ValueError("negative numbers have no base-62 id form")
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(BASE62_ALPHABET[remainder])
    text = "".join(reversed(digits)) or "0"
    if len(text) > width:
        raise ValueError(f"{number} does not fit in {width} base-62 digits")
    return text.rjust(width, "0")


def decode_base62(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + BASE62_ALPHABET.index(char)
    return number


def make_id(prefix: str, counter: int, pod: str = SANDBOX_POD) -> str:
    """Mint the 18-character id number ``counter`` of the object whose key prefix is ``prefix``."""
    if len(prefix) != 3 or len(pod) != 3:
        raise ValueError("key prefix and pod must be 3 characters each")
    return to_18(prefix + pod + encode_base62(counter, COUNTER_WIDTH))


def counter_of(record_id: str) -> int:
    """Inverse of ``make_id`` for sandbox-minted ids (resumes the counters after a restart)."""
    return decode_base62(record_id[6:15])


def custom_key_prefixes(object_names: Iterable[str]) -> dict[str, str]:
    """Stable key prefixes ``a0X``-style for custom objects.

    Each name hashes to a slot in ``a00``..``a0z``/``a10``...; collisions move to the next free slot
    in sorted-name order, so adding an object never changes the prefix of an unrelated one unless it
    collides with it.
    """
    slots = len(BASE62_ALPHABET) * len(BASE62_ALPHABET)
    taken: set[str] = set()
    prefixes: dict[str, str] = {}
    for name in sorted(set(object_names)):
        slot = zlib.crc32(name.encode("utf-8")) % slots
        while True:
            candidate = "a" + BASE62_ALPHABET[slot // 62] + BASE62_ALPHABET[slot % 62]
            if candidate not in taken:
                break
            slot = (slot + 1) % slots
        taken.add(candidate)
        prefixes[name] = candidate
    return prefixes
