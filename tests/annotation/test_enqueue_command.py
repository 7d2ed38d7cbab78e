from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Annotation, AnnotationState

from .factories import make_sample, make_source


def test_enqueue_samples_queues_those_without_an_annotation_once(vocab):
    first, second = make_source("first"), make_source("second")
    for _ in range(3):
        make_sample(source=first)
    make_sample(source=second)
    out = StringIO()
    call_command("enqueue_samples", "--source", str(first.pk), stdout=out)
    assert "queued 3 sample(s)" in out.getvalue()
    assert set(Annotation.objects.values_list("state", flat=True)) == {AnnotationState.UNASSIGNED}
    call_command("enqueue_samples", stdout=out)  # the rest, and nothing twice
    assert Annotation.objects.count() == 4


def test_enqueue_samples_names_an_unknown_source(vocab):
    with pytest.raises(CommandError, match="no source with id 999"):
        call_command("enqueue_samples", "--source", "999")


def test_enqueue_samples_diverse_picks_across_clusters_and_says_when_weights_were_random(vocab, settings, tmp_path):
    import numpy as np

    from catalog.embedding_index import embedding_index_add, embedding_space_get_or_create, sample_embeddings_store

    settings.EMBEDDING_INDEX_ROOT = str(tmp_path / "index")
    source = make_source("clusters")
    samples = [make_sample(source=source) for _ in range(12)]
    cluster = [0] * 9 + [1] * 2 + [2]
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 16)) * 5
    vectors = np.stack([centres[c] + rng.standard_normal(16) * 0.1 for c in cluster])
    space = embedding_space_get_or_create(model_name="tiny", weights="random-init", fingerprint="0", random_init=True)
    sample_embeddings_store(space=space, sample_ids=[s.pk for s in samples], vectors=vectors)
    embedding_index_add(space=space, sample_ids=[s.pk for s in samples])
    out = StringIO()

    call_command("enqueue_samples", "--limit", "3", "--diverse", stdout=out)

    picked = set(Annotation.objects.values_list("pk", flat=True))
    assert sorted(cluster[i] for i, s in enumerate(samples) if s.pk in picked) == [0, 1, 2]
    assert "randomly initialised image tower" in out.getvalue() and "queued 3 sample(s)" in out.getvalue()
    with pytest.raises(CommandError, match="--diverse needs --limit"):
        call_command("enqueue_samples", "--diverse")


def test_every_command_s_source_option_takes_a_name_or_an_id(vocab):
    """One reading of --source everywhere (catalog/management/source_arguments.py)."""
    from catalog.management.source_arguments import source_id, source_name

    steel = make_source("NEU-DET")
    numbered = make_source(str(steel.pk + 100))  # a source whose name is digits stays reachable by name
    make_sample(source=steel)
    out = StringIO()
    call_command("enqueue_samples", "--source", "NEU-DET", stdout=out)
    assert "queued 1 sample(s)" in out.getvalue()

    assert source_id("NEU-DET") == source_id(str(steel.pk)) == steel.pk
    assert source_id(numbered.name) == numbered.pk
    assert source_name(str(steel.pk)) == "NEU-DET" and source_name("NEU-DET") == "NEU-DET"
    assert source_name(numbered.name) == numbered.name
    with pytest.raises(CommandError, match="no source named 'Partner X'"):
        call_command("enqueue_samples", "--source", "Partner X")
    with pytest.raises(CommandError, match="unknown source"):
        call_command("caption_samples", "--source", "Partner X")
    for command in ("embed_samples", "embedding_index"):
        with pytest.raises(CommandError, match="no source named 'Partner X'"):
            call_command(command, "--source", "Partner X")
