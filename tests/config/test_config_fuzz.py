"""Whatever the input, loading ends in a config or a ConfigError with located issues."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wagtail_salesforce.config import ConfigError, SalesforceConfig, loads

KEYS = st.sampled_from(
    ["version", "forms", "sync", "label", "object", "fields", "from", "value", "template",
     "campaign", "name", "id", "match", "create_as", "direction", "conflict", "Lead", "Email",
     "contact-us", "x"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=8)
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)
    ),
    max_leaves=25,
)


def assert_loads_or_explains(text: str) -> None:
    try:
        config = loads(text, "fuzz.yaml")
    except ConfigError as error:
        assert error.issues
        assert all(issue.file == "fuzz.yaml" and issue.message for issue in error.issues)
        assert all(issue.line is None or issue.line >= 1 for issue in error.issues)
    else:
        assert isinstance(config, SalesforceConfig)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_any_yaml_document_loads_or_is_explained(document: object):
    assert_loads_or_explains(yaml.safe_dump({"version": 1, "forms": document}))
    assert_loads_or_explains(yaml.safe_dump(document))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}[]:-&*!|>'\"#\n x1")), max_size=60))
def test_arbitrary_text_loads_or_is_explained(text: str):
    assert_loads_or_explains(text)


FORM_KEYS = st.sampled_from(
    ["label", "object", "record_type", "campaign", "match_on", "external_id", "fields"]
)
SYNC_KEYS = st.sampled_from(
    ["enabled", "interval_minutes", "match", "create_as", "defaults", "fields"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(FORM_KEYS, DOCUMENTS, max_size=7),
    st.dictionaries(SYNC_KEYS, DOCUMENTS, max_size=6),
)
def test_forms_and_sync_with_any_values_load_or_are_explained(form: object, sync: object):
    document = {"version": 1, "forms": {"contact-us": form}, "sync": sync}
    assert_loads_or_explains(yaml.safe_dump(document))
