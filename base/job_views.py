"""The resume action of every job, for the API (a viewset mixin) and the admin (an action)."""

from django.contrib import admin, messages
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .job_kinds import JobNotResumable, job_resume
from .strict_input import takes_no_body


class ResumeJobMixin:
    """`POST .../{id}/resume/`: 200 with the job, or 400 naming why it cannot be resumed now."""

    @takes_no_body
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        try:
            job = job_resume(job=self.get_object())
        except JobNotResumable as error:
            raise ValidationError({"detail": str(error)}) from None
        return Response(self.get_serializer(job).data)


@admin.action(description="Resume (failed, cancelled or lost jobs)")
def resume_jobs(modeladmin, request, queryset):
    for job in queryset:
        try:
            job_resume(job=job)
        except JobNotResumable as error:
            modeladmin.message_user(request, str(error), level=messages.WARNING)
        else:
            modeladmin.message_user(request, f"#{job.pk} resumed at batch {job.next_batch}", level=messages.SUCCESS)
