"""Read YAML config files, validate them (JSON Schema + semantic rules) and build the model.

Parsing is safe (no Python tags), refuses duplicate keys at any depth, and refuses documents whose
aliases expand without bound ("billion laughs"). Every problem is reported with file, line and
dotted path; all problems of all files are collected before anything is raised.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import string
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from django.conf import settings
from jsonschema import Draft202012Validator, ValidationError

from wagtail_salesforce import conf

from .errors import ConfigError, ConfigIssue, did_you_mean, dotted
from .model import (
    DEFAULT_ACTIVITY_SUBJECT,
    Activity,
    CampaignRef,
    Conflict,
    Constant,
    Direction,
    FieldSource,
    FormMapping,
    From,
    Location,
    OnUpdate,
    SalesforceConfig,
    SpamLimits,
    SyncConfig,
    SyncField,
    Template,
)

# Nodes that aliases may add beyond those written in the document. Generous for sharing a block
# of fields between many forms; far below what an alias bomb expands to.
MAX_ALIAS_EXPANSION = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_PLACEHOLDER = re.compile(r"^[A-Za-z0-9_]+$")
_ID_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SYNC_RULE_KEYS = ("direction", "conflict")
# CampaignMember links a campaign to a Lead or a Contact only.
CAMPAIGN_OBJECTS = frozenset({"Lead", "Contact"})
# A Task's WhoId names a Lead or a Contact only.
ACTIVITY_OBJECTS = frozenset({"Lead", "Contact"})

# libyaml's parser when available (several times faster); the pure-Python one otherwise.
_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path_ = tuple[str | int, ...]
Mark = tuple[int, int]  # 1-based line, column


class _MarkedDict(dict[Any, Any]):
    """A mapping that remembers where each of its keys was written."""

    __slots__ = ("key_marks", "mark")

    def __init__(self, mark: Mark) -> None:
        super().__init__()
        self.mark = mark
        self.key_marks: dict[Any, Mark] = {}


class _MarkedList(list[Any]):
    """A sequence that remembers where each of its items was written."""

    __slots__ = ("item_marks", "mark")

    def __init__(self, mark: Mark) -> None:
        super().__init__()
        self.mark = mark
        self.item_marks: list[Mark] = []


def _mark(node: yaml.Node) -> Mark:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package (the same as the repository's config/schema.json)."""
    text = resources.files("wagtail_salesforce.config").joinpath("schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validators() -> tuple[Draft202012Validator, Draft202012Validator, Draft202012Validator]:
    """Validators for the document, one form mapping, and one field source.

    Together they apply exactly the published schema, split at ``forms.*`` and
    ``forms.*.fields.*`` so that identical field sources (most are: ``{from: email}``) are
    validated once per file instead of once per form: a 1,000-form file stays well under a second.
    """
    published = schema()
    defs = published["$defs"]
    document = _inline_refs(published, defs)
    document["properties"]["forms"]["additionalProperties"] = True
    form = _inline_refs(defs["formMapping"], defs)
    form["properties"]["fields"]["additionalProperties"] = True
    source = _inline_refs(defs["fieldSource"], defs)
    return (
        Draft202012Validator(document),
        Draft202012Validator(form),
        Draft202012Validator(source),
    )


def _inline_refs(node: Any, defs: Mapping[str, Any]) -> Any:
    """A copy of ``node`` with each local ``$ref`` replaced by its definition (saves lookups).

    The schema has no recursive references, and a ``$ref`` never shares a validation keyword with
    its siblings (only ``description``), so merging is equivalent to applying both.
    """
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _inline_refs(value, defs) for key, value in node.items() if key != "$defs"}
    reference = result.pop("$ref", None)
    if reference is not None:
        target = _inline_refs(defs[reference.removeprefix("#/$defs/")], defs)
        result = {**target, **result}
    return result


