"""Training runs launched from the platform, and the checkpoints they leave.

A run is one subprocess of the torch core (``python -m modeling.train`` / ``modeling.evaluate``),
supervised by a Celery task on the ``train`` queue; see modeling/runs.py.
"""

from django.db import models

from base.jobs import BatchedJob, Job


class RunKind(models.TextChoices):
    STAGE_1 = "stage1", "Stage 1 pretraining"
    STAGE_2 = "stage2", "Stage 2 fine-tuning"
    EVALUATE = "evaluate", "Evaluation"
    DEFECT_GEN = "defect_gen", "Defect-Gen training"
    GENERATE = "generate", "Defect-Gen synthesis"
    TEXT_TO_IMAGE = "text_to_image", "Text-to-image synthesis"
    CLICK = "click", "Click segmenter training"


class TrainingRun(Job):
    kind = models.CharField(max_length=20, choices=RunKind.choices)
    dataset_version = models.ForeignKey(
        "releases.DatasetVersion", on_delete=models.PROTECT, related_name="training_runs"
    )
    export = models.ForeignKey(
        "releases.Export",
        on_delete=models.PROTECT,
        related_name="training_runs",
        help_text="The WebDataset export whose shards the run reads.",
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text=(
            "Stage 2: the Stage 1 run it starts from. Evaluation: the Stage 2 run it scores. "
            "Synthesis: the Defect-Gen run whose checkpoint generates. Text-to-image: the Stage 1 run."
        ),
    )
    config_preset = models.CharField(max_length=200, default="tiny", help_text="tiny, sd15, or a config JSON path.")
    config_overrides = models.JSONField(
        default=list, blank=True, help_text='KEY=VALUE strings, e.g. ["train.lr=5e-5", "data.batch_size=4"].'
    )
    steps = models.PositiveIntegerField(null=True, blank=True, help_text="Total steps; empty: the preset's.")
    few_shot_per_class = models.PositiveIntegerField(null=True, blank=True)
    split = models.CharField(max_length=20, blank=True, help_text="Manifest split; empty: train (test to evaluate).")
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='Defect-Gen: {"classes": [slugs], "product": slug, "domain": slug}; '
        'synthesis: {"per_class": N, "seed": S, "switch_at": U}; text-to-image: {"limit": N, "per_prompt": K, '
        '"guidance": 7.5, "steps": 50, "sampler": "ddim", "seed": S}.',
    )
    generated_source = models.OneToOneField(
        "catalog.Source",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="generated_by",
        help_text="Synthesis: the synthetic source its samples were imported into.",
    )

    cancel_requested = models.BooleanField(default=False)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True, help_text="The newest metrics line.")
    report = models.JSONField(default=dict, blank=True, help_text="Evaluation report (evaluation runs).")
    command = models.JSONField(default=list, blank=True)
    out_dir = models.CharField(max_length=500, blank=True)
    checkpoint_path = models.CharField(max_length=500, blank=True, help_text="The newest checkpoint folder.")
    log_tail = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    pid = models.IntegerField(null=True, blank=True)

    class Meta(Job.Meta):
        indexes = [models.Index(fields=["status", "-id"])]

    def __str__(self):
        return f"run {self.pk} ({self.get_kind_display()}, {self.dataset_version})"

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0


