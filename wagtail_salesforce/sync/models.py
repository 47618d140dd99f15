"""The sync's models: local leads and the bookkeeping of sync cycles."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from wagtail_salesforce.config.payload import normalise_email

# The email's entry in ``Lead.base`` and ``Lead.local_modified`` (the YAML forbids a sync field
# of that name: the email is the sync key).
EMAIL_KEY = "email"


class LeadOrigin(models.TextChoices):
    FORM = "form", _("Form submission")
    SYNC = "sync", _("Salesforce sync")
    ADMIN = "admin", _("Admin")
    IMPORT = "import", _("Import")


class Lead(models.Model):
    """A person Wagtail knows, keyed on email, mirrored to one Salesforce Lead or Contact.

    ``values`` holds the synced fields by local name; ``base`` the value each field had when both
    sides last agreed (the merge base); ``local_modified`` the time of each local change not yet
    in Salesforce (for ``newest_wins``). The email, the sync key, is merged like a field: its base
    and pending change sit under the key ``"email"`` (never a sync field's name).
    ``former_emails``: the addresses this person had before (changed, or merged leads').
    """

    site = models.ForeignKey(
        "wagtailcore.Site", on_delete=models.CASCADE, related_name="salesforce_leads"
    )
    email = models.CharField(_("email"), max_length=254)
    values = models.JSONField(_("values"), default=dict, blank=True)
    base = models.JSONField(default=dict, blank=True, editable=False)
    local_modified = models.JSONField(default=dict, blank=True, editable=False)
    sf_object = models.CharField(_("Salesforce object"), max_length=80, blank=True, default="")
    sf_id = models.CharField(_("Salesforce ID"), max_length=18, blank=True, default="")
    sf_last_modified = models.DateTimeField(_("modified in Salesforce"), null=True, blank=True)
    duplicate_ids = models.JSONField(default=list, blank=True, editable=False)
    former_emails = models.JSONField(default=list, blank=True, editable=False)
    # Consent by topic (``sync.consent``): the current state and the last value seen in
    # Salesforce, written by ``sync.consent`` only; ``ConsentEvent`` keeps the history.
    consent = models.JSONField(_("consent"), default=dict, blank=True, editable=False)
    source = models.CharField(
        _("source"), max_length=10, choices=LeadOrigin.choices, default=LeadOrigin.ADMIN
    )
    needs_push = models.BooleanField(_("waiting to be sent"), default=False)
    sync_error = models.TextField(_("last sync error"), blank=True, default="")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["email"]
        # Who may do what on the Leads screens (admin/permissions.py); "view" is Django's own.
        default_permissions = ("view",)
        permissions = [
            ("edit_lead", _("Can add and edit leads")),
            ("export_lead", _("Can export leads")),
        ]
        constraints = [
            # Case-insensitive even for rows written around save() (bulk_create, raw SQL).
            models.UniqueConstraint(
                "site", Lower("email"), name="wagtail_salesforce_lead_site_email_ci"
            ),
        ]
        indexes = [
            models.Index(fields=["site", "sf_object", "sf_id"], name="wsf_lead_sf_link"),
            models.Index(fields=["site", "needs_push"], name="wsf_lead_needs_push"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = normalise_email(self.email)
        super().save(*args, **kwargs)

    def set_local_value(self, name: str, value: Any, when: datetime.datetime | None = None) -> bool:
        """Record an editor's or a form's value for field ``name``; True if it changed.

        A change is stamped (for ``newest_wins``) and flags the lead for the next push.
        """
        value = blank_to_none(value)
        if blank_to_none(self.values.get(name)) == value:
            return False
        self.values = {**self.values, name: value}
        stamp = (when or timezone.now()).isoformat()
        self.local_modified = {**self.local_modified, name: stamp}
        self.needs_push = True
        return True

    def change_email(self, email: str, when: datetime.datetime | None = None) -> bool:
        """Give this person a new address on the site; True if it changed.

        A field change, not a new person: the lead keeps its Salesforce link and the next push
        sends the new address to the linked record (the caller checks no other lead has it).
        """
        email = normalise_email(email)
        if not email or email == self.email:
            return False
        if EMAIL_KEY not in self.base and self.sf_id:
            # Linked before emails were merged as a field: the record holds the old address.
            self.base = {**self.base, EMAIL_KEY: self.email}
        if self.email and self.email not in self.former_emails:
            self.former_emails = [*self.former_emails, self.email]
        self.email = email
        stamp = (when or timezone.now()).isoformat()
        self.local_modified = {**self.local_modified, EMAIL_KEY: stamp}
        self.needs_push = True
        return True


def blank_to_none(value: Any) -> Any:
    """Salesforce answers null for an empty text field: treat "" and whitespace the same."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


class ConsentSource(models.TextChoices):
    FORM = "form", _("Form")
    ADMIN = "admin", _("Admin")
    SALESFORCE = "salesforce", _("Salesforce")


class ConsentNote(models.TextChoices):
    """Why the consent rule did not apply an event."""

    OLDER_THAN_OPT_IN = "older_than_opt_in", _("older than the explicit opt-in in force")
    NOT_EXPLICIT = (
        "not_explicit",
        _("not an explicit opt-in: an opt-out is lifted only by a newer, explicit one"),
    )
    NOT_NEWER = "not_newer", _("not newer than the opt-out in force")


class ConsentEvent(models.Model):
    """One consent change a source reported, applied or not (append-only history).

    ``given_at`` is when the source says it happened (the submission's time, the admin's
    action, Salesforce's consent date or the record's last modification); ``applied`` says
    whether the consent rule took it, ``note`` why not.
    """

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="consent_events")
    topic = models.CharField(_("consent"), max_length=100)
    permitted = models.BooleanField(_("opted in"))
    source = models.CharField(_("source"), max_length=12, choices=ConsentSource.choices)
    given_at = models.DateTimeField(_("given"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)
    applied = models.BooleanField(_("applied"), default=True)
    note = models.CharField(
        _("note"), max_length=32, blank=True, default="", choices=ConsentNote.choices
    )
    page = models.ForeignKey(
        "wagtailcore.Page", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    page_url = models.CharField(_("page"), max_length=2048, blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    salesforce_record = models.CharField(
        _("Salesforce record"), max_length=100, blank=True, default=""
    )

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")
        default_permissions = ()

    def __str__(self) -> str:
        state = "in" if self.permitted else "out"
        return f"{self.lead_id}.{self.topic}: {state} ({self.source})"


class SyncState(models.Model):
    """The pull watermark of one connection and object: the newest ``SystemModstamp`` stored."""

    connection = models.ForeignKey(
        "wagtail_salesforce.SalesforceConnection", on_delete=models.CASCADE, related_name="+"
    )
    sobject = models.CharField(max_length=80)
    watermark = models.DateTimeField(null=True, blank=True)
    # When the last complete pull of this object started: it saw every change stamped more than
    # the overlap window before then, so the next pull can start there.
    pulled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "sobject"], name="wagtail_salesforce_syncstate_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sobject} @ {self.watermark}"


class SyncLease(models.Model):
    """Who runs a connection's sync cycle, until when. Expired leases may be taken over."""

    connection = models.OneToOneField(
        "wagtail_salesforce.SalesforceConnection", on_delete=models.CASCADE, related_name="+"
    )
    holder = models.CharField(max_length=64, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.holder} until {self.expires_at}"


class SyncRunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    PARTIAL = "partial", _("Finished with errors")
    FAILED = "failed", _("Failed")


class SyncRun(models.Model):
    """One sync cycle of one site, with what it did."""

    site = models.ForeignKey("wagtailcore.Site", on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=SyncRunStatus.choices, default=SyncRunStatus.RUNNING
    )
    full = models.BooleanField(_("full"), default=False)
    dry_run = models.BooleanField(_("dry run"), default=False)
    pulled = models.PositiveIntegerField(_("pulled"), default=0)
    pushed = models.PositiveIntegerField(_("pushed"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    conflicts = models.PositiveIntegerField(_("conflicts"), default=0)
    duplicates = models.PositiveIntegerField(_("duplicates"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    api_calls = models.PositiveIntegerField(_("API calls"), default=0)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")

    def __str__(self) -> str:
        return f"{self.site_id} {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    def summary(self) -> dict[str, Any]:
        """What the run did, JSON-safe (a task's result, the command's ``--format json``)."""
        return {
            "run": self.pk,
            "status": str(self.status),
            "dry_run": self.dry_run,
            "full": self.full,
            "pulled": self.pulled,
            "pushed": self.pushed,
            "created": self.created,
            "updated": self.updated,
            "conflicts": self.conflicts,
            "duplicates": self.duplicates,
            "errors": len(self.errors),
            "api_calls": self.api_calls,
        }


class SyncConflict(models.Model):
    """A field changed on both sides since the last sync, and which side the rule chose."""

    run = models.ForeignKey(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="conflict_set"
    )
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="conflicts")
    field = models.CharField(_("field"), max_length=100)
    local_value = models.JSONField(_("Wagtail value"), null=True, blank=True)
    salesforce_value = models.JSONField(_("Salesforce value"), null=True, blank=True)
    base_value = models.JSONField(_("previous value"), null=True, blank=True)
    rule = models.CharField(_("rule"), max_length=32)
    winner = models.CharField(_("winner"), max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.lead_id}.{self.field}: {self.winner}"


class Segment(models.Model):
    """A named, saved filter over a site's leads (exportable as CSV)."""

    site = models.ForeignKey("wagtailcore.Site", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    filter = models.JSONField(_("filter"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        # One permission for the whole screen: list, save and delete segments.
        default_permissions = ()
        permissions = [("manage_segment", _("Can save and delete lead segments"))]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="wagtail_salesforce_segment_name")
        ]

    def __str__(self) -> str:
        return self.name


# HMAC key salt of the erasure hashes: the same email always gives the same hash on one site
# (SECRET_KEY), and the hash cannot be reversed by hashing guessed addresses without that key.
ERASURE_HASH_SALT = "wagtail_salesforce.erasure"


def person_hash(email: str, secret: str | None = None) -> str:
    """The erasure hash of ``email`` (normalised first): HMAC-SHA256 keyed on SECRET_KEY."""
    return salted_hmac(
        ERASURE_HASH_SALT, normalise_email(email), secret=secret, algorithm="sha256"
    ).hexdigest()


def person_hashes(email: str) -> list[str]:
    """The hash under SECRET_KEY and under each of SECRET_KEY_FALLBACKS, so rotating the key
    (Django's documented way) does not forget who was erased."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [person_hash(email, secret) for secret in secrets]


class ErasureTombstoneManager(models.Manager["ErasureTombstone"]):
    def is_erased(self, email: str) -> bool:
        return bool(email) and self.filter(email_hash__in=person_hashes(email)).exists()

    def clear(self, email: str) -> int:
        """Forget that ``email`` was erased (the person submitted a form again)."""
        if not email:
            return 0
        deleted, _by_model = self.filter(email_hash__in=person_hashes(email)).delete()
        return deleted


class ErasureTombstone(models.Model):
    """Someone whose data was erased on request, known only by the hash of their email.

    The sync does not create a local lead again from a Salesforce record with that email (the
    record may have been kept in Salesforce); a new form submission by the person removes it.
    """

    email_hash = models.CharField(_("email hash"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("erased"), auto_now_add=True)

    objects = ErasureTombstoneManager()

    class Meta:
        verbose_name = _("erased person")
        verbose_name_plural = _("erased people")
        # The screen "Personal data requests" (admin/people.py): exporting a person's data and
        # erasing it are separate jobs, so a group may be given the first without the second.
        default_permissions = ()
        permissions = [
            ("access_person", _("Can export a person's data")),
            ("erase_person", _("Can erase a person's data")),
        ]

    def __str__(self) -> str:
        # What the audit log shows as the label of an erasure: never the email.
        return self.email_hash[:16]
