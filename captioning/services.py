"""Caption jobs: pick the samples, draft each one, validate and store the draft, count usage.

A job is idempotent and resumable: a sample it already has an attempt row for is passed over, and a
sample whose current draft came from the same prompt version and the same inputs is skipped. One
sample's failure (endpoint down, a reply that is not JSON) is recorded on its attempt row and the
job goes on; earlier drafts are never touched.
"""

import hashlib
import json
import logging
import threading
import time

import openai
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from annotation.error_codes import WorkflowError
from annotation.models import Annotation, AnnotationState
from annotation.revision_content import content_of, revisions_with_content
from annotation.services import annotation_attach_draft_captions
from vocabulary.models import Facet, Term, TermStatus
from vocabulary.selectors import caption_validator

from .inputs import LANGUAGES, CaptionError, CaptionInputs, RegionInfo, TermText
from .llm import LLMCaptioner
from .models import AttemptOutcome, CaptionAttempt, CaptionDraft, CaptionerKind, CaptionJob, JobStatus
from .template_captioner import GRID_LOCATIONS, SIZE_TERMS, TemplateCaptioner

logger = logging.getLogger(__name__)

# The annotation template's field names -> the captioner's facet names.
FIELD_FACETS = {
    "product": Facet.PRODUCT,
    "materials": Facet.MATERIAL,
    "defect_types": Facet.DEFECT_TYPE,
    "locations": Facet.LOCATION,
    "morphology": Facet.MORPHOLOGY,
    "root_causes": Facet.ROOT_CAUSE,
}


class CaptionJobError(ValueError):
    """A job that cannot be created as asked; the message names what is wrong."""


def caption_job_create(
    *,
    captioner: str,
    languages: tuple[str, ...] = LANGUAGES,
    filters: dict | None = None,
    retry_failed_of: CaptionJob | None = None,
    created_by: User | None = None,
) -> CaptionJob:
    if captioner not in CaptionerKind.values:
        raise CaptionJobError(f"unknown captioner {captioner!r}; one of {', '.join(CaptionerKind.values)}")
    unknown = [code for code in languages if code not in LANGUAGES]
    if unknown or not languages:
        raise CaptionJobError(f"languages must be some of {', '.join(LANGUAGES)}; got {', '.join(languages) or 'none'}")
    if captioner == CaptionerKind.LLM and not settings.CAPTION_MODEL:
        raise CaptionJobError("the LLM captioner needs CAPTION_MODEL (and OPENAI_BASE_URL / OPENAI_API_KEY)")
    filters = filters or {}
    unknown_filters = set(filters) - {"sources", "states", "samples", "limit"}
    if unknown_filters:
        raise CaptionJobError(f"unknown filter(s) {', '.join(sorted(unknown_filters))}")
    bad_states = set(filters.get("states", [])) - set(AnnotationState.values)
    if bad_states:
        raise CaptionJobError(f"unknown state(s) {', '.join(sorted(bad_states))}")
    return CaptionJob.objects.create(
        captioner=captioner,
        languages=",".join(languages),
        filters=filters,
        retry_failed_of=retry_failed_of,
        created_by=created_by,
    )


def caption_job_enqueue(*, job: CaptionJob) -> None:
    from .tasks import caption_job_run_task

    transaction.on_commit(lambda: caption_job_run_task.delay(job.id))


def caption_job_cancel(*, job: CaptionJob) -> CaptionJob:
    CaptionJob.objects.filter(pk=job.pk, status__in=(JobStatus.PENDING, JobStatus.RUNNING)).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def job_annotations(job: CaptionJob):
    """The annotations a job covers, in a stable order."""
    if job.retry_failed_of_id:
        failed = CaptionAttempt.objects.filter(job_id=job.retry_failed_of_id, outcome=AttemptOutcome.FAILED)
        annotations = Annotation.objects.filter(pk__in=failed.values("annotation_id"))
    else:
        annotations = Annotation.objects.all()
    filters = job.filters or {}
    if filters.get("sources"):
        annotations = annotations.filter(source_id__in=filters["sources"])
    if filters.get("states"):
        annotations = annotations.filter(state__in=filters["states"])
    if filters.get("samples"):
        annotations = annotations.filter(pk__in=filters["samples"])
    annotations = annotations.order_by("pk")
    if filters.get("limit"):
        annotations = annotations[: int(filters["limit"])]
    return annotations


