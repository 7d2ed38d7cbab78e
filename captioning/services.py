"""Caption jobs: create, queue, cancel, and run one in this process. The drafting itself is in
drafting.py (called by the tasks); these functions queue the tasks.
"""

from django.conf import settings
from django.db import transaction

from accounts.models import User
from annotation.models import AnnotationState
from base.jobs import JobStatus, job_finish, job_run_here
from catalog.models import Source
from catalog.selectors import hidden_sources, sources_visible_to

from .drafting import caption_job_batch, caption_job_finish
from .inputs import LANGUAGES
from .models import CaptionerKind, CaptionJob
from .tasks import caption_job_batch_task


class CaptionJobError(ValueError):
    """A job that cannot be created as asked; the message names what is wrong, and `field` the
    input it is about ("captioner", "languages", "filters") when it is about one."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


FILTER_KEYS = ("sources", "states", "samples", "limit")


def _check_languages(languages: tuple[str, ...]) -> None:
    unknown = [code for code in languages if code not in LANGUAGES]
    if unknown or not languages:
        raise CaptionJobError(
            f"languages must be some of {', '.join(LANGUAGES)}; got {', '.join(languages) or 'none'}",
            field="languages",
        )
    repeated = sorted({code for code in languages if languages.count(code) > 1})
    if repeated:
        raise CaptionJobError(f"languages lists {', '.join(repeated)} more than once", field="languages")


def _check_filters(filters) -> None:
    """The filters' shape; which sources they may name is the visibility rule's, in caption_job_check."""
    if not isinstance(filters, dict):
        raise CaptionJobError('the filters are a JSON object, e.g. {"sources": [1], "limit": 100}', field="filters")
    unknown_filters = set(filters) - set(FILTER_KEYS)
    if unknown_filters:
        raise CaptionJobError(
            f"unknown filter(s) {', '.join(sorted(unknown_filters))}; known: {', '.join(FILTER_KEYS)}", field="filters"
        )
    states = filters.get("states", [])
    if not isinstance(states, list):
        raise CaptionJobError("filters.states is a list of annotation states", field="filters")
    bad_states = set(map(str, states)) - set(AnnotationState.values)
    if bad_states:
        raise CaptionJobError(f"unknown state(s) {', '.join(sorted(bad_states))}", field="filters")


def caption_job_check(
    *,
    captioner: str,
    languages: tuple[str, ...] = LANGUAGES,
    filters: dict | None = None,
    retry_failed_of: CaptionJob | None = None,
    created_by: User | None = None,
):
    """The sources a job asked for this way may caption, or CaptionJobError naming what is wrong."""
    if captioner not in CaptionerKind.values:
        raise CaptionJobError(
            f"unknown captioner {captioner!r}; one of {', '.join(CaptionerKind.values)}", field="captioner"
        )
    _check_languages(languages)
    if captioner == CaptionerKind.LLM and not settings.CAPTION_MODEL:
        raise CaptionJobError(
            "the LLM captioner needs CAPTION_MODEL (and OPENAI_BASE_URL / OPENAI_API_KEY)", field="captioner"
        )
    filters = filters or {}
    _check_filters(filters)
    # The job may caption (and, with CAPTION_VISION, send to the endpoint) only what its creator may see.
    sources = Source.objects.all() if created_by is None else sources_visible_to(created_by)
    if retry_failed_of is not None:
        sources = sources.filter(pk__in=retry_failed_of.sources.values("pk"))
    if filters.get("sources"):
        wanted = filters["sources"]
        if not isinstance(wanted, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in wanted):
            raise CaptionJobError("filters.sources is a list of source ids", field="filters")
        if created_by is not None and (hidden := hidden_sources(created_by, wanted)):
            raise CaptionJobError(f"no source with id(s) {', '.join(map(str, sorted(hidden)))}", field="filters")
        sources = sources.filter(pk__in=wanted)
    return sources


def caption_job_create(
    *,
    captioner: str,
    languages: tuple[str, ...] = LANGUAGES,
    filters: dict | None = None,
    retry_failed_of: CaptionJob | None = None,
    created_by: User | None = None,
) -> CaptionJob:
    sources = caption_job_check(
        captioner=captioner,
        languages=languages,
        filters=filters,
        retry_failed_of=retry_failed_of,
        created_by=created_by,
    )
    filters = filters or {}
    with transaction.atomic():
        job = CaptionJob.objects.create(
            captioner=captioner,
            languages=",".join(languages),
            filters=filters,
            retry_failed_of=retry_failed_of,
            created_by=created_by,
        )
        job.sources.set(sources)
    return job


def caption_job_enqueue(*, job: CaptionJob) -> None:
    """Queue the job's current batch once the caller's transaction commits."""
    job_id, batch = job.pk, job.next_batch
    transaction.on_commit(lambda: caption_job_batch_task.delay(job_id, batch))


def caption_job_requeue(job_id: int) -> None:
    """The job registry's requeue (base/job_kinds.py)."""
    caption_job_enqueue(job=CaptionJob.objects.get(pk=job_id))


def caption_job_cancel(*, job: CaptionJob) -> CaptionJob:
    """A pending or running job stops before its next sample; the drafts made stay."""
    job_finish(job, status=JobStatus.CANCELLED)
    return job


def caption_job_run(*, job: CaptionJob, captioner=None, on_progress=None) -> CaptionJob:
    """Run the job's remaining batches in this process (the CLI without --enqueue, tests)."""
    return job_run_here(
        job,
        run_batch=lambda job_id, batch: caption_job_batch(job_id=job_id, batch=batch, captioner=captioner),
        finish=caption_job_finish,
        on_progress=on_progress,
    )
