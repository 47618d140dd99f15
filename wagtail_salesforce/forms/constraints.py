"""What the org would refuse, told to the visitor at the form.

The rules themselves come from the org's describe (:mod:`wagtail_salesforce.config.constraints`,
shared with the admin's correction of dead letters); here they are put on a visitor's form, with
the picklist's choices where the mapping asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping

from django import forms

from wagtail_salesforce.config.constraints import FieldRules, validators_for


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
        if rule.required:
            form_field.required = True
