"""text.fold_key now reads traditional Chinese as simplified and halfwidth katakana as fullwidth:
names already saved get their folded form again (Japanese names too, whose kanji that are also
traditional Chinese characters fold with them). Thousands of names, not millions: all are read."""

from django.db import migrations

from vocabulary.text import fold_key


def refold_names(apps, schema_editor):
    TermName = apps.get_model("vocabulary", "TermName")
    changed = []
    for name in TermName.objects.only("id", "text", "normalized").iterator(chunk_size=2000):
        folded = fold_key(name.text)
        if folded != name.normalized:
            name.normalized = folded
            changed.append(name)
    TermName.objects.bulk_update(changed, ["normalized"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("vocabulary", "0003_term_name_context")]

    operations = [migrations.RunPython(refold_names, migrations.RunPython.noop)]
