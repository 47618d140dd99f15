"""Consent as its own rule, not the three-way merge of ``sync.fields``.

Each consent topic of ``sync.consent`` (``email``) has, per lead, a state: opted in or out, since
when, from which source (form, admin, Salesforce) and whether it was explicit. A change that
any source reports is an event; :func:`decide` says whether it replaces the current state:

- the first thing known about a person is taken as it is;
- an **opt-out** is taken unless the current state is an explicit opt-in made *after* it (a
  person who re-subscribed later is not unsubscribed by an older opt-out arriving late);
- an **opt-in** is taken only when it is explicit and newer than the current opt-out. Explicit:
  a form checkbox the person ticked, an admin's action, or a Salesforce change that carries its
  own time in the topic's ``changed_at`` field. A box unticked in Salesforce without such a time
  (someone lifting an opt-out, an import, a merge) is recorded but never re-subscribes anyone.

An event from Salesforce is timed by the topic's ``changed_at`` field, else by the record's
``LastModifiedDate`` (the latest the change can have happened, which favours the opt-out).
Every event is kept (``ConsentEvent``), applied or not; the lead's ``consent`` JSON holds the
current state per topic and the last value seen in Salesforce, so that an unchanged record is
not read as news and the sync knows what Salesforce still has to be told: an opt-out always, an
opt-in only when it won by the rule above.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from wagtail_salesforce.config import ConsentTopic, SyncConfig

from .models import ConsentEvent, ConsentNote, ConsentSource, Lead

OPTED_IN = "opted_in"
OPTED_OUT = "opted_out"
UNKNOWN = "unknown"
PENDING_EVENTS = "_pending_consent_events"


@dataclass(frozen=True)
class ConsentState:
    permitted: bool
    at: datetime.datetime | None
    source: str
    explicit: bool


def decide(current: ConsentState | None, incoming: ConsentState) -> tuple[bool, str]:
    """Whether ``incoming`` replaces ``current``, and why not (a ``ConsentNote``; "" when it
    does, or when it says what is already so)."""
    if current is None:
        return True, ""
    if current.permitted == incoming.permitted:
        return False, ""
    if not incoming.permitted:
        if (
            current.explicit
            and current.at is not None
            and incoming.at is not None
            and current.at > incoming.at
        ):
            return False, ConsentNote.OLDER_THAN_OPT_IN
        return True, ""
    if not incoming.explicit:
        return False, ConsentNote.NOT_EXPLICIT
    if current.at is not None and (incoming.at is None or incoming.at <= current.at):
        return False, ConsentNote.NOT_NEWER
    return True, ""


# --- the lead's JSON ---------------------------------------------------------------------


def _parse(value: Any) -> datetime.datetime | None:
    if not value:
        return None
    if isinstance(value, datetime.datetime):
        return value
    text = str(value).replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"  # Salesforce's +0000
    return datetime.datetime.fromisoformat(text)


def current_state(lead: Lead, topic: str) -> ConsentState | None:
    entry = (lead.consent or {}).get(topic)
    if not entry or "permitted" not in entry:
        return None
    return ConsentState(
        bool(entry["permitted"]),
        _parse(entry.get("at")),
        str(entry.get("source") or ""),
        bool(entry.get("explicit")),
    )


def state_name(lead: Lead, topic: str) -> str:
    state = current_state(lead, topic)
    if state is None:
        return UNKNOWN
    return OPTED_IN if state.permitted else OPTED_OUT


def _store(lead: Lead, topic: str, **changes: Any) -> None:
    entry = {**(lead.consent or {}).get(topic, {}), **changes}
    # A new dict: the engine compares the lead's state before and after a batch.
    lead.consent = {**(lead.consent or {}), topic: entry}


def _salesforce_value(lead: Lead, topic: str) -> bool | None:
    """The permission last seen in (or written to) the linked record, None if not known."""
    entry = (lead.consent or {}).get(topic) or {}
    if not lead.sf_id or entry.get("sf_id") != lead.sf_id:
        return None
    value = entry.get("sf")
    return None if value is None else bool(value)


def _needs_writing(lead: Lead, topic: ConsentTopic) -> bool:
    state = current_state(lead, topic.name)
    if state is None or not topic.direction.pushes:
        return False
    if state.permitted and not state.explicit:
        return False  # only an explicit opt-in is ever written
    return _salesforce_value(lead, topic.name) != state.permitted


def _apply(lead: Lead, topic: str, incoming: ConsentState, **event: Any) -> ConsentEvent | None:
    """Run the rule; the event to record (None when nothing changed and nothing is news)."""
    current = current_state(lead, topic)
    applied, note = decide(current, incoming)
    if not applied and current is not None and current.permitted == incoming.permitted:
        return None
    if applied:
        _store(
            lead,
            topic,
            permitted=incoming.permitted,
            at=incoming.at.isoformat() if incoming.at else None,
            source=incoming.source,
            explicit=incoming.explicit,
        )
    return ConsentEvent(
        lead=lead,
        topic=topic,
        permitted=incoming.permitted,
        source=incoming.source,
        given_at=incoming.at,
        applied=applied,
        note=note,
        **event,
    )


def _pend(lead: Lead, event: ConsentEvent | None) -> None:
    if event is not None:
        pending: list[ConsentEvent] = lead.__dict__.setdefault(PENDING_EVENTS, [])
        pending.append(event)


# --- the sync's hooks ----------------------------------------------------------------------


def must_write(lead: Lead, config: SyncConfig) -> bool:
    """Whether Salesforce must be told some consent of ``lead`` (the next push sends it)."""
    return any(_needs_writing(lead, topic) for topic in config.consent.values())


def folded(holder: Lead, follower: Lead) -> dict[str, Any]:
    """The consent of one person made of two local leads (a merge in Salesforce): the survivor
    link's holder's, with the other lead's states run through the rule, so an opt-out either
    had is kept unless the other has a newer explicit opt-in."""
    result = {topic: dict(entry) for topic, entry in (holder.consent or {}).items()}
    for topic in follower.consent or {}:
        incoming = current_state(follower, topic)
        if incoming is None:
            continue
        mine = current_state(holder, topic)
        applied, _note = decide(mine, incoming)
        if applied:
            result[topic] = {
                **result.get(topic, {}),
                "permitted": incoming.permitted,
                "at": incoming.at.isoformat() if incoming.at else None,
                "source": incoming.source,
                "explicit": incoming.explicit,
            }
    return result



def fields_to_select(config: SyncConfig, sobject: str) -> list[str]:
    names: list[str] = []
    for topic in config.consent.values():
        if sobject in topic.salesforce:
            names.append(topic.salesforce[sobject])
            if sobject in topic.changed_at:
                names.append(topic.changed_at[sobject])
    return names


def merge_pulled(
    lead: Lead,
    config: SyncConfig,
    sobject: str,
    record: Mapping[str, Any],
    remote_at: datetime.datetime | None,
) -> None:
    """Fold a pulled record's consent checkboxes into ``lead`` by the rule (events pend on the
    lead until :func:`record_events`); flags the lead when Salesforce must be told."""
    for topic in config.consent.values():
        name = topic.salesforce.get(sobject)
        if name is None or record.get(name) is None:
            continue
        permitted = topic.meaning.permits(bool(record[name]))
        if _salesforce_value(lead, topic.name) == permitted:
            continue  # Salesforce has not changed since we last looked
        stamp_field = topic.changed_at.get(sobject)
        stamped = _parse(record.get(stamp_field)) if stamp_field else None
        incoming = ConsentState(
            permitted, stamped or remote_at, ConsentSource.SALESFORCE, stamped is not None
        )
        _pend(
            lead,
            _apply(lead, topic.name, incoming, salesforce_record=f"{sobject} {record.get('Id')}"),
        )
        _store(lead, topic.name, sf=permitted, sf_id=str(record.get("Id") or lead.sf_id))
        if _needs_writing(lead, topic):
            lead.needs_push = True


def pushable(lead: Lead, config: SyncConfig, sobject: str) -> dict[str, Any]:
    """The consent values Salesforce must be given: an opt-out it does not have yet, an opt-in
    that won by the rule (with the topic's ``changed_at`` time when it has one)."""
    payload: dict[str, Any] = {}
    for topic in config.consent.values():
        name = topic.salesforce.get(sobject)
        state = current_state(lead, topic.name)
        if name is None or state is None or not _needs_writing(lead, topic):
            continue
        payload[name] = topic.meaning.ticked(state.permitted)
        stamp_field = topic.changed_at.get(sobject)
        if stamp_field and state.at is not None:
            payload[stamp_field] = state.at.astimezone(datetime.UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.000+0000"
            )
    return payload


def pushed(lead: Lead, config: SyncConfig, sobject: str, payload: Mapping[str, Any]) -> None:
    """After a successful write: Salesforce now holds what was sent."""
    for topic in config.consent.values():
        name = topic.salesforce.get(sobject)
        if name is not None and name in payload:
            _store(
                lead,
                topic.name,
                sf=topic.meaning.permits(bool(payload[name])),
                sf_id=lead.sf_id,
            )


def record_events(leads: Iterable[Lead]) -> None:
    """Write the events pending on ``leads`` (once they have primary keys)."""
    events: list[ConsentEvent] = []
    for lead in leads:
        pending = lead.__dict__.pop(PENDING_EVENTS, None)
        for event in pending or ():
            event.lead = lead
            events.append(event)
    if events:
        ConsentEvent.objects.bulk_create(events)


# --- consent given on the site -------------------------------------------------------------


def record_local(
    lead: Lead,
    config: SyncConfig,
    topic_name: str,
    *,
    permitted: bool,
    source: str,
    at: datetime.datetime | None = None,
    **event: Any,
) -> ConsentEvent | None:
    """A person's (form) or an admin's explicit consent: run the rule, save the lead and the
    event, and flag a linked lead for the push when Salesforce must be told."""
    topic = config.consent[topic_name]
    incoming = ConsentState(permitted, at or timezone.now(), source, explicit=True)
    recorded = _apply(lead, topic_name, incoming, **event)
    # An unlinked lead waits for the pull that links it (its form's own delivery may be
    # creating the record): pushing now could race that into a duplicate.
    if lead.sf_id and _needs_writing(lead, topic):
        lead.needs_push = True
    lead.save()
    if recorded is not None:
        recorded.lead = lead
        recorded.save()
    return recorded


def record_form_consent(
    config: SyncConfig,
    lead: Lead,
    consents: Iterable[Any],
    form_data: Mapping[str, Any],
    *,
    at: datetime.datetime | None,
    page_id: int | None,
    page_url: str = "",
) -> list[ConsentEvent]:
    """The mapping's consent checkboxes that were ticked (``FormConsent``s): an unticked box
    says nothing, so it records nothing."""
    events = []
    for consent in consents:
        if consent.topic not in config.consent or not _ticked(form_data.get(consent.field)):
            continue
        event = record_local(
            lead,
            config,
            consent.topic,
            permitted=consent.meaning.permits(True),
            source=ConsentSource.FORM,
            at=at,
            page_id=page_id,
            page_url=page_url,
        )
        if event is not None:
            events.append(event)
    return events


def _ticked(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"on", "true", "1", "yes"}
    if isinstance(value, list | tuple):
        return bool(value)
    return bool(value)
