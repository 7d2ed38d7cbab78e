"""Annotations of samples and their three-stage verification (DESIGN.md's state machine).

One `Annotation` per sample carries the workflow state, the lease and the concurrency version.
Its content lives in immutable `AnnotationRevision`s: every save, every stage's result, is a new
revision, so nothing is ever overwritten. Regions are immutable rows shared by the revisions that
keep them, which lets a QA pair point at a region and lets us tell whose sample a region is.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from base.jobs import BatchedJob
from catalog.models import Sample, Source, SourceRegion
from vocabulary.models import Term, VocabularyVersion

from .template_fields import TEMPLATE_FIELD_CHOICES

# Where a queue ordered by uncertainty puts the samples no model has seen: after every predicted one
# (uncertainties are 0..1). As a value in the order and its index rather than NULLS LAST, which
# SQLite cannot index.
UNSEEN_UNCERTAINTY = -1.0


class AnnotationState(models.TextChoices):
    UNASSIGNED = "unassigned", "Unassigned"  # waiting in the annotation queue
    IN_ANNOTATION = "in_annotation", "In annotation"  # stage 1: an annotator holds the lease
    SUBMITTED = "submitted", "Submitted"  # stage 1 done, waiting in the review queue
    IN_REVIEW = "in_review", "In review"  # stage 2: a reviewer holds the lease
    CHANGES_REQUESTED = "changes_requested", "Changes requested"  # back to the same annotator
    REVIEWED = "reviewed", "Reviewed"  # stage 2 approved; waiting for the first consensus vote
    IN_CONSENSUS = "in_consensus", "In consensus"  # stage 3: experts are voting
    VERIFIED = "verified", "Verified"  # final: the quorum approved (or review, when not sent to stage 3)
    REJECTED = "rejected", "Rejected"  # final: the quorum rejected, or the panel could not agree


class Stage(models.TextChoices):
    DRAFT = "draft", "Draft"  # imported regions, generated captions: no person yet
    ANNOTATION = "annotation", "Stage 1: annotation"
    REVIEW = "review", "Stage 2: peer review"
    CONSENSUS = "consensus", "Stage 3: consensus"


class ConsensusReason(models.TextChoices):
    NONE = "", "Not sent to consensus"
    ALL = "all", "Every sample goes to consensus"
    DISAGREEMENT = "disagreement", "Review changed the annotation"
    AUDIT = "audit", "Drawn for the random audit"


class Annotation(models.Model):
    sample = models.OneToOneField(Sample, primary_key=True, on_delete=models.CASCADE, related_name="annotation")
    # Copied from the sample when the annotation is created (services.annotations_refresh_sample_fields
    # copies them again after a catalog edit), so that each queue filter is an index range and the
    # cost of a filtered claim does not grow with the samples of other sources, domains or languages.
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+", db_index=False)
    domain = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=10, blank=True, help_text="The language of the sample's source text.")
    state = models.CharField(max_length=20, choices=AnnotationState.choices, default=AnnotationState.UNASSIGNED)
    # The stage queue it waits in for a claim; blank while someone holds it and once it is final.
    queue = models.CharField(max_length=20, choices=Stage.choices, blank=True, default=Stage.ANNOTATION)
    # Bumped on every write of state or content: a write based on another version is refused (409).
    version = models.PositiveIntegerField(default=1)
    priority = models.SmallIntegerField(default=0, help_text="Higher is claimed first (after gold samples).")
    is_gold = models.BooleanField(default=False, help_text="Gold samples are claimed first.")
    # The newest pre-annotation's uncertainty (ModelPrediction), copied here so that a queue ordered
    # by it walks an index like the age order does. Null: no model has seen the sample.
    model_uncertainty = models.FloatField(null=True, blank=True)
    # Reserved for one person: a bulk assignment, or the annotator who must address requested changes.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations_made"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations_reviewed"
    )
    lease_holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The revision everyone works from, and each stage's result. Indexed although nothing reads
    # annotations by them: deleting a revision (with its sample) makes the database look for rows
    # that point at it, once per revision and pointer; without the indexes each look read the whole
    # table (3 s to delete one sample at a million, and 20 s for ten).
    current_revision = models.ForeignKey(
        "AnnotationRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_revision = models.ForeignKey(
        "AnnotationRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_revision = models.ForeignKey(
        "AnnotationRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    final_revision = models.ForeignKey(
        "AnnotationRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_round = models.PositiveSmallIntegerField(default=0, help_text="How many times changes were requested.")
    has_disagreement = models.BooleanField(default=False, help_text="Review changed the template or the regions.")
    consensus_reason = models.CharField(max_length=20, choices=ConsensusReason.choices, blank=True, default="")
    consensus_voters = models.PositiveSmallIntegerField(default=0, help_text="Distinct experts who voted.")
    vocabulary_version = models.ForeignKey(
        VocabularyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sample_id"]
        permissions = [
            # The three stages, one permission each (roles.py gives them to annotator, reviewer, expert).
            ("annotate", "Stage 1: can annotate"),
            ("review", "Stage 2: can peer-review"),
            ("vote_consensus", "Stage 3: can vote in consensus"),
            ("assign_annotation", "Can enqueue samples and assign them to annotators"),
            ("see_identities", "Can see who did each stage in blind mode"),
        ]
        indexes = [
            # claim next from the open pool: an index-ordered walk that stops at the first row; one
            # index per filter. Only waiting rows are in them, so a claim (queue -> "") adds no entry.
            *(
                models.Index(
                    fields=["queue", *prefix, "-is_gold", "-priority", "sample"],
                    name=name,
                    condition=Q(assignee__isnull=True) & ~Q(queue=""),
                )
                for name, prefix in (
                    ("annotation_open_queue", []),
                    ("annotation_queue_source", ["source"]),
                    ("annotation_queue_domain", ["domain"]),
                    ("annotation_queue_language", ["language"]),
                )
            ),
            # the same walk for a queue a data manager ordered by model uncertainty (queue.UNCERTAINTY_ORDER)
            models.Index(
                F("queue"),
                F("is_gold").desc(),
                F("priority").desc(),
                Coalesce("model_uncertainty", Value(UNSEEN_UNCERTAINTY)).desc(),
                F("sample"),
                name="annotation_uncertainty_queue",
                condition=Q(assignee__isnull=True) & ~Q(queue=""),
            ),
            # claim next among the items reserved for me.
            models.Index(
                fields=["assignee", "queue", "-is_gold", "-priority", "sample"],
                name="annotation_assigned_queue",
                condition=Q(assignee__isnull=False),
            ),
            models.Index(
                fields=["lease_holder", "state"],
                name="annotation_lease_holder",
                condition=Q(lease_holder__isnull=False),
            ),
            models.Index(
                fields=["lease_expires_at"], name="annotation_lease_expiry", condition=Q(lease_expires_at__isnull=False)
            ),
            # keyset-paginated lists, newest sample first
            models.Index(fields=["state", "-sample"], name="annotation_state_list"),
            models.Index(fields=["source", "state", "-sample"], name="annotation_source_state_list"),
            # the sample table's sort by priority (web/sample_browser.py)
            models.Index(fields=["-priority", "-sample"], name="annotation_priority_list"),
        ]

    def __str__(self):
        return f"annotation of sample {self.sample_id} ({self.state})"

    @classmethod
    def from_db(cls, db, field_names, values):
        annotation = super().from_db(db, field_names, values)
        # What the row held when read: actions.annotation_write updates only what changed since.
        annotation._loaded_values = dict(zip(field_names, values, strict=True))
        return annotation

    def lease_is_live(self, now=None) -> bool:
        return self.lease_holder_id is not None and self.lease_expires_at > (now or timezone.now())


class ImmutableModel(models.Model):
    """Rows written once and never changed (revisions and their parts, votes, audit events)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError(f"{type(self).__name__} {self.pk} is immutable")
        super().save(*args, **kwargs)


