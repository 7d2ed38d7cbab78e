"""Drafting captions for a caption job, one batch at a time: pick the batch's samples, draft each
one, validate and store the draft, count usage. Called by the tasks (captioning/tasks.py) and, for
a job run in this process, by services.caption_job_run; it never queues anything itself.

A batch is the next CAPTION_JOB_BATCH_SIZE selected samples after the job's cursor (sample-id
order). A sample the job already has an attempt row for is passed over, and a sample whose current
draft came from the same prompt version and the same inputs is skipped, so a batch run twice drafts
each sample once. One sample's failure (endpoint down, a reply that is not JSON) is recorded on its
attempt row and the job goes on; earlier drafts are never touched. Requests to the LLM endpoint
wait for the endpoint's shared rate limit (rate_limit.py).
"""

import hashlib
import json
import logging

import openai
from django.conf import settings
from django.db.models import F

from annotation.error_codes import WorkflowError
from annotation.models import Annotation, AnnotationState
from annotation.revision_content import content_of, revisions_with_content
from annotation.services import annotation_attach_draft_captions
from base.jobs import JobStatus, job_batch_begin, job_batch_done, job_batch_lock, job_finish
from vocabulary.models import Facet, Term, TermStatus
from vocabulary.selectors import caption_validator

from .inputs import CaptionError, CaptionInputs, RegionInfo, TermText
from .llm import LLMCaptioner
from .models import AttemptOutcome, CaptionAttempt, CaptionDraft, CaptionerKind, CaptionJob
from .rate_limit import endpoint_rate_limiter
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


def job_selection(job: CaptionJob):
    """The annotations a job covers, in sample-id order, before its "limit" filter."""
    if job.retry_failed_of_id:
        failed = CaptionAttempt.objects.filter(job_id=job.retry_failed_of_id, outcome=AttemptOutcome.FAILED)
        annotations = Annotation.objects.filter(pk__in=failed.values("annotation_id"))
    else:
        annotations = Annotation.objects.all()
    # Only the sources fixed when the job was made: those its creator may see (its "sources" filter included).
    annotations = annotations.filter(source_id__in=job.sources.values("pk"))
    filters = job.filters or {}
    if filters.get("states"):
        annotations = annotations.filter(state__in=filters["states"])
    if filters.get("samples"):
        annotations = annotations.filter(pk__in=filters["samples"])
    return annotations.order_by("pk")


def caption_job_batch(*, job_id: int, batch: int, captioner=None) -> bool | None:
    """Draft batch `batch` of the job. Returns True when more batches follow, False after the last,
    None when there was nothing to do (a redelivered batch, a finished or cancelled job) or the
    job failed as a whole."""
    job = job_batch_begin(CaptionJob, job_id, batch)
    if job is None:
        return None
    try:
        captioner = captioner or captioner_from_settings(job.captioner)
    except CaptionError as error:
        job_finish(job, status=JobStatus.FAILED, error=str(error))
        return None
    size = settings.CAPTION_JOB_BATCH_SIZE
    limit = int((job.filters or {}).get("limit") or 0)
    if batch == 0:
        count = job_selection(job).count()
        CaptionJob.objects.filter(pk=job.pk).update(total=min(count, limit) if limit else count)
    # Every batch but the last takes exactly `size` samples, so batch * size were taken before.
    take = max(0, min(size, limit - batch * size)) if limit else size
    ids = list(job_selection(job).filter(pk__gt=job.cursor).values_list("pk", flat=True)[: take + 1]) if take else []
    more = len(ids) > take and (not limit or (batch + 1) * size < limit)
    ids = ids[:take]

    done = set(job.attempts.filter(annotation_id__in=ids).values_list("annotation_id", flat=True))
    context = _DraftingContext(
        captioner=captioner,
        validator=caption_validator(),
        known_slugs=_known_slugs(),  # once per batch, not once per sample
        limiter=endpoint_rate_limiter() if job.captioner == CaptionerKind.LLM else None,
    )
    for annotation_id in ids:
        if annotation_id in done:
            continue
        if not _caption_one(job, batch, annotation_id, context):
            return None  # cancelled, or no longer this worker's batch
    if not job_batch_done(CaptionJob, job_id, batch, cursor=ids[-1] if ids else job.cursor):
        return None
    return more


