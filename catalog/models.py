from django.conf import settings
from django.db import models

from base.jobs import BatchedJob


class SourceKind(models.TextChoices):
    BENCHMARK = "benchmark", "Public benchmark"  # MVTec AD, VisA, NEU-DET, ...
    WEB = "web", "Web-mined"  # images with surrounding text found on the web
    PARTNER = "partner", "Industry partner"  # usually restricted
    SYNTHETIC = "synthetic", "Synthetic"  # generated (Defect-Gen, demo data)


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public"  # every signed-in member sees it
    RESTRICTED = "restricted", "Restricted"  # only the source's members (and admins) see it


class Source(models.Model):
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=SourceKind.choices, default=SourceKind.BENCHMARK)
    license = models.TextField(blank=True)
    visibility = models.CharField(max_length=20, choices=Visibility.choices, default=Visibility.PUBLIC)
    provenance = models.TextField(blank=True, help_text="Where the data came from: URL, commit, contract.")
    # Which public dataset's class names the source's raw labels are (vocabulary/data/label_maps):
    # 'copper' means spurious copper in a DeepPCB source only. Set by its importer, or by hand.
    dataset = models.CharField(
        max_length=40,
        blank=True,
        help_text="The public dataset whose class names this source uses (mvtec-ad, visa, deeppcb ...), or blank.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="restricted_sources",
        help_text="Who may see a restricted source's samples.",
    )
    # The sources whose samples this one's were made from (Defect-Gen's synthetic images): it is never
    # more visible than they are, also after an admin restricts one (services.source_access_set).
    derived_from = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="derivatives",
        editable=False,  # set by source_derived_from; a form would list every source, hidden ones too
        help_text="The sources whose data this source's samples were generated from.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_all_restricted", "Can see every restricted source"),
            ("manage_source_access", "Can change a source's visibility and members"),
        ]

    def __str__(self):
        return self.name


class SourceEventKind(models.TextChoices):
    CREATED = "created", "Created"
    VISIBILITY = "visibility", "Visibility changed"
    MEMBER_ADDED = "member_added", "Member added"
    MEMBER_REMOVED = "member_removed", "Member removed"
    LICENSE = "license", "License changed"


class SourceEvent(models.Model):
    """The append-only audit trail of who may see a source: every change of its visibility or
    members (and its license), with who made it. `actor` is empty for the command line."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=SourceEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.source}: {self.get_kind_display()} by {self.actor or 'the command line'}"


def original_name(sha256: str, filename: str) -> str:
    """Storage names are content-addressed: the same bytes always land at the same name."""
    dot = filename.rfind(".")
    suffix = filename[dot:].lower() if dot != -1 else ""
    return f"originals/{sha256[:2]}/{sha256}{suffix}"


def asset_name(sha256: str) -> str:
    return f"assets/{sha256[:2]}/{sha256}.jpg"


def thumbnail_name(sha256: str) -> str:
    return f"thumbnails/{sha256[:2]}/{sha256}.jpg"


def _original_upload_to(sample, filename):
    return original_name(sample.sha256, filename)


def _asset_upload_to(sample, filename):
    return asset_name(sample.sha256)


def _thumbnail_upload_to(sample, filename):
    return thumbnail_name(sample.sha256)


class Sample(models.Model):
    """One image as it came from its source, with the derived 512x512 asset and thumbnail.

    Files are content-addressed by the sha256 of the original bytes, which also makes an
    import idempotent. An image is one sample per deduplication scope (catalog/dedup.py): the
    public catalog is one scope, each restricted source is its own, so the same bytes can be a
    sample of a public source and of a partner's. Such samples share their files: a file is never
    deleted with a sample.
    """

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="samples")
    external_id = models.CharField(
        max_length=500, help_text="The sample's name in its source, e.g. the path inside the import root."
    )
    original = models.FileField(upload_to=_original_upload_to, max_length=300)
    asset = models.FileField(upload_to=_asset_upload_to, max_length=300)
    thumbnail = models.FileField(upload_to=_thumbnail_upload_to, max_length=300)
    sha256 = models.CharField(max_length=64, db_index=True)
    # Where this image is deduplicated (catalog/dedup.py): null for the public catalog, the sample's
    # own source while that source is restricted. Unique with sha256, one sample per image per scope.
    # (dedup_scope, sha256)'s unique index serves lookups by scope: no index of its own.
    dedup_scope = models.ForeignKey(
        Source, null=True, blank=True, editable=False, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    phash = models.CharField(max_length=16, db_index=True, help_text="64-bit DCT perceptual hash, hex.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    original_format = models.CharField(max_length=10)
    original_size = models.PositiveBigIntegerField(default=0, help_text="Bytes of the original file.")
    domain = models.CharField(max_length=200, blank=True, db_index=True)
    product = models.CharField(max_length=200, blank=True, db_index=True)
    source_text = models.TextField(blank=True, help_text="Text found with the image (web-mined).")
    source_text_language = models.CharField(max_length=10, blank=True)
    is_synthetic = models.BooleanField(default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["source", "-id"], name="sample_source_id"),
            # source + domain filters of the sample list: a combination that matches nothing must not
            # walk the whole (source, id) range to find that out.
            models.Index(fields=["source", "domain", "-id"], name="sample_source_domain_id"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["sha256"], condition=models.Q(dedup_scope__isnull=True), name="one_public_sample_per_image"
            ),
            models.UniqueConstraint(
                fields=["dedup_scope", "sha256"],
                condition=models.Q(dedup_scope__isnull=False),
                name="one_sample_per_image_per_scope",
            ),
        ]

    def __str__(self):
        return f"{self.source_id}:{self.external_id}"


class SourceRegion(models.Model):
    """A defect region as its source delivered it: raw class name, mask and/or box.

    The annotation workflow maps the raw label to a vocabulary term and builds on these.
    """

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="source_regions")
    label = models.CharField(max_length=200, help_text="The source's raw class name.")
    # COCO-style uncompressed RLE {"size": [h, w], "counts": [...]} (column-major), or null for a box only.
    mask_rle = models.JSONField(null=True, blank=True)
    # [x, y, width, height] in original pixels, like COCO.
    bbox = models.JSONField()
    area = models.PositiveIntegerField(help_text="Mask pixels, or the box area for a box only.")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.label} on sample {self.sample_id}"


class ImportJob(BatchedJob):
    """An import, done in batches of IMPORT_BATCH_SIZE items in the importer's discovery order."""

    format = models.CharField(max_length=40)
    path = models.CharField(max_length=1000)
    # What the requester said beyond the layout: product, domain, and COCO's image folder (ImportOptions).
    options = models.JSONField(default=dict, blank=True)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="import_jobs")
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)

    class Meta(BatchedJob.Meta):
        pass

    def __str__(self):
        return f"import #{self.pk} {self.format} {self.path}"


