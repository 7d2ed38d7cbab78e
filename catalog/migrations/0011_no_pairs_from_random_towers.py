"""A random-init embedding space's distances are no longer near-duplicate evidence
(catalog/near_duplicate_pairs.py): the pairs stored for such spaces go (on 527 samples, 68,739 of them)."""

from django.db import migrations


def drop(apps, schema_editor):
    NearDuplicatePair = apps.get_model("catalog", "NearDuplicatePair")
    NearDuplicatePair.objects.filter(space__random_init=True).delete()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0010_duplicate_rows_name_no_sample")]

    operations = [migrations.RunPython(drop, migrations.RunPython.noop)]
