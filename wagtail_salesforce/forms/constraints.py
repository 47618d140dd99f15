"""What the org would refuse, told to the visitor at the form.

The rules themselves come from the org's describe (:mod:`wagtail_salesforce.config.constraints`,
shared with the admin's correction of dead letters); here they are put on a visitor's form, with
the picklist's choices where the mapping asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping

from django import forms

from wagtail_salesforce.config.constraints import FieldRules, validators_for

# Inputs where the visitor types text (``maxlength`` applies to these only).
TEXT_INPUT_TYPES = frozenset({"text", "email", "tel", "url", "search"})


def apply_rules(form: forms.Form, rules: Mapping[str, FieldRules]) -> None:
    """Give the form's fields their Salesforce rules and, where asked, the picklist's choices."""
    for name, rule in rules.items():
        form_field = form.fields.get(name)
        if form_field is None:
            continue
        if rule.choices_from_salesforce and rule.picklist and hasattr(form_field, "choices"):
            blank = [("", "---------")] if isinstance(form_field.widget, forms.Select) else []
            form_field.choices = [*blank, *rule.picklist.items()]
        form_field.validators = [*form_field.validators, *validators_for(rule)]
        if rule.max_length is not None:
            _limit_length(form_field.widget, rule.max_length)
        if rule.required:
            form_field.required = True


def _limit_length(widget: forms.Widget, max_length: int) -> None:
    """The browser stops the visitor at the org's length, as Django does for a CharField's own
    ``max_length`` (the validator still checks what is posted)."""
    if isinstance(widget, forms.Textarea) or (
        isinstance(widget, forms.widgets.Input) and widget.input_type in TEXT_INPUT_TYPES
    ):
        current = widget.attrs.get("maxlength")
        limit = min(int(current), max_length) if current else max_length
        widget.attrs["maxlength"] = str(limit)