class RowOutcome(models.TextChoices):
    IMPORTED = "imported", "Imported"
    DUPLICATE = "duplicate", "Skipped as duplicate"
    REJECTED = "rejected", "Rejected"


class ImportRow(models.Model):
    """The per-row report of an import: what happened to each item, and why."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    item = models.CharField(max_length=1000, help_text="The item's path relative to the import root.")
    outcome = models.CharField(max_length=20, choices=RowOutcome.choices)
    reason = models.TextField(blank=True)
    # An imported row can still have lost something (mask values no class names, a missing label):
    # each such finding is one sentence here, never a silent drop.
    warnings = models.JSONField(default=list, blank=True)
    sample = models.ForeignKey(Sample, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.item}: {self.outcome}"


class EmbeddingSpace(models.Model):
    """One image-embedding model: the vectors of two spaces are not comparable. Its identity is
    what computed the vectors (model name, weights file or training checkpoint, fingerprint), and
    `random_init` says when that was a randomly initialised tower: its distances carry no meaning, are
    never used to find near-duplicates (pHash only), and every answer built on them says so."""

    key = models.CharField(max_length=500, unique=True, help_text="model|weights|fingerprint: the identity.")
    model_name = models.CharField(max_length=200, help_text="The open_clip model whose image tower embeds.")
    weights = models.CharField(max_length=1000, help_text="The weights file or checkpoint folder, or random-init.")
    random_init = models.BooleanField(default=False)
    dim = models.PositiveIntegerField(default=0, help_text="Vector length; 0 until the first vectors arrive.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        flag = " (random init)" if self.random_init else ""
        return f"{self.model_name} from {self.weights}{flag}"


class SampleEmbedding(models.Model):
    """One sample's image embedding in one space, as float32 bytes (little-endian, `space.dim` of them).
    The platform's nearest-neighbour index (catalog/embedding_index.py) is built from these rows."""

    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="embeddings")
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="embeddings")
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["space", "sample"], name="one_embedding_per_space")]

    def __str__(self):
        return f"sample {self.sample_id} in space {self.space_id}"


class NearDuplicatePair(models.Model):
    """Two samples whose embeddings in one space are at most NEAR_DUPLICATE_MAX_COSINE_DISTANCE apart
    (as that setting was when the pair was found), stored once with sample_a < sample_b. The embedding
    batches add the pairs of their new vectors, the job's last step and `manage.py embedding_index
    --pairs` re-find what they missed (catalog/near_duplicate_pairs.py); near-duplicate groups read
    these rows instead of searching the index per request. A deleted sample takes its pairs along."""

    space = models.ForeignKey(EmbeddingSpace, on_delete=models.CASCADE, related_name="near_duplicate_pairs")
    sample_a = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="+")
    sample_b = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="+")
    cosine_distance = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "sample_a", "sample_b"], name="one_near_duplicate_pair"),
            models.CheckConstraint(condition=models.Q(sample_a__lt=models.F("sample_b")), name="pair_ordered"),
        ]
        # (space, sample_a) is the unique constraint's prefix; this one serves the other side.
        indexes = [models.Index(fields=["space", "sample_b"], name="pair_space_sample_b")]

    def __str__(self):
        return f"samples {self.sample_a_id} and {self.sample_b_id} in space {self.space_id}"