def caption_job_run(*, job: CaptionJob, captioner=None, on_progress=None) -> CaptionJob:
    """Draft every selected sample that this job has not handled yet (so a re-run resumes)."""
    try:
        captioner = captioner or captioner_from_settings(job.captioner)
    except CaptionError as error:
        return _finish(job, JobStatus.FAILED, str(error))
    done = set(job.attempts.values_list("annotation_id", flat=True))
    ids = [pk for pk in job_annotations(job).values_list("pk", flat=True)]
    job.total = len(ids)
    job.status = JobStatus.RUNNING
    job.started_at = job.started_at or timezone.now()
    job.save(update_fields=["total", "status", "started_at"])
    limiter = RateLimiter(settings.CAPTION_RATE_LIMIT_PER_MINUTE if job.captioner == CaptionerKind.LLM else 0)
    validator = caption_validator()
    known_slugs = _known_slugs()  # once per job, not once per sample

    for annotation_id in ids:
        if annotation_id in done:
            continue
        if CaptionJob.objects.filter(pk=job.pk, status=JobStatus.CANCELLED).exists():
            job.refresh_from_db()
            return job
        _caption_one(job, annotation_id, captioner, validator, limiter, known_slugs)
        if on_progress:
            job.refresh_from_db()
            on_progress(job)
    job.refresh_from_db()
    return _finish(job, JobStatus.SUCCEEDED)


def _caption_one(job: CaptionJob, annotation_id: int, captioner, validator, limiter, known_slugs: set[str]) -> None:
    annotation = Annotation.objects.select_related("sample", "current_revision").filter(pk=annotation_id).first()
    if annotation is None:
        return
    languages = job.language_list
    inputs = caption_inputs(annotation, with_image=getattr(captioner, "vision", False))
    inputs_hash = hash_inputs(inputs, captioner, languages)
    current = annotation.caption_drafts.order_by("-id").first()
    if current and current.inputs_hash == inputs_hash and current.prompt_version == captioner.prompt_version:
        _record(job, annotation, AttemptOutcome.SKIPPED)
        return

    limiter.wait()
    try:
        result = captioner.caption(inputs, languages=languages)
    except CaptionError as error:
        _record(job, annotation, AttemptOutcome.FAILED, error=str(error), retryable=error.retryable)
        return
    except Exception as error:  # a bug must cost one sample, not the job
        logger.exception("caption drafting failed for sample %s", annotation_id)
        _record(job, annotation, AttemptOutcome.FAILED, error=f"unexpected error: {type(error).__name__}: {error}")
        return

    report = validator.validate(result.captions, **validation_options(inputs, languages)).as_dict()
    invented = sorted(set(result.terms_used) - known_slugs)
    if invented:
        report["findings"].append(
            {
                "code": "invented_terms",
                "severity": "error",
                "language": "",
                "term": None,
                "span": None,
                "suggestions": [],
                "message": f"the model listed terms not in the vocabulary: {', '.join(invented)}",
            }
        )
        report["passed"] = False
    with transaction.atomic():
        draft = CaptionDraft.objects.create(
            annotation=annotation,
            job=job,
            generator=result.generator,
            prompt_version=result.prompt_version,
            inputs_hash=inputs_hash,
            captions=result.captions,
            terms_used=result.terms_used,
            proposed_fields=result.proposed_fields,
            settings=result.settings,
            usage=result.usage,
            validation=report,
            passed=report["passed"],
        )
        _record(job, annotation, AttemptOutcome.DRAFTED, draft=draft, usage=result.usage, flagged=not draft.passed)
    # Stage 1 starts from the draft when nobody has begun the sample yet.
    if annotation.state == AnnotationState.UNASSIGNED:
        generator = "template" if result.generator == "template" else f"llm:{result.generator}"
        try:
            annotation_attach_draft_captions(sample_id=annotation.pk, captions=result.captions, generator=generator)
        except WorkflowError as error:  # someone claimed it meanwhile: the draft stays for them to see
            logger.info("draft for sample %s not attached: %s", annotation.pk, error)


def _record(job, annotation, outcome, *, error="", retryable=False, draft=None, usage=None, flagged=False):
    usage = usage or {}
    CaptionAttempt.objects.create(
        job=job, annotation=annotation, outcome=outcome, error=error, retryable=retryable, draft=draft
    )
    CaptionJob.objects.filter(pk=job.pk).update(
        processed=F("processed") + 1,
        # int(): PostgreSQL refuses integer + boolean.
        drafted=F("drafted") + int(outcome == AttemptOutcome.DRAFTED),
        skipped=F("skipped") + int(outcome == AttemptOutcome.SKIPPED),
        failed=F("failed") + int(outcome == AttemptOutcome.FAILED),
        flagged=F("flagged") + int(flagged),
        requests=F("requests") + (1 if usage else 0),
        prompt_tokens=F("prompt_tokens") + usage.get("prompt_tokens", 0),
        completion_tokens=F("completion_tokens") + usage.get("completion_tokens", 0),
    )


