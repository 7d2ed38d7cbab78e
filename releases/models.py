from django.conf import settings
from django.db import models

from base.jobs import Job


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"  # frozen list made, still deletable; not exportable outside tests
    PUBLISHED = "published", "Published"  # immutable: exports read it forever


class DatasetVersion(models.Model):
    """A release: the frozen list of (sample, annotation revision, sha256, split) a selection gave.

    Later edits to a sample make new revisions; a version keeps pointing at the ones it froze."""

    number = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    # {"sources": [ids], "domains": [...], "defect_types": [slugs], "licenses": [...],
    #  "include_restricted": false, "include_synthetic": true}
    selection = models.JSONField(default=dict, blank=True)
    # {"train": .8, "val": .1, "test": .1, "seed": 0, "stratify": false,
    #  "held_out_defect_types": [slugs], "held_out_domains": [...]}
    split_plan = models.JSONField(default=dict, blank=True)
    vocabulary_version = models.ForeignKey(
        "vocabulary.VocabularyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sample_count = models.PositiveIntegerField(default=0)
    statistics = models.JSONField(default=dict, blank=True)
    # Every source with a sample in the version, written when it is frozen: who may see the version
    # (whoever may see all of them: catalog.selectors.without_hidden) is one join, not a scan of items.
    sources = models.ManyToManyField("catalog.Source", blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]

    def __str__(self):
        return f"{self.name}: {self.title}"

    @property
    def name(self) -> str:
        return f"v{self.number}"


class DatasetVersionItem(models.Model):
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="items")
    sample = models.ForeignKey("catalog.Sample", on_delete=models.PROTECT, related_name="+")
    revision = models.ForeignKey("annotation.AnnotationRevision", on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64)
    split = models.CharField(max_length=10)
    restricted = models.BooleanField(default=False, help_text="From a restricted source.")

    class Meta:
        ordering = ["version", "split", "sample"]
        constraints = [models.UniqueConstraint(fields=["version", "sample"], name="version_sample_once")]
        indexes = [models.Index(fields=["version", "split", "sample"], name="version_item_order")]

    def __str__(self):
        return f"{self.sample_id} in {self.version_id} ({self.split})"


class ExportFormat(models.TextChoices):
    WEBDATASET = "webdataset", "WebDataset shards, Parquet index and dataset card"
    COCO = "coco", "COCO instances JSON per split"
    QA = "qa", "QA pairs, JSONL (LLaVA conversations)"
    CAPTIONS = "captions", "Captions CSV"
    ANOMALIB = "anomalib", "MVTec AD folders per product (anomalib)"
    YOLO = "yolo", "YOLO detection and segmentation labels"


class Export(Job):
    """A job writing a version's files to a target. Status, error, who and when come from Job;
    a WebDataset export's work is its shards (ExportShard), the others' one task."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="exports")
    format = models.CharField(max_length=20, choices=ExportFormat.choices, default=ExportFormat.WEBDATASET)
    target = models.CharField(max_length=500, help_text="A directory, or s3://bucket/prefix.")
    include_restricted = models.BooleanField(
        default=False, help_text="Marked for restricted sources: only then are their samples written."
    )
    shard_max_samples = models.PositiveIntegerField(default=10_000)
    shard_max_bytes = models.PositiveBigIntegerField(default=1_000_000_000)
    # The class list every shard task uses: [{"index": 0, "slug": "background", "labels": {...}}, ...]
    classes = models.JSONField(default=list, blank=True)
    # The image member's extension in every sample of the shards ("jpg", "png", or "image" for a mix)
    image_member = models.CharField(max_length=10, blank=True)
    shards_total = models.PositiveIntegerField(default=0)
    shards_done = models.PositiveIntegerField(default=0)
    samples_written = models.PositiveIntegerField(default=0)
    manifest_sha256 = models.CharField(max_length=64, blank=True)

    class Meta(Job.Meta):
        pass

    def __str__(self):
        return f"export #{self.pk} of {self.version.name} as {self.format} to {self.target}"


class ShardStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMMITTED = "committed", "Committed"  # complete at the target under its final name, sha256 known


class ExportShard(models.Model):
    """One file of an export and the fixed range of version items it holds (set when the export
    starts, so every re-run writes the same samples into the same shard)."""

    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveIntegerField()
    split = models.CharField(max_length=10)
    name = models.CharField(max_length=200)
    first_sample = models.BigIntegerField()
    last_sample = models.BigIntegerField()
    samples = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=ShardStatus.choices, default=ShardStatus.PENDING)
    sha256 = models.CharField(max_length=64, blank=True)
    bytes = models.PositiveBigIntegerField(default=0)
    # The shard's Parquet index (shard_index.py), committed after the tar
    index_sha256 = models.CharField(max_length=64, blank=True)
    index_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["export", "index"]
        constraints = [models.UniqueConstraint(fields=["export", "index"], name="export_shard_index")]

    def __str__(self):
        return self.name