class Region(ImmutableModel):
    """A defect region of one sample: a defect-type term and a COCO RLE mask and/or a box.

    Immutable: editing a region makes a new one. A revision lists the regions it keeps."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="regions")
    defect_type = models.ForeignKey(Term, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The source's class name when the region was imported; shown while defect_type is unmapped.
    raw_label = models.CharField(max_length=200, blank=True)
    # COCO uncompressed RLE {"size": [h, w], "counts": [...]} in original pixels, or null for a box only.
    mask_rle = models.JSONField(null=True, blank=True)
    bbox = models.JSONField(help_text="[x, y, width, height], derived from the mask when there is one.")
    area = models.PositiveIntegerField()
    source_region = models.ForeignKey(SourceRegion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"region {self.pk} of sample {self.annotation_id}"


class AnnotationRevision(ImmutableModel):
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField(help_text="1, 2, ... within the annotation.")
    stage = models.CharField(max_length=20, choices=Stage.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    notes = models.TextField(blank=True)
    regions = models.ManyToManyField(Region, blank=True, related_name="revisions")
    vocabulary_version = models.ForeignKey(
        VocabularyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["annotation", "number"]
        constraints = [models.UniqueConstraint(fields=["annotation", "number"], name="revision_number_unique")]

    def __str__(self):
        return f"revision {self.number} of sample {self.annotation_id} ({self.stage})"


class RevisionTerm(ImmutableModel):
    """One term of a template field in a revision (several rows for a multi-valued field)."""

    revision = models.ForeignKey(AnnotationRevision, on_delete=models.CASCADE, related_name="terms")
    field = models.CharField(max_length=30, choices=TEMPLATE_FIELD_CHOICES)
    term = models.ForeignKey(Term, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["revision", "field", "position"]
        constraints = [models.UniqueConstraint(fields=["revision", "field", "term"], name="revision_term_unique")]

    def __str__(self):
        return f"{self.field}={self.term_id}"


class Caption(ImmutableModel):
    revision = models.ForeignKey(AnnotationRevision, on_delete=models.CASCADE, related_name="captions")
    language = models.CharField(max_length=5)
    text = models.TextField()
    # A person wrote it, or a generator did ("llm:<model>", "template") and nobody changed it since.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    generator = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["revision", "language"]
        constraints = [models.UniqueConstraint(fields=["revision", "language"], name="caption_language_unique")]

    def __str__(self):
        return f"[{self.language}] {self.text[:40]}"


class QAPair(ImmutableModel):
    revision = models.ForeignKey(AnnotationRevision, on_delete=models.CASCADE, related_name="qa_pairs")
    position = models.PositiveSmallIntegerField(default=0)
    question = models.TextField()
    answer = models.TextField()
    language = models.CharField(max_length=5)
    regions = models.ManyToManyField(Region, blank=True, related_name="+")

    class Meta:
        ordering = ["revision", "position"]

    def __str__(self):
        return self.question[:60]


class ReviewComment(ImmutableModel):
    """A reviewer's request for changes, pinned to a template field, a region, or the whole."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="review_comments")
    revision = models.ForeignKey(AnnotationRevision, on_delete=models.CASCADE, related_name="+")
    round = models.PositiveSmallIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    field = models.CharField(max_length=60, blank=True, help_text="e.g. fields.product, captions.ja, notes")
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["annotation", "id"]

    def __str__(self):
        return self.text[:60]