def _iter_schema_errors(data: Any) -> Iterator[ValidationError]:
    """Every schema error in ``data`` with its absolute path (see ``_validators``)."""
    document, form_validator, source_validator = _validators()
    yield from document.iter_errors(data)
    forms = data.get("forms")
    if not isinstance(forms, dict):
        return
    seen_sources: dict[str, list[ValidationError]] = {}
    for key, form in forms.items():
        for error in form_validator.iter_errors(form):
            error.path.extendleft(reversed(("forms", key)))
            yield error
        fields = form.get("fields") if isinstance(form, dict) else None
        if not isinstance(fields, dict):
            continue
        for name, spec in fields.items():
            fingerprint = json.dumps(spec, sort_keys=True, default=repr)
            if fingerprint not in seen_sources:
                seen_sources[fingerprint] = list(source_validator.iter_errors(spec))
            for error in seen_sources[fingerprint]:
                rooted = copy.copy(error)
                rooted.path = rooted.relative_path = deque(
                    ("forms", key, "fields", name, *error.relative_path)
                )
                yield rooted


# --- parsing ----------------------------------------------------------------------------------


class _FileReader:
    """Turns one file's text into marked data, collecting every issue rather than the first."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[ConfigIssue] = []
        self._loader: Any = None
        self._converted: dict[int, Any] = {}

    def issue(self, mark: Mark | None, path: Path_, message: str, hint: str = "") -> None:
        line, column = mark if mark else (None, None)
        self.issues.append(ConfigIssue(self.file, line, column, dotted(path), message, hint))

    def parse(self, text: str) -> Any:
        loader = _BaseLoader(text)
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            position = (mark.line + 1, mark.column + 1) if mark else None
            problem = " ".join(p for p in (error.context, error.problem) if p)
            self.issue(position, (), f"not valid YAML: {problem}")
            return None
        except yaml.YAMLError as error:
            self.issue(None, (), f"not valid YAML: {error}")
            return None
        if node is None:
            self.issue((1, 1), (), "the file is empty (it needs at least 'version: 1')")
            return None
        # Without an anchor ('&') there can be no alias: skip the expansion count.
        if "&" in text and not self._aliases_are_bounded(node):
            return None
        self._loader = loader
        try:
            return self._convert(node, ())
        except RecursionError:
            self.issue(_mark(node), (), "the document is nested too deeply")
            return None

    def _aliases_are_bounded(self, root: yaml.Node) -> bool:
        """Refuse recursive aliases and documents whose aliases expand past MAX_ALIAS_EXPANSION."""
        sizes: dict[int, int] = {}
        in_progress: set[int] = set()

        def expanded_size(node: yaml.Node) -> int:
            key = id(node)
            if key in sizes:
                return sizes[key]
            if key in in_progress:
                raise _RecursiveAlias(node)
            in_progress.add(key)
            size = 1
            if isinstance(node, yaml.SequenceNode):
                size += sum(expanded_size(child) for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                size += sum(expanded_size(k) + expanded_size(v) for k, v in node.value)
            in_progress.discard(key)
            sizes[key] = size
            return size

        try:
            total = expanded_size(root)
        except _RecursiveAlias as error:
            self.issue(_mark(error.node), (), "an alias refers to the node that contains it")
            return False
        except RecursionError:
            self.issue(_mark(root), (), "the document is nested too deeply")
            return False
        if total - len(sizes) > MAX_ALIAS_EXPANSION:
            self.issue(
                _mark(root),
                (),
                f"aliases expand the document by {total - len(sizes):,} nodes, more than the "
                f"{MAX_ALIAS_EXPANSION:,} allowed",
                "this looks like an alias bomb; write the values out instead",
            )
            return False
        return True

    def _convert(self, node: yaml.Node, path: Path_) -> Any:
        if node.tag == _STR_TAG:
            return node.value  # what SafeConstructor would build, without its overhead
        if isinstance(node, yaml.ScalarNode):
            try:
                return self._loader.construct_object(node, deep=True)
            except yaml.constructor.ConstructorError as error:
                self.issue(_mark(node), path, f"unsupported value: {error.problem}")
                return None
        # An aliased collection is converted once and shared, as PyYAML does.
        key = id(node)
        if key in self._converted:
            return self._converted[key]
        if isinstance(node, yaml.MappingNode):
            result: Any = self._convert_mapping(node, path)
        else:
            if node.tag != "tag:yaml.org,2002:seq":
                self.issue(_mark(node), path, f"unsupported tag {node.tag!r} on a list")
            result = _MarkedList(_mark(node))
            for index, child in enumerate(node.value):
                result.append(self._convert(child, (*path, index)))
                result.item_marks.append(_mark(child))
        self._converted[key] = result
        return result

    def _convert_mapping(self, node: yaml.MappingNode, path: Path_) -> _MarkedDict:
        if node.tag != "tag:yaml.org,2002:map":
            self.issue(_mark(node), path, f"unsupported tag {node.tag!r} on a mapping")
        result = _MarkedDict(_mark(node))
        key_marks = result.key_marks
        merged: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            start = key_node.start_mark
            mark = (start.line + 1, start.column + 1)
            if key_node.tag == _STR_TAG:
                key = key_node.value
            elif key_node.tag == _MERGE_TAG:
                is_list = isinstance(value_node, yaml.SequenceNode)
                sources = value_node.value if is_list else [value_node]
                merged.extend(s for s in sources if isinstance(s, yaml.MappingNode))
                continue
            else:
                key = self._convert(key_node, path)
                if not isinstance(key, str):
                    self.issue(
                        mark,
                        path,
                        f"key {key_node.value!r} is read as {type(key).__name__}, not text",
                        f"quote it: '{key_node.value}'",
                    )
                    continue
            if key in key_marks:
                self.issue(
                    mark,
                    (*path, key),
                    f"duplicate key '{key}' (first defined on line {key_marks[key][0]})",
                )
                continue
            key_marks[key] = mark
            result[key] = self._convert(value_node, (*path, key))
        # Merge keys ("<<: *base"): the mapping's own keys win over merged ones.
        for source in merged:
            source_data = self._convert(source, path)
            for key, value in source_data.items():
                if key not in result:
                    result[key] = value
                    key_marks[key] = source_data.key_marks[key]
        return result


class _RecursiveAlias(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


# --- locating ---------------------------------------------------------------------------------


def _locate(data: Any, path: Sequence[str | int]) -> Mark | None:
    """The mark of the key (or list item) at ``path``; the nearest found ancestor's otherwise."""
    found: Mark | None = getattr(data, "mark", (1, 1))
    node = data
    for part in path:
        if isinstance(node, _MarkedDict) and part in node.key_marks:
            found = node.key_marks[part]
            node = node[part]
        elif isinstance(node, _MarkedList) and isinstance(part, int) and part < len(node):
            found = node.item_marks[part]
            node = node[part]
        else:
            break
    return found