class RunMetric(models.Model):
    """One metrics line of the trainer (its metrics.jsonl), kept for the loss curves."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metric_lines")
    step = models.PositiveIntegerField()
    values = models.JSONField()

    class Meta:
        ordering = ["run", "step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="run_metric_once_per_step")]

    def __str__(self):
        return f"{self.run_id}/step {self.step}"


class ModelCheckpoint(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.PositiveIntegerField()
    stage = models.CharField(max_length=20)
    path = models.CharField(max_length=500)
    size_bytes = models.PositiveBigIntegerField(default=0)
    config = models.JSONField(default=dict, blank=True)
    weights = models.JSONField(default=dict, blank=True, help_text="The pretrained weights in use, as recorded.")
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="checkpoint_once_per_step")]

    def __str__(self):
        return f"{self.run_id}/step {self.step}"


class PreannotationJob(BatchedJob):
    """A Stage 2 checkpoint's predictions for one source's samples that nobody has started, in
    batches of PREANNOTATION_BATCH_SIZE annotations in sample-id order (modeling/preannotation.py).
    The predictions are stored by annotation (annotation.predictions), never over human work."""

    checkpoint = models.ForeignKey(ModelCheckpoint, on_delete=models.PROTECT, related_name="preannotation_jobs")
    source = models.ForeignKey("catalog.Source", on_delete=models.PROTECT, related_name="+")
    classes = models.JSONField(
        default=list, help_text="The defect-type term slugs the model chooses among, fixed when the job is made."
    )
    limit = models.PositiveIntegerField(null=True, blank=True, help_text="At most this many samples; empty: all.")
    score_threshold = models.FloatField(default=0.3)
    cursor = models.PositiveBigIntegerField(default=0, help_text="The last sample id of the committed batches.")
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    predicted = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="A person had started them, or the model had done them.")
    failed = models.PositiveIntegerField(default=0)

    class Meta(BatchedJob.Meta):
        pass

    def __str__(self):
        return f"pre-annotation #{self.pk} ({self.source}, checkpoint {self.checkpoint_id})"


class PreannotationOutcome(models.TextChoices):
    PREDICTED = "predicted", "Predicted"
    SKIPPED = "skipped", "Skipped"  # reason says why (a person started it, predicted before)
    FAILED = "failed", "Failed"  # the image could not be read; reason has the error


class PreannotationItem(models.Model):
    """What the job did with one sample: a batch run twice finds the row and passes the sample over."""

    job = models.ForeignKey(PreannotationJob, on_delete=models.CASCADE, related_name="items")
    annotation = models.ForeignKey("annotation.Annotation", on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=20, choices=PreannotationOutcome.choices)
    reason = models.CharField(max_length=500, blank=True)
    regions = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["job", "annotation"]
        constraints = [models.UniqueConstraint(fields=["job", "annotation"], name="preannotation_item_once")]

    def __str__(self):
        return f"{self.outcome} sample {self.annotation_id} in pre-annotation {self.job_id}"


class EmbeddingJob(BatchedJob):
    """Image embeddings for curation, in batches of EMBEDDING_BATCH_SIZE samples in id order: the
    samples of `sources` that have no vector in the job's space yet. `sources` is fixed when the job
    is made (a job "of every source" names every source of that moment), so that the job is visible
    exactly to those who may see all of its sources (catalog's visibility rule, `without_hidden`).
    The space is fixed by the first batch from the tower it loads (weights file, checkpoint, or a
    seeded random tower when `allow_random_init`); a later batch that loads another tower fails."""

    sources = models.ManyToManyField(
        "catalog.Source", blank=True, related_name="+", help_text="The sources whose samples the job embeds."
    )
    model_name = models.CharField(max_length=200, help_text="The open_clip model (ignored with a checkpoint).")
    weights = models.CharField(max_length=1000, blank=True, help_text="A local open_clip weights file.")
    checkpoint = models.CharField(max_length=1000, blank=True, help_text="A training checkpoint or run folder.")
    allow_random_init = models.BooleanField(
        default=False, help_text="Without weights or checkpoint: embed with a seeded random tower (flagged)."
    )
    space = models.ForeignKey(
        "catalog.EmbeddingSpace", null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    last_sample_id = models.PositiveBigIntegerField(default=0, help_text="The cursor: samples up to it are done.")
    processed = models.PositiveIntegerField(default=0)
    embedded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    failures = models.JSONField(
        default=list, blank=True, help_text='The first failures: [{"sample": id, "error": "..."}].'
    )
    index_report = models.JSONField(default=dict, blank=True, help_text="The finishing step's index reconciliation.")

    class Meta(BatchedJob.Meta):
        pass

    def __str__(self):
        return f"embedding job #{self.pk} ({self.checkpoint or self.weights or 'random init'})"
