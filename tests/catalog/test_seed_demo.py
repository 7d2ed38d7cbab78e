import pytest
from django.core.management import call_command

from accounts.models import User
from catalog.models import Sample, SourceKind, SourceRegion

pytestmark = pytest.mark.django_db


def test_seed_demo_imports_drawn_defects_with_masks_once(settings, tmp_path, capsys):
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path

    call_command("seed_demo", "--count", "16")
    call_command("seed_demo", "--count", "16")

    printed = capsys.readouterr().out
    assert Sample.objects.count() == 16
    assert set(Sample.objects.values_list("is_synthetic", flat=True)) == {True}
    assert Sample.objects.first().source.kind == SourceKind.SYNTHETIC
    labels = set(SourceRegion.objects.values_list("label", flat=True))
    assert labels == {"scratch", "crack", "hole", "stain", "contamination"}
    assert "already seeded (16 samples)" in printed
    assert "demo_annotator" in printed and User.objects.filter(username="demo_annotator").exists()
