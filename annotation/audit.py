"""Writing the append-only audit trail. Reading it is in selectors.py."""

from django.utils import timezone

from accounts.models import User

from .models import Annotation, AuditEvent


def audit_record(
    *,
    annotation: Annotation,
    actor: User | None,
    action: str,
    field: str = "",
    before=None,
    after=None,
) -> AuditEvent:
    """One event, stamped with the annotation's version as it stands (bump it first)."""
    return AuditEvent.objects.create(
        annotation=annotation,
        actor=actor,
        action=action,
        field=field,
        before=before,
        after=after,
        version=annotation.version,
        created_at=timezone.now(),
    )


def audit_record_edits(*, annotation: Annotation, actor: User | None, changes: list[tuple[str, object, object]]):
    """One "edit" event per changed part of the content (content.content_diff's output)."""
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            annotation=annotation,
            actor=actor,
            action="edit",
            field=field,
            before=before,
            after=after,
            version=annotation.version,
            created_at=now,
        )
        for field, before, after in changes
    )