class VoteDecision(models.TextChoices):
    APPROVE = "approve", "Approve"  # the current revision is right
    EDIT = "edit", "Edit and approve"  # a new revision, approved by its author
    REJECT = "reject", "Reject"  # the sample should not enter the dataset


class ConsensusVote(ImmutableModel):
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="votes")
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The revision voted on (approve, reject) or produced (edit). Only votes on the current
    # revision count: an edit makes earlier approvals stale.
    revision = models.ForeignKey(AnnotationRevision, on_delete=models.CASCADE, related_name="+")
    decision = models.CharField(max_length=10, choices=VoteDecision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["annotation", "id"]
        indexes = [models.Index(fields=["annotation", "expert"], name="vote_annotation_expert")]

    def __str__(self):
        return f"{self.decision} by {self.expert_id} on sample {self.annotation_id}"


class ClaimOutcome(models.TextChoices):
    OPEN = "", "Open"  # the lease is held now
    DONE = "done", "Done"  # the stage's action was taken (submit, approve, changes, vote)
    RELEASED = "released", "Released"  # handed back unfinished
    EXPIRED = "expired", "Expired"  # the lease ran out


class StageClaim(models.Model):
    """Who held an annotation in which stage, and how it ended: the "own work" rule reads it
    (anyone who worked on stage 1 may not review; stage 1 and 2 people may not vote)."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="claims")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(max_length=20, choices=Stage.choices)
    claimed_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=ClaimOutcome.choices, blank=True, default="")

    class Meta:
        ordering = ["annotation", "id"]
        indexes = [
            models.Index(fields=["annotation", "user", "stage"], name="claim_annotation_user"),
            models.Index(fields=["user", "stage", "-claimed_at"], name="claim_user_stage"),
        ]

    def __str__(self):
        return f"{self.user_id} {self.stage} on sample {self.annotation_id}"


class AuditEvent(ImmutableModel):
    """Append-only: one row per transition and per field edit (who, when, before, after)."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="audit_events", db_index=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )  # null: the system (lease expiry, automatic routing)
    action = models.CharField(max_length=40)
    field = models.CharField(max_length=60, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    version = models.PositiveIntegerField(help_text="The annotation's version after the event.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["annotation", "-id"], name="audit_by_sample"),
            models.Index(fields=["actor", "-id"], name="audit_by_actor"),
        ]

    def __str__(self):
        return f"{self.action} {self.field} on sample {self.annotation_id}"

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")


class ReportScope(models.TextChoices):
    DATASET = "dataset", "Dataset (one source, or everything)"
    ANNOTATOR = "annotator", "One annotator's stage-1 work"


class AgreementReport(BatchedJob):
    """Inter-annotator agreement over finished work, computed by Celery tasks in batches of
    AGREEMENT_REPORT_BATCH_SIZE annotations (see agreement_reports.py)."""

    scope = models.CharField(max_length=20, choices=ReportScope.choices, default=ReportScope.DATASET)
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="Empty: every source."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # The sources whose annotations the report covers, fixed when it is requested: `source`, or else
    # every source the requester may see. Who may see the report: whoever may see all of them.
    sources = models.ManyToManyField(Source, blank=True, related_name="+")
    result = models.JSONField(null=True, blank=True)
    cursor = models.PositiveBigIntegerField(default=0, help_text="The last sample id of the committed batches.")
    tallies = models.JSONField(
        null=True, blank=True, help_text="The running counts of the committed batches, until the report is done."
    )

    class Meta(BatchedJob.Meta):
        pass

    def __str__(self):
        what = self.source or self.user or "all sources"
        return f"agreement report #{self.pk} ({self.scope}: {what})"


# -- the model in the loop: pre-annotations and the queue's order -------------------------------------


class PredictionDecision(models.TextChoices):
    PENDING = "", "Pending"  # shown to the annotator as a proposal
    ACCEPTED = "accepted", "Accepted"  # copied into the annotation's regions by a person's save
    DISCARDED = "discarded", "Discarded"  # a person decided the model was wrong


class ModelPrediction(models.Model):
    """One model's pre-annotation of a sample: a layer beside the annotation, never part of a revision
    until a person accepts a region. Annotation owns it, and knows the model only by name, so the
    modeling app (a higher layer) writes it through annotation/predictions.py and nothing here
    imports modeling."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="predictions")
    # What identifies the model for idempotency ("checkpoint:12"), and what people read.
    model_key = models.CharField(max_length=100)
    model_version = models.CharField(max_length=300)
    uncertainty = models.FloatField(
        help_text="Mean normalised entropy of the predicted class probabilities: 0 sure, 1 no idea."
    )
    proposed_fields = models.JSONField(default=dict, blank=True, help_text="template field -> [term ids]")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["annotation", "-id"]
        constraints = [models.UniqueConstraint(fields=["annotation", "model_key"], name="prediction_once_per_model")]

    def __str__(self):
        return f"prediction of sample {self.annotation_id} by {self.model_version}"


class PredictedRegion(models.Model):
    prediction = models.ForeignKey(ModelPrediction, on_delete=models.CASCADE, related_name="regions")
    defect_type = models.ForeignKey(Term, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    mask_rle = models.JSONField(help_text="COCO uncompressed RLE in original pixels.")
    bbox = models.JSONField(help_text="[x, y, width, height]")
    area = models.PositiveIntegerField()
    score = models.FloatField()
    decision = models.CharField(max_length=20, choices=PredictionDecision.choices, blank=True, default="")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # The region an accept made (it may have been edited after: a later revision drops or replaces it).
    accepted_as = models.ForeignKey(Region, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["prediction", "-score", "id"]

    def __str__(self):
        return f"predicted region {self.pk} ({self.score:.2f})"


class QueueOrder(models.TextChoices):
    AGE = "age", "Oldest sample first"
    UNCERTAINTY = "uncertainty", "Where the model is least sure first"


class QueueSetting(models.Model):
    """A data manager's choice of order for one stage's queue. Gold samples and priority come first
    whatever the order; it decides among samples of equal priority."""

    stage = models.CharField(max_length=20, choices=Stage.choices, unique=True)
    order = models.CharField(max_length=20, choices=QueueOrder.choices, default=QueueOrder.AGE)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.stage} queue: {self.get_order_display()}"