# --- schema errors ----------------------------------------------------------------------------

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true/false",
    "null": "null",
}


def _describe_value(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"a {type(value).__name__} ({value})"


def _schema_issues(reader: _FileReader, data: Any) -> None:
    by_path: dict[Path_, list[tuple[bool, Mark | None, Path_, str, str]]] = {}
    for error in _iter_schema_errors(data):
        for is_type_error, path, message, hint in _translate(error):
            mark = _locate(data, path)
            by_path.setdefault(tuple(error.absolute_path), []).append(
                (is_type_error, mark, path, message, hint)
            )
    reported: set[tuple[Path_, str]] = set()
    for entries in by_path.values():
        # A value of the wrong type makes every other complaint about it noise.
        if any(entry[0] for entry in entries):
            entries = [entry for entry in entries if entry[0]]
        for _is_type, mark, path, message, hint in entries:
            # jsonschema reports e.g. each missing required key as a separate error.
            if (path, message) not in reported:
                reported.add((path, message))
                reader.issue(mark, path, message, hint)


def _translate(error: ValidationError) -> Iterator[tuple[bool, Path_, str, str]]:
    path: Path_ = tuple(error.absolute_path)
    keyword = error.validator
    schema_here: Any = error.schema
    # jsonschema types these as possibly unset; a reported error always has them.
    instance: Any = error.instance
    rule: Any = error.validator_value
    if "propertyNames" in error.schema_path:
        # The instance is the offending key itself.
        message = schema_here.get("x-pattern-message") or error.message
        yield False, (*path, instance), f"key '{instance}': {message}", ""
        return
    if keyword == "additionalProperties":
        allowed = list(schema_here.get("properties", {}))
        for key in instance:
            if key not in allowed:
                yield False, (*path, key), f"unknown key '{key}'", did_you_mean(key, allowed)
    elif keyword == "required":
        for key in rule:
            if key not in instance:
                yield False, path, f"missing required key '{key}'", ""
    elif keyword == "type":
        expected = rule
        expected = [expected] if isinstance(expected, str) else expected
        names = [_TYPE_NAMES.get(t, t) for t in expected]
        wanted = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        hint = ""
        if isinstance(instance, dt.date):
            hint = f"quote it: '{instance.isoformat()}'"
        is_field_source = len(path) == 4 and path[0] == "forms" and path[2] == "fields"
        if isinstance(instance, str) and "object" in expected and is_field_source:
            hint = f"did you mean {{from: {instance}}}?"
        yield True, path, f"expected {wanted}, got {_describe_value(instance)}", hint
    elif keyword == "enum":
        options = [str(option) for option in rule]
        yield (
            False,
            path,
            f"{instance!r} is not one of: {', '.join(options)}",
            did_you_mean(instance, options),
        )
    elif keyword == "const":
        yield False, path, f"must be {rule!r}, not {instance!r}", ""
    elif keyword == "pattern":
        message = schema_here.get("x-pattern-message") or "has the wrong form"
        yield False, path, f"{instance!r}: {message}", ""
    elif keyword in {"minLength", "minItems", "minProperties"}:
        yield False, path, "must not be empty", ""
    elif keyword == "uniqueItems":
        repeated = [item for index, item in enumerate(instance) if item in instance[:index]]
        what = repr(repeated[0]) if repeated else "an item"
        yield False, path, f"lists {what} more than once", ""
    elif keyword == "minimum":
        yield False, path, f"must be at least {rule}, not {instance}", ""
    elif keyword == "maximum":
        yield False, path, f"must be at most {rule}, not {instance}", ""
    elif keyword == "oneOf":
        message = schema_here.get("x-oneOf-message") or error.message
        present = instance if isinstance(instance, dict) else {}
        given = [key for key in ("from", "value", "template", "name", "id") if key in present]
        detail = f" (found {', '.join(repr(k) for k in given)})" if given else ""
        yield False, path, f"{message}{detail}", ""
    elif keyword == "dependentRequired":
        for key, needs in rule.items():
            if key in instance:
                for needed in needs:
                    if needed not in instance:
                        yield False, (*path, key), f"'{key}' is only allowed with '{needed}'", ""
    else:
        yield False, path, error.message, ""


# --- semantic rules ---------------------------------------------------------------------------


def template_names(template: str) -> tuple[list[str], str | None]:
    """Placeholder names in order, and a problem description (None if well-formed)."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        return names, f"malformed template: {error}"
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "":
            return names, "malformed template: empty placeholder '{}'"
        if not _PLACEHOLDER.match(name) or name.isdigit():
            return names, (
                f"malformed template: placeholder {{{name}}} is not a form field name "
                "(letters, digits and '_'); write {{ and }} for literal braces"
            )
        if spec or conversion:
            return names, (
                f"malformed template: placeholder {{{name}}} may not have '!' or ':' parts"
            )
        if name not in names:
            names.append(name)
    return names, None


def salesforce_id_checksum(id15: str) -> str:
    """The 3-character case checksum that makes a 15-character Salesforce Id 18 characters."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(id15[start : start + 5]) if "A" <= char <= "Z")
        suffix += _ID_CHECKSUM_ALPHABET[bits]
    return suffix


def _semantic_issues(reader: _FileReader, data: Mapping[str, Any]) -> None:
    def issue(path: Path_, message: str, hint: str = "") -> None:
        reader.issue(_locate(data, path), path, message, hint)

    forms = data.get("forms")
    if isinstance(forms, dict):
        for key, form in forms.items():
            if isinstance(form, dict):
                _check_form(issue, ("forms", key), form)
    sync = data.get("sync")
    if isinstance(sync, dict):
        _check_sync(issue, sync)


def _check_form(issue: Any, path: Path_, form: Mapping[str, Any]) -> None:
    fields = form.get("fields")
    fields = fields if isinstance(fields, dict) else {}
    for name, source in fields.items():
        if isinstance(source, dict) and isinstance(source.get("template"), str):
            _names, problem = template_names(source["template"])
            if problem:
                issue((*path, "fields", name, "template"), problem)
    match_on = form.get("match_on")
    for name, source in fields.items():
        on_update = source.get("on_update") if isinstance(source, dict) else None
        if on_update is None:
            continue
        if name == match_on and on_update == "append":
            issue(
                (*path, "fields", name, "on_update"),
                f"'{name}' is the match_on field: appending to it would change the value "
                "records are found by",
                "remove on_update here, or use keep",
            )
        elif name == form.get("external_id"):
            issue(
                (*path, "fields", name, "on_update"),
                f"'{name}' is the external_id field: it identifies the record and is never updated",
                "remove on_update here",
            )
    activity = form.get("activity")
    sobject = form.get("object")
    wants_activity = activity is not None and activity is not False
    if wants_activity and isinstance(sobject, str) and sobject not in ACTIVITY_OBJECTS:
        issue(
            (*path, "activity"),
            f"a Task can be recorded on a Lead or a Contact only, not on {sobject}",
            "remove 'activity', or map the form to Lead or Contact",
        )
    if isinstance(activity, dict) and isinstance(activity.get("subject"), str):
        _names, problem = template_names(activity["subject"])
        if problem:
            issue((*path, "activity", "subject"), problem)
    if isinstance(match_on, str) and fields and match_on not in fields:
        issue(
            (*path, "match_on"),
            f"'{match_on}' is not one of this form's fields, so there is no value to match on",
            did_you_mean(match_on, fields),
        )
    if form.get("record_type") is not None and "RecordTypeId" in fields:
        issue(
            (*path, "fields", "RecordTypeId"),
            "give either 'record_type' or a RecordTypeId field, not both",
        )
    campaign = form.get("campaign")
    if isinstance(campaign, dict) and isinstance(sobject, str) and sobject not in CAMPAIGN_OBJECTS:
        issue(
            (*path, "campaign"),
            f"only Lead or Contact records can join a campaign, not {sobject}",
        )
    if isinstance(campaign, dict) and isinstance(campaign.get("id"), str):
        campaign_id = campaign["id"]
        if len(campaign_id) == 18 and re.fullmatch(r"[A-Za-z0-9]{18}", campaign_id):
            expected = salesforce_id_checksum(campaign_id[:15])
            if campaign_id[15:] != expected:
                issue(
                    (*path, "campaign", "id"),
                    f"'{campaign_id}' is not a valid 18-character Id (its last 3 characters, the "
                    "case checksum, do not match the first 15)",
                    f"did you mean '{campaign_id[:15]}{expected}'?",
                )


def _check_sync(issue: Any, sync: Mapping[str, Any]) -> None:
    match = sync.get("match")
    match = [m for m in match if isinstance(m, str)] if isinstance(match, list) else []
    create_as = sync.get("create_as")
    if isinstance(create_as, str) and match and create_as not in match:
        issue(
            ("sync", "create_as"),
            f"'{create_as}' must also be listed in sync.match ({', '.join(match)})",
        )
    fields = sync.get("fields")
    if not isinstance(fields, dict):
        return
    targets: dict[tuple[str, str], str] = {}
    for name, spec in fields.items():
        path: Path_ = ("sync", "fields", name)
        if name == "email":
            issue(path, "email is always the sync key; it is not listed in sync.fields")
            continue
        if not isinstance(spec, dict):
            continue
        objects = {k: v for k, v in spec.items() if k not in _SYNC_RULE_KEYS}
        for obj, field_name in objects.items():
            if obj not in match:
                issue(
                    (*path, obj),
                    f"'{obj}' is neither a rule ('direction', 'conflict') nor an object in "
                    f"sync.match ({', '.join(match)})",
                    did_you_mean(obj, [*match, *_SYNC_RULE_KEYS]),
                )
                continue
            if isinstance(field_name, str):
                if field_name == "Email":
                    issue((*path, obj), "Email is the sync key and is always kept in step")
                elif (obj, field_name) in targets:
                    issue(
                        (*path, obj),
                        f"{obj}.{field_name} is already synced with local field "
                        f"'{targets[(obj, field_name)]}'",
                    )
                else:
                    targets[(obj, field_name)] = name
        if not objects:
            issue(path, "names no Salesforce field: add e.g. 'Lead: FirstName'")
        direction = spec.get("direction", "both")
        if "conflict" in spec and direction in {"to_salesforce", "from_salesforce"}:
            issue(
                (*path, "conflict"),
                f"a conflict rule applies only to direction 'both', not '{direction}'",
            )


# --- building the model -----------------------------------------------------------------------


def _location(file: str, data: Any, path: Path_) -> Location:
    line, column = _locate(data, path) or (1, 1)
    return Location(file, line, column)


def _record_locations(file: str, node: Any, prefix: str, out: dict[str, Location]) -> None:
    key_marks = node.key_marks
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else key
        line, column = key_marks[key]
        out[path] = Location(file, line, column)
        if isinstance(value, _MarkedDict):
            _record_locations(file, value, path, out)


def _field_source(spec: Mapping[str, Any]) -> FieldSource:
    if "from" in spec:
        return From(
            spec["from"],
            spec.get("default"),
            "default" in spec,
            normalise=spec.get("normalise", True),
            choices_from_salesforce=spec.get("choices") == "salesforce",
        )
    if "value" in spec:
        return Constant(spec["value"])
    names, _problem = template_names(spec["template"])
    return Template(spec["template"], tuple(names))


def _activity(spec: Any) -> Activity | None:
    """``activity: true`` or ``activity: {subject: ...}``; None when absent or false."""
    if spec is None or spec is False:
        return None
    subject = spec.get("subject", DEFAULT_ACTIVITY_SUBJECT) if isinstance(spec, dict) else None
    if subject is None:
        return Activity()
    names, _problem = template_names(subject)
    return Activity(Template(subject, tuple(names)))


def _build_form(file: str, data: Any, key: str, form: Mapping[str, Any]) -> FormMapping:
    campaign = form.get("campaign")
    return FormMapping(
        key=key,
        label=form["label"],
        object=form["object"],
        record_type=form.get("record_type"),
        campaign=CampaignRef(
            name=campaign.get("name"),
            id=campaign.get("id"),
            member_status=campaign.get("member_status"),
        )
        if campaign is not None
        else None,
        match_on=form.get("match_on"),
        external_id=form.get("external_id"),
        spam=SpamLimits(**(form.get("spam") or {})),
        fields=MappingProxyType(
            {name: _field_source(spec) for name, spec in form["fields"].items()}
        ),
        on_update=MappingProxyType(
            {
                name: OnUpdate(spec["on_update"])
                for name, spec in form["fields"].items()
                if "on_update" in spec
            }
        ),
        activity=_activity(form.get("activity")),
        location=_location(file, data, ("forms", key)),
    )


def _build_sync(file: str, data: Any, sync: Mapping[str, Any]) -> SyncConfig:
    fields = {}
    for name, spec in (sync.get("fields") or {}).items():
        fields[name] = SyncField(
            name=name,
            salesforce=MappingProxyType(
                {k: v for k, v in spec.items() if k not in _SYNC_RULE_KEYS}
            ),
            direction=Direction(spec.get("direction", "both")),
            conflict=Conflict(spec.get("conflict", "salesforce_wins")),
        )
    return SyncConfig(
        enabled=sync.get("enabled", True),
        interval_minutes=sync.get("interval_minutes", 5),
        match=tuple(sync["match"]),
        create_as=sync["create_as"],
        defaults=MappingProxyType(dict(sync.get("defaults") or {})),
        fields=MappingProxyType(fields),
        location=_location(file, data, ("sync",)),
    )


def _issue_order(issue: ConfigIssue) -> tuple[int, int]:
    return (issue.line or 0, issue.column or 0)


# --- public API -------------------------------------------------------------------------------


def max_file_bytes() -> int:
    """The size limit of one config file: the ``CONFIG_MAX_BYTES`` setting, or its default when
    there are no Django settings (the offline CLI)."""
    if settings.configured:
        return int(conf.get("CONFIG_MAX_BYTES"))
    return int(conf.SETTINGS["CONFIG_MAX_BYTES"].default)


def _too_large(reader: _FileReader, size: int, limit: int) -> None:
    reader.issue(
        None,
        (),
        f"the file is {size:,} bytes, above the limit of {limit:,} bytes "
        f"({conf.SETTINGS_NAME}['CONFIG_MAX_BYTES'])",
    )


def _read_file(path: Path, limit: int) -> tuple[_FileReader, Any]:
    reader = _FileReader(str(path))
    try:
        # Refused before reading: parsing a huge file takes minutes and gigabytes.
        size = path.stat().st_size
        if size > limit:
            _too_large(reader, size, limit)
            return reader, None
        with path.open("rb") as file:
            # A file that grew since stat(), or one with no size (a pipe), is still cut short.
            content = file.read(limit + 1)
        if len(content) > limit:
            _too_large(reader, max(size, len(content)), limit)
            return reader, None
        text = content.decode("utf-8")
    except FileNotFoundError:
        reader.issue(None, (), "file not found")
        return reader, None
    except UnicodeDecodeError as error:
        reader.issue(None, (), f"not UTF-8 text (byte {error.start})")
        return reader, None
    except OSError as error:
        reader.issue(None, (), f"cannot be read: {error.strerror}")
        return reader, None
    return reader, parse_text(reader, text)


def parse_text(reader: _FileReader, text: str) -> Any:
    """Parse and validate one file's text; issues land in ``reader``; returns the data or None."""
    data = reader.parse(text)
    if data is None:
        return None
    if not isinstance(data, dict):
        reader.issue((1, 1), (), f"the top level must be a mapping, not {_describe_value(data)}")
        return None
    _schema_issues(reader, data)
    _semantic_issues(reader, data)
    return data


def validate_files(
    paths: Sequence[Path | str], *, max_bytes: int | None = None
) -> list[ConfigIssue]:
    """The problems in ``paths`` (taken together), without raising; empty means valid. At most
    :data:`~.errors.MAX_REPORTED_ISSUES`, then a line counting the rest."""
    try:
        load_config(paths, max_bytes=max_bytes)
    except ConfigError as error:
        return error.issues
    return []


def load_config(paths: Sequence[Path | str], *, max_bytes: int | None = None) -> SalesforceConfig:
    """Load, validate and merge config files; raise ConfigError listing the problems.

    A file above ``max_bytes`` (default: :func:`max_file_bytes`) is refused unread.
    """
    if not paths:
        raise ConfigError([ConfigIssue("(none)", None, None, "", "no config files were given")])
    limit = max_file_bytes() if max_bytes is None else max_bytes
    return _merge([_read_file(Path(path), limit) for path in paths])


def loads(
    text: str, filename: str = "<string>", *, max_bytes: int | None = None
) -> SalesforceConfig:
    """Load config from a string (tests, tools); raise ConfigError like ``load_config``."""
    reader = _FileReader(filename)
    limit = max_file_bytes() if max_bytes is None else max_bytes
    size = len(text.encode("utf-8"))
    if size > limit:
        _too_large(reader, size, limit)
        return _merge([(reader, None)])
    return _merge([(reader, parse_text(reader, text))])


def _merge(sources: Sequence[tuple[_FileReader, Any]]) -> SalesforceConfig:
    """One config from parsed files: form keys must be unique, one file at most has ``sync``."""
    issues: list[ConfigIssue] = []
    forms: dict[str, FormMapping] = {}
    sync: SyncConfig | None = None
    locations: dict[str, Location] = {}
    for reader, data in sources:
        file = reader.file
        if reader.issues or data is None:
            issues.extend(sorted(reader.issues, key=_issue_order))
            continue
        for key, form in (data.get("forms") or {}).items():
            first = forms[key].location if key in forms else None
            if first is not None:
                reader.issue(
                    _locate(data, ("forms", key)),
                    ("forms", key),
                    f"form '{key}' is already defined in {first.file}:{first.line}",
                )
                continue
            forms[key] = _build_form(file, data, key, form)
        if "sync" in data:
            if sync is not None and sync.location is not None:
                reader.issue(
                    _locate(data, ("sync",)),
                    ("sync",),
                    f"sync is already configured in {sync.location.file}:{sync.location.line}; "
                    "only one file may have a sync section",
                )
            else:
                sync = _build_sync(file, data, data["sync"])
        issues.extend(sorted(reader.issues, key=_issue_order))
        _record_locations(file, data, "", locations)
    if issues:
        raise ConfigError(issues)
    return SalesforceConfig(
        forms=MappingProxyType(forms),
        sync=sync,
        files=tuple(reader.file for reader, _data in sources),
        locations=MappingProxyType(locations),
    )