def caption_job_finish(job_id: int) -> None:
    job = CaptionJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).first()
    if job is not None:
        job_finish(job, status=JobStatus.SUCCEEDED)


class _DraftingContext:
    def __init__(self, *, captioner, validator, known_slugs: set[str], limiter):
        self.captioner, self.validator, self.known_slugs, self.limiter = captioner, validator, known_slugs, limiter


def _caption_one(job: CaptionJob, batch: int, annotation_id: int, context: _DraftingContext) -> bool:
    """Draft one sample and record the attempt. False when the batch is no longer this worker's."""
    annotation = Annotation.objects.select_related("sample", "current_revision").filter(pk=annotation_id).first()
    if annotation is None:
        return True
    if not CaptionJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING, next_batch=batch).exists():
        return False  # cancelled meanwhile: no request for a job nobody wants
    captioner = context.captioner
    languages = job.language_list
    inputs = caption_inputs(annotation, with_image=getattr(captioner, "vision", False))
    inputs_hash = hash_inputs(inputs, captioner, languages)
    current = annotation.caption_drafts.order_by("-id").first()
    if current and current.inputs_hash == inputs_hash and current.prompt_version == captioner.prompt_version:
        return _record(job, batch, annotation, AttemptOutcome.SKIPPED) is not None

    if context.limiter is not None:
        context.limiter.wait()
    try:
        result = captioner.caption(inputs, languages=languages)
    except CaptionError as error:
        return (
            _record(job, batch, annotation, AttemptOutcome.FAILED, error=str(error), retryable=error.retryable)
            is not None
        )
    except Exception as error:  # a bug must cost one sample, not the job
        logger.exception("caption drafting failed for sample %s", annotation_id)
        error_text = f"unexpected error: {type(error).__name__}: {error}"
        return _record(job, batch, annotation, AttemptOutcome.FAILED, error=error_text) is not None

    report = context.validator.validate(result.captions, **validation_options(inputs, languages)).as_dict()
    invented = sorted(set(result.terms_used) - context.known_slugs)
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
    draft = CaptionDraft(
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
    recorded = _record(job, batch, annotation, AttemptOutcome.DRAFTED, draft=draft, usage=result.usage)
    if recorded is None:
        return False
    # Stage 1 starts from the draft when nobody has begun the sample yet.
    if recorded and annotation.state == AnnotationState.UNASSIGNED:
        generator = "template" if result.generator == "template" else f"llm:{result.generator}"
        try:
            annotation_attach_draft_captions(sample_id=annotation.pk, captions=result.captions, generator=generator)
        except WorkflowError as error:  # someone claimed it meanwhile: the draft stays for them to see
            logger.info("draft for sample %s not attached: %s", annotation.pk, error)
    return True


def _record(job, batch, annotation, outcome, *, error="", retryable=False, draft=None, usage=None) -> bool | None:
    """Store the attempt (and the draft) with the job's counters, in one transaction. True when
    recorded, False when another worker on this batch recorded the sample first, None when the
    batch is no longer this worker's (nothing is written)."""
    usage = usage or {}
    with job_batch_lock(CaptionJob, job.pk, batch) as current:
        if not current:
            return None
        if CaptionAttempt.objects.filter(job=job, annotation=annotation).exists():
            return False
        if draft is not None:
            draft.save()
        CaptionAttempt.objects.create(
            job=job, annotation=annotation, outcome=outcome, error=error, retryable=retryable, draft=draft
        )
        CaptionJob.objects.filter(pk=job.pk).update(
            processed=F("processed") + 1,
            # int(): PostgreSQL refuses integer + boolean.
            drafted=F("drafted") + int(outcome == AttemptOutcome.DRAFTED),
            skipped=F("skipped") + int(outcome == AttemptOutcome.SKIPPED),
            failed=F("failed") + int(outcome == AttemptOutcome.FAILED),
            flagged=F("flagged") + int(draft is not None and not draft.passed),
            requests=F("requests") + (1 if usage else 0),
            prompt_tokens=F("prompt_tokens") + usage.get("prompt_tokens", 0),
            completion_tokens=F("completion_tokens") + usage.get("completion_tokens", 0),
        )
    return True


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
