from django.db import migrations

# How deep a run's parents are followed, as modeling.selectors.LINEAGE_DEPTH (with margin).
LINEAGE_DEPTH = 8


def link_generated_sources(apps, schema_editor):
    """A generation run's synthetic source is derived from every source of the versions its lineage
    trained on. Made before catalog 0013, it was restricted (or not) by its inputs as they were
    then: one restricted since (or a member removed since) is applied now, as
    catalog.services.derivatives_follow_inputs applies it from here on — a frozen copy of that
    rule, as a migration must hold (it may only narrow who sees the synthetic source)."""
    TrainingRun = apps.get_model("modeling", "TrainingRun")
    Source = apps.get_model("catalog", "Source")
    SourceEvent = apps.get_model("catalog", "SourceEvent")
    Sample = apps.get_model("catalog", "Sample")
    for run in TrainingRun.objects.filter(generated_source__isnull=False).order_by("pk"):
        inputs, current, seen = set(), run, set()
        while current is not None and current.pk not in seen and len(seen) < LINEAGE_DEPTH:
            seen.add(current.pk)
            inputs.update(current.dataset_version.sources.values_list("pk", flat=True))
            current = current.parent
        derived = run.generated_source
        inputs.discard(derived.pk)
        derived.derived_from.add(*inputs)
        restricted = list(Source.objects.filter(pk__in=inputs, visibility="restricted"))
        if not restricted:
            continue
        allowed = set.intersection(*(set(s.members.values_list("pk", flat=True)) for s in restricted))
        if derived.visibility != "restricted":
            SourceEvent.objects.create(source=derived, kind="visibility", before=derived.visibility, after="restricted")
            derived.visibility = "restricted"
            derived.save(update_fields=["visibility"])
            Sample.objects.filter(source=derived).exclude(dedup_scope=derived).update(dedup_scope=derived)
            # Made restricted now: those who see every restricted input (an already restricted
            # source only loses members, below).
            for user in restricted[0].members.filter(pk__in=allowed).exclude(pk__in=derived.members.all()):
                derived.members.add(user)
                SourceEvent.objects.create(
                    source=derived, kind="member_added", after={"user": user.pk, "username": user.username}
                )
        for user in derived.members.exclude(pk__in=allowed):
            derived.members.remove(user)
            SourceEvent.objects.create(
                source=derived, kind="member_removed", before={"user": user.pk, "username": user.username}
            )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0013_source_derived_from"),
        ("modeling", "0007_embedding_job_sources"),
    ]

    operations = [migrations.RunPython(link_generated_sources, migrations.RunPython.noop)]
