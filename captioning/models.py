from django.conf import settings
from django.db import models

from base.jobs import BatchedJob


class CaptionerKind(models.TextChoices):
    TEMPLATE = "template", "Template (offline)"
    LLM = "llm", "LLM (OpenAI-compatible endpoint)"


class CaptionJob(BatchedJob):
    """Drafts for the selected samples, in batches of CAPTION_JOB_BATCH_SIZE in sample-id order."""

    captioner = models.CharField(max_length=20, choices=CaptionerKind.choices, default=CaptionerKind.TEMPLATE)
    languages = models.CharField(max_length=20, default="en,zh,ja")
    # {"sources": [ids], "states": [...], "samples": [ids], "limit": n}; empty: every annotation.
    filters = models.JSONField(default=dict, blank=True)
    retry_failed_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Only the samples that failed in that job.",
    )
    # The sources whose samples the job may caption, fixed when it is made: those its creator may see,
    # narrowed by filters["sources"]. Who may see the job: whoever may see all of them.
    sources = models.ManyToManyField("catalog.Source", blank=True, related_name="+")
    cursor = models.PositiveBigIntegerField(default=0, help_text="The last sample id of the committed batches.")
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    drafted = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="The current draft already had these inputs.")
    failed = models.PositiveIntegerField(default=0)
    flagged = models.PositiveIntegerField(default=0, help_text="Drafted, but the validator found errors.")
    requests = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)

    class Meta(BatchedJob.Meta):
        pass

    def __str__(self):
        return f"caption job #{self.pk} ({self.captioner}, {self.status})"

    @property
    def language_list(self) -> tuple[str, ...]:
        return tuple(code for code in self.languages.split(",") if code)

    @property
    def estimated_cost(self) -> float:
        """In the currency of CAPTION_PRICE_*_PER_MTOK (per million tokens)."""
        return round(
            self.prompt_tokens * settings.CAPTION_PRICE_PROMPT_PER_MTOK / 1e6
            + self.completion_tokens * settings.CAPTION_PRICE_COMPLETION_PER_MTOK / 1e6,
            4,
        )


class CaptionDraft(models.Model):
    """A generated set of captions for one sample, with its provenance and the validator's report.

    Kept whatever the report says: a draft that fails validation is flagged, never dropped or fixed.
    The newest draft of a sample is its current draft."""

    annotation = models.ForeignKey("annotation.Annotation", on_delete=models.CASCADE, related_name="caption_drafts")
    job = models.ForeignKey(CaptionJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="drafts")
    generator = models.CharField(max_length=100, help_text="'template' or the model's name.")
    prompt_version = models.CharField(max_length=40)
    inputs_hash = models.CharField(max_length=64, help_text="sha256 of everything the draft was made from.")
    captions = models.JSONField(help_text='{"en": "...", "zh": "...", "ja": "..."}')
    terms_used = models.JSONField(default=list)
    proposed_fields = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    validation = models.JSONField(help_text="The caption validator's report.")
    passed = models.BooleanField(help_text="No validator error (warnings allowed).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["annotation", "-id"], name="caption_draft_current")]

    def __str__(self):
        return f"draft #{self.pk} of sample {self.annotation_id} by {self.generator}"


class EndpointRateLimit(models.Model):
    """The next free request slot of one LLM endpoint, shared by every caption job and worker when
    there is no Redis (captioning/rate_limit.py)."""

    endpoint = models.CharField(max_length=500, unique=True)
    next_slot_at = models.DateTimeField()

    def __str__(self):
        return f"{self.endpoint}: next request at {self.next_slot_at}"


class AttemptOutcome(models.TextChoices):
    DRAFTED = "drafted", "Drafted"
    SKIPPED = "skipped", "Skipped (same inputs as the current draft)"
    FAILED = "failed", "Failed"


class CaptionAttempt(models.Model):
    """What a job did with one sample. A job that is run again skips the samples it has rows for,
    which is how it resumes after a crash."""

    job = models.ForeignKey(CaptionJob, on_delete=models.CASCADE, related_name="attempts")
    annotation = models.ForeignKey("annotation.Annotation", on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
    error = models.TextField(blank=True)
    retryable = models.BooleanField(default=False)
    draft = models.ForeignKey(CaptionDraft, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["job", "annotation"], name="caption_attempt_once")]

    def __str__(self):
        return f"{self.outcome} sample {self.annotation_id} in job {self.job_id}"
