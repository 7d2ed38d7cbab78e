"""An image is deduplicated per scope, not across the whole catalog (catalog/dedup.py): the public
sources share one scope, each restricted source has its own. sha256 loses its global uniqueness
(an index stays for lookups); two conditional unique constraints keep one sample per image per
scope. Existing samples of restricted sources move into their source's scope.

Backwards: the global uniqueness comes back only while no image is a sample in two scopes; if one
is, the migration stops and says which, since only a person can decide which sample goes."""

import django.db.models.deletion
from django.db import migrations, models


def fill(apps, schema_editor):
    Source = apps.get_model("catalog", "Source")
    Sample = apps.get_model("catalog", "Sample")
    for source_id in Source.objects.filter(visibility="restricted").values_list("id", flat=True):
        Sample.objects.filter(source_id=source_id).update(dedup_scope_id=source_id)


def refuse_shared_images(apps, schema_editor):
    Sample = apps.get_model("catalog", "Sample")
    shared = (
        Sample.objects.values("sha256")
        .annotate(samples=models.Count("id"))
        .filter(samples__gt=1)
        .order_by("sha256")
        .values_list("sha256", flat=True)
    )
    count = shared.count()
    if count:
        examples = ", ".join(shared[:5])
        raise RuntimeError(
            f"{count} image(s) are samples in more than one deduplication scope (sha256 {examples}"
            f"{' ...' if count > 5 else ''}); the catalog before 0012 keeps one sample per image. "
            "Delete or merge the extra samples before migrating back."
        )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0011_no_pairs_from_random_towers")]

    operations = [
        migrations.AddField(
            model_name="sample",
            name="dedup_scope",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="catalog.source",
            ),
        ),
        migrations.AlterField(
            model_name="sample",
            name="sha256",
            field=models.CharField(db_index=True, max_length=64),
        ),
        # Backwards (operations run in reverse), this check comes before sha256 is unique again.
        migrations.RunPython(migrations.RunPython.noop, refuse_shared_images),
        migrations.AddConstraint(
            model_name="sample",
            constraint=models.UniqueConstraint(
                condition=models.Q(("dedup_scope__isnull", True)), fields=("sha256",), name="one_public_sample_per_image"
            ),
        ),
        migrations.AddConstraint(
            model_name="sample",
            constraint=models.UniqueConstraint(
                condition=models.Q(("dedup_scope__isnull", False)),
                fields=("dedup_scope", "sha256"),
                name="one_sample_per_image_per_scope",
            ),
        ),
        # Last, after every change of the table: PostgreSQL alters no table with pending updates.
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
