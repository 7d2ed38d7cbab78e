"""Duplicate import rows no longer name the sample in their text: it may be a partner's sample that
the row's reader may not see (the row's sample field is shown only to those who may)."""

from django.db import migrations

OLD_PREFIX = "same bytes as sample "
NEW_REASON = "same bytes as a sample already in the catalog"


def reword(apps, schema_editor):
    ImportRow = apps.get_model("catalog", "ImportRow")
    ImportRow.objects.filter(outcome="duplicate", reason__startswith=OLD_PREFIX).update(reason=NEW_REASON)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0009_near_duplicate_pairs")]

    operations = [migrations.RunPython(reword, migrations.RunPython.noop)]
