"""What the org would refuse, from a describe: the rules each form field of a mapping takes.

Built from a describe (the one stored by :mod:`wagtail_salesforce.config.metadata`, so a
visitor's request never calls Salesforce). Each form field that feeds a Salesforce field gains
that field's maximum length, required-ness, email, picklist, number, date and boolean rules,
as Django validators whose messages are in the reader's language.

Here, beside the mapping, because two screens judge form values by the same rules: the visitor's
form (``forms.constraints.apply_rules``) and the admin's correction of a dead letter
(``admin.corrections``), which may not import the form pipeline.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from .metadata import cached_metadata
from .model import FormMapping, From

TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "encryptedstring"})
NUMBER_TYPES = frozenset({"double", "currency", "percent"})
INTEGER_TYPES = frozenset({"int", "long"})
# The address shape Salesforce accepts: a dotted domain, so ``grace@localhost`` is refused
# (INVALID_EMAIL_ADDRESS), unlike Django's EmailValidator which allows ``localhost``.
SALESFORCE_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
BOOLEAN_WORDS = frozenset({"true", "false", "1", "0", "yes", "no", "on", "off"})
# Salesforce fields whose values are folded to one width and trimmed (by type, or by name for
# postal codes, which are plain text fields).
NORMALISED_TYPES = frozenset({"email", "phone"})


@dataclass
class FieldRules:
    """The constraints one form field takes from the Salesforce fields it feeds."""

    max_length: int | None = None
    required: bool = False
    email: bool = False
    picklist: dict[str, str] = field(default_factory=dict)  # value -> label (active values)
    restricted: bool = False
    multiple: bool = False
    kind: str = ""  # "number", "integer", "date", "datetime", "boolean" or ""
    choices_from_salesforce: bool = False
    normalise: bool = False


def describe_fields(describe: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    return {str(f["name"]).lower(): f for f in (describe or {}).get("fields") or []}


def is_normalised_field(salesforce_field: str, described: Mapping[str, Any] | None) -> bool:
    """Email, phone and postal-code fields (by describe type, or by name without one)."""
    name = salesforce_field.lower()
    if name.endswith("postalcode"):
        return True
    if described is not None:
        return described.get("type") in NORMALISED_TYPES
    return name.endswith(("email", "phone", "fax"))


def _is_required(described: Mapping[str, Any], source: From) -> bool:
    return (
        not described.get("nillable", True)
        and bool(described.get("createable", True))
        and not described.get("defaultedOnCreate", False)
        and described.get("type") != "boolean"
        and not source.has_default
    )


def rules_for(
    mapping: FormMapping,
    describe: Mapping[str, Any] | None,
    record_type_values: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, FieldRules]:
    """Form field clean name -> its rules (normalising is known without a describe).

    ``record_type_values`` (picklist field -> {value: label}) are the values the mapping's
    record type offers: a picklist it names takes those instead of the describe's, which lists
    every value of the object."""
    fields = describe_fields(describe)
    by_record_type = {str(k).lower(): v for k, v in (record_type_values or {}).items()}
    rules: dict[str, FieldRules] = {}
    for salesforce_field, source in mapping.fields.items():
        if not isinstance(source, From):
            continue
        described = fields.get(salesforce_field.lower())
        rule = rules.setdefault(source.name, FieldRules())
        rule.normalise |= source.normalise and is_normalised_field(salesforce_field, described)
        if described is None:
            continue
        type_ = str(described.get("type") or "")
        length = int(described.get("length") or 0)
        if type_ in TEXT_TYPES and length:
            rule.max_length = min(rule.max_length or length, length)
        rule.required |= _is_required(described, source)
        rule.email |= type_ == "email"
        if type_ in ("picklist", "multipicklist"):
            offered = by_record_type.get(salesforce_field.lower())
            rule.picklist = (
                dict(offered)
                if offered is not None
                else {
                    str(v["value"]): str(v.get("label") or v["value"])
                    for v in described.get("picklistValues") or []
                    if v.get("active", True)
                }
            )
            rule.restricted = bool(described.get("restrictedPicklist"))
            rule.multiple = type_ == "multipicklist"
            rule.choices_from_salesforce |= source.choices_from_salesforce
        elif type_ in NUMBER_TYPES:
            rule.kind = "number"
        elif type_ in INTEGER_TYPES:
            rule.kind = "integer"
        elif type_ in ("date", "datetime", "boolean"):
            rule.kind = type_
    return rules


def normalise_text(value: str) -> str:
    """Width-folded (NFKC: ``ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ`` -> ``taro@example.com``,
    ``０３－１２３４－５６７８`` -> ``03-1234-5678``) and trimmed."""
    return unicodedata.normalize("NFKC", value).strip()


def validate_salesforce_email(value: Any) -> None:
    if value and not SALESFORCE_EMAIL.match(str(value)):
        raise ValidationError(
            _("Enter an email address with a full domain, such as name@example.com."),
            code="salesforce_email",
        )


def _picklist_validator(allowed: Mapping[str, str]) -> Callable[[Any], None]:
    def validate(value: Any) -> None:
        chosen = value if isinstance(value, list | tuple) else [value]
        for item in chosen:
            if item not in (None, "") and str(item) not in allowed:
                raise ValidationError(
                    _("“%(value)s” is not one of the choices accepted here."),
                    params={"value": item},
                    code="salesforce_picklist",
                )

    return validate


def _format_validator(kind: str) -> Callable[[Any], None]:
    messages = {
        "number": _("Enter a number."),
        "integer": _("Enter a whole number."),
        "date": _("Enter a date as YYYY-MM-DD."),
        "datetime": _("Enter a date and time as YYYY-MM-DD HH:MM."),
        "boolean": _("Enter yes or no."),
    }

    def parses(text: str) -> bool:
        try:
            if kind == "number":
                float(text)
            elif kind == "integer":
                int(text)
            elif kind == "date":
                dt.date.fromisoformat(text)
            elif kind == "datetime":
                dt.datetime.fromisoformat(text)
            else:
                return text.lower() in BOOLEAN_WORDS
        except ValueError:
            return False
        return True

    def validate(value: Any) -> None:
        # Typed Django fields (a Wagtail number, date or checkbox field) arrive parsed already.
        if isinstance(value, str) and value.strip() and not parses(value.strip()):
            raise ValidationError(messages[kind], code=f"salesforce_{kind}")

    return validate


def validators_for(rule: FieldRules) -> list[Callable[[Any], None]]:
    """The Django validators of ``rule`` (required-ness is the field's own ``required``)."""
    validators: list[Callable[[Any], None]] = []
    if rule.max_length is not None:
        validators.append(MaxLengthValidator(rule.max_length))
    if rule.email:
        validators.append(validate_salesforce_email)
    if rule.restricted and rule.picklist:
        validators.append(_picklist_validator(rule.picklist))
    if rule.kind:
        validators.append(_format_validator(rule.kind))
    return validators


def cached_rules(site_id: int, mapping: FormMapping) -> dict[str, FieldRules]:
    """The rules from the site's cached describe (and record type), without calling Salesforce."""
    describe, by_record_type = cached_metadata(site_id, mapping.object, mapping.record_type)
    return rules_for(mapping, describe, by_record_type)
