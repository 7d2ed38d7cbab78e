"""text.fold now reads fullwidth ASCII (ＰＣＢ) as ASCII: names already saved get their folded form
again. The vocabulary holds thousands of names, not millions, so all are read."""

from django.db import migrations

from vocabulary.text import fold


def refold_names(apps, schema_editor):
    TermName = apps.get_model("vocabulary", "TermName")
    changed = []
    for name in TermName.objects.only("id", "text", "normalized").iterator(chunk_size=2000):
        folded = fold(name.text)
        if folded != name.normalized:
            name.normalized = folded
            changed.append(name)
    TermName.objects.bulk_update(changed, ["normalized"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("vocabulary", "0001_initial")]

    operations = [migrations.RunPython(refold_names, migrations.RunPython.noop)]
