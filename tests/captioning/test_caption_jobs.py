"""Caption jobs end to end: drafts stored and validated, idempotence, per-sample errors, retries."""

import pytest
from django.core.management import call_command

from annotation.models import Annotation, AnnotationState
from base.jobs import JobStatus
from captioning import services
from captioning.drafting import captioner_from_settings
from captioning.models import AttemptOutcome, CaptionDraft
from captioning.tasks import caption_job_batch_task, caption_job_finish_task, caption_job_run_task

from .fake_openai import FakeChatServer
from .test_llm_captioner import GOOD_REPLY

pytestmark = pytest.mark.django_db


def test_task_name_is_stable():
    assert caption_job_batch_task.name == "annotation.caption_job_batch"
    assert caption_job_finish_task.name == "annotation.caption_job_finish"
    assert caption_job_run_task.name == "annotation.caption_job"  # messages queued before batches


def test_a_template_job_drafts_validates_and_attaches_captions(annotated_mvtec):
    job = services.caption_job_run(job=services.caption_job_create(captioner="template"))

    assert job.status == JobStatus.SUCCEEDED
    assert (job.total, job.drafted, job.failed) == (annotated_mvtec, annotated_mvtec, 0)
    draft = CaptionDraft.objects.filter(annotation__sample__external_id="bottle/test/broken_large/000.png").get()
    assert set(draft.captions) == {"en", "zh", "ja"} and draft.generator == "template"
    assert draft.passed, draft.validation["findings"]
    assert "def-large-breakage" in draft.validation["captions"]["zh"]["terms"]
    annotation = Annotation.objects.get(pk=draft.annotation_id)
    captions = {c.language: (c.text, c.generator) for c in annotation.current_revision.captions.all()}
    assert captions["ja"] == (draft.captions["ja"], "template")


def test_a_second_job_skips_samples_whose_inputs_did_not_change(annotated_mvtec):
    services.caption_job_run(job=services.caption_job_create(captioner="template"))
    again = services.caption_job_run(job=services.caption_job_create(captioner="template"))

    assert (again.drafted, again.skipped) == (0, annotated_mvtec)
    assert CaptionDraft.objects.count() == annotated_mvtec


def test_llm_job_records_per_sample_errors_keeps_going_and_retries_only_the_failed(annotated_mvtec, settings):
    settings.CAPTION_MODEL = "fake-model"
    settings.CAPTION_MAX_RETRIES = 0
    script = [{"json": GOOD_REPLY}, {"content": "not json at all"}, {"status": 500}, {"json": GOOD_REPLY}]
    with FakeChatServer(script) as server:
        settings.OPENAI_BASE_URL = server.url
        job = services.caption_job_create(captioner="llm", filters={"limit": 4})
        job = services.caption_job_run(job=job)

        assert (job.drafted, job.failed, job.status) == (2, 2, JobStatus.SUCCEEDED)
        errors = sorted(a.error for a in job.attempts.filter(outcome=AttemptOutcome.FAILED))
        assert errors == ["the caption endpoint answered HTTP 500", "the model's reply is not JSON: 'not json at all'"]
        assert (job.requests, job.prompt_tokens, job.completion_tokens) == (2, 240, 160)

        server.script = [{"json": GOOD_REPLY}]
        retry = services.caption_job_run(job=services.caption_job_create(captioner="llm", retry_failed_of=job))

    assert (retry.total, retry.drafted, retry.failed) == (2, 2, 0)
    assert CaptionDraft.objects.count() == 4


def test_a_failing_reply_never_removes_an_earlier_draft(annotated_mvtec, settings):
    first = services.caption_job_run(job=services.caption_job_create(captioner="template", filters={"limit": 1}))
    settings.CAPTION_MODEL = "fake-model"
    settings.CAPTION_MAX_RETRIES = 0
    with FakeChatServer([{"status": 503}]) as server:
        settings.OPENAI_BASE_URL = server.url
        services.caption_job_run(job=services.caption_job_create(captioner="llm", filters={"limit": 1}))
    assert list(CaptionDraft.objects.values_list("job_id", flat=True)) == [first.pk]


def test_an_llm_draft_with_invented_terms_is_kept_and_flagged(annotated_mvtec, settings):
    settings.CAPTION_MODEL = "fake-model"
    reply = {**GOOD_REPLY, "terms_used": ["def-scratch", "def-unicorn-horn"]}
    with FakeChatServer([{"json": reply}]) as server:
        settings.OPENAI_BASE_URL = server.url
        job = services.caption_job_run(job=services.caption_job_create(captioner="llm", filters={"limit": 1}))
    draft = CaptionDraft.objects.get()
    assert (job.flagged, draft.passed) == (1, False)
    assert any(f["code"] == "invented_terms" for f in draft.validation["findings"])


def test_an_interrupted_job_resumes_after_the_samples_it_did(annotated_mvtec):
    job = services.caption_job_create(captioner="template", filters={"limit": 6})
    calls = []

    class CrashAfterThree:
        def __init__(self, inner):
            self.inner, self.name, self.prompt_version = inner, inner.name, inner.prompt_version

        def caption(self, inputs, languages):
            calls.append(1)
            if len(calls) == 4:
                raise KeyboardInterrupt("worker killed")
            return self.inner.caption(inputs, languages=languages)

    with pytest.raises(KeyboardInterrupt):
        services.caption_job_run(job=job, captioner=CrashAfterThree(captioner_from_settings("template")))
    job.refresh_from_db()
    assert (job.status, job.drafted) == (JobStatus.RUNNING, 3)

    services.caption_job_run(job=job)  # the batch again, as a redelivered message would run it

    job.refresh_from_db()
    assert (job.status, job.drafted, job.attempts.count()) == (JobStatus.SUCCEEDED, 6, 6)


def test_bad_job_requests_are_refused(db, settings):
    settings.CAPTION_MODEL = ""
    with pytest.raises(services.CaptionJobError, match="needs CAPTION_MODEL"):
        services.caption_job_create(captioner="llm")
    with pytest.raises(services.CaptionJobError, match="languages must be"):
        services.caption_job_create(captioner="template", languages=("fr",))
    with pytest.raises(services.CaptionJobError, match="unknown state"):
        services.caption_job_create(captioner="template", filters={"states": ["sleeping"]})


def test_command_prints_the_usage_summary(annotated_mvtec, capsys):
    call_command("caption_samples", "--captioner", "template", "--limit", "5", "--languages", "en,zh", verbosity=0)
    out = capsys.readouterr().out
    assert "5 drafted" in out and "0 failed, of 5" in out
    assert set(CaptionDraft.objects.first().captions) == {"en", "zh"}


def test_only_unstarted_annotations_get_the_draft_attached(annotated_mvtec):
    claimed = Annotation.objects.order_by("pk").first()
    Annotation.objects.filter(pk=claimed.pk).update(state=AnnotationState.IN_ANNOTATION, queue="")
    services.caption_job_run(job=services.caption_job_create(captioner="template", filters={"samples": [claimed.pk]}))
    claimed.refresh_from_db()
    assert not claimed.current_revision.captions.exists()
    assert CaptionDraft.objects.filter(annotation=claimed).exists()  # still there for the annotator to see