def _finish(job: CaptionJob, status: str, error: str = "") -> CaptionJob:
    CaptionJob.objects.filter(pk=job.pk).exclude(status=JobStatus.CANCELLED).update(
        status=status, error=error, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def _known_slugs() -> set[str]:
    return set(Term.objects.filter(status=TermStatus.APPROVED).values_list("slug", flat=True))


def _term_text(term: Term) -> TermText:
    return TermText(term.slug, {"en": term.label_en, "zh": term.label_zh, "ja": term.label_ja})


def caption_inputs(annotation: Annotation, *, with_image: bool = False) -> CaptionInputs:
    revision = revisions_with_content().filter(pk=annotation.current_revision_id).first()
    content = content_of(revision)
    sample = annotation.sample
    fields = {
        FIELD_FACETS[name]: [_term_text(term) for term in terms]
        for name, terms in content.fields.items()
        if name in FIELD_FACETS
    }
    regions = [
        RegionInfo(_term_text(region.defect_type) if region.defect_type else None, tuple(region.bbox), region.area)
        for region in content.regions
    ]
    image_bytes = None
    if with_image:
        with sample.asset.open("rb") as asset:
            image_bytes = asset.read()
    return CaptionInputs(
        fields=fields,
        regions=regions,
        width=sample.width,
        height=sample.height,
        source_text=sample.source_text,
        source_language=sample.source_text_language,
        image_bytes=image_bytes,
        image_format="jpeg",
    )


def validation_options(inputs: CaptionInputs, languages: tuple[str, ...]) -> dict:
    """What the validator compares a draft with: the annotation's defect types (when it records
    any: a sample nobody has typed yet has nothing to contradict), the job's languages, and the
    sample's domain and product (they support ambiguous aliases)."""
    defect_types = {term.slug for term in inputs.terms("defect_type")}
    defect_types |= {region.term.slug for region in inputs.regions if region.term}
    return {
        "annotation_terms": {"defect_type": defect_types} if defect_types else None,
        "required_languages": languages,
        "context": tuple(term.slug for facet in ("domain", "product") for term in inputs.terms(facet)),
    }


def hash_inputs(inputs: CaptionInputs, captioner, languages: tuple[str, ...]) -> str:
    """Everything a draft depends on: the captioner and its settings, the languages, the content."""
    document = {
        "captioner": captioner.name,
        "prompt_version": captioner.prompt_version,
        "vision": getattr(captioner, "vision", False),
        "seed": getattr(captioner, "seed", None),
        "languages": list(languages),
        "fields": {facet: [t.slug for t in terms] for facet, terms in sorted(inputs.fields.items())},
        "regions": [[r.term.slug if r.term else None, [round(v, 1) for v in r.bbox], r.area] for r in inputs.regions],
        "size": [inputs.width, inputs.height],
        "source_text": inputs.source_text,
        "image": hashlib.sha256(inputs.image_bytes).hexdigest() if inputs.image_bytes else None,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def captioner_from_settings(kind: str):
    if kind == CaptionerKind.TEMPLATE:
        geometry = {slug for row in GRID_LOCATIONS for slug in row} | {slug for _, slug in SIZE_TERMS if slug}
        labels = {term.slug: _term_text(term) for term in Term.objects.filter(slug__in=geometry)}
        return TemplateCaptioner(term_labels=labels, seed=settings.CAPTION_TEMPLATE_SEED)
    if not settings.CAPTION_MODEL:
        raise CaptionError("CAPTION_MODEL is not set")
    client = openai.OpenAI(
        base_url=settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY or "not-needed",  # vLLM and Ollama accept any key
        timeout=settings.CAPTION_TIMEOUT,
        max_retries=settings.CAPTION_MAX_RETRIES,
    )
    vocabulary: dict[str, list[TermText]] = {}
    for term in Term.objects.filter(status=TermStatus.APPROVED, facet__in=FIELD_FACETS.values()).order_by("slug"):
        vocabulary.setdefault(term.facet, []).append(_term_text(term))
    return LLMCaptioner(
        client=client, model=settings.CAPTION_MODEL, vocabulary=vocabulary, vision=settings.CAPTION_VISION
    )


class RateLimiter:
    """At most `per_minute` calls a minute, spaced evenly (0: no limit)."""

    def __init__(self, per_minute: int):
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)
