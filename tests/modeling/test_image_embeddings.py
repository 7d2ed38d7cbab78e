"""Image embeddings for curation: the tower's identity, and the embedding job's batches."""

import json
from dataclasses import asdict

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn

from base.jobs import JobStatus
from catalog.embedding_index import RANDOM_INIT_WARNING, embedding_index_open
from catalog.models import NearDuplicatePair, Sample, SampleEmbedding
from catalog.near_duplicates import near_duplicate_groups
from modeling.core.checkpoint import save_checkpoint
from modeling.core.clip_towers import ImageTower
from modeling.core.config import tiny
from modeling.core.image_embeddings import ImageEmbedder
from modeling.embeddings import EmbeddingJobError, embedding_batch, embedding_job_create, embedding_job_run_here
from modeling.tasks import embedding_batch_task, embedding_finish_task
from tests.catalog.helpers import run_import

torch.set_num_threads(1)
TINY = "imdd-tiny-clip"


def pictures(count: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        image = Image.new("RGB", (96, 96), tuple(int(v) for v in rng.integers(0, 255, 3)))
        draw = ImageDraw.Draw(image)
        x, y = (int(v) for v in rng.integers(0, 60, 2))
        draw.ellipse((x, y, x + 30, y + 30), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        images.append(image)
    return images


def test_task_names_are_stable():
    assert embedding_batch_task.name == "modeling.embedding_batch"
    assert embedding_finish_task.name == "modeling.embedding_finish"


def test_a_random_tower_is_seeded_flagged_and_the_same_in_every_process():
    images = pictures(3)
    first, second = ImageEmbedder.from_weights(TINY, None), ImageEmbedder.from_weights(TINY, None)

    vectors = first.embed(images)

    assert first.identity.random_init and first.identity.weights == "random-init"
    assert np.allclose(vectors, second.embed(images), atol=1e-6)  # two workers of one job agree
    assert vectors.shape == (3, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors, ImageEmbedder.from_weights(TINY, None, seed=1).embed(images))


def test_towers_from_a_weights_file_and_from_a_checkpoint_carry_their_identity(tmp_path):
    weights = tmp_path / "clip.pt"
    torch.save(open_clip.create_model(TINY).state_dict(), weights)  # a published CLIP's file, in small
    tower = ImageTower(TINY, str(weights))
    model = nn.Module()
    model.captioner = nn.Module()
    model.captioner.image_tower = tower
    folder = save_checkpoint(
        tmp_path / "run",
        model=model,
        meta={"stage": 1, "step": 4, "config": asdict(tiny()), "weights": {"image_tower": {"weights": str(weights)}}},
    )
    images = pictures(2)

    from_file = ImageEmbedder.from_weights(TINY, str(weights))
    from_checkpoint = ImageEmbedder.from_checkpoint(tmp_path / "run")

    assert not from_file.identity.random_init and from_file.identity.weights == str(weights.resolve())
    assert not from_checkpoint.identity.random_init
    assert from_checkpoint.identity.weights == f"checkpoint:{folder.resolve()}"
    assert "step=4" in from_checkpoint.identity.fingerprint
    expected = torch.nn.functional.normalize(tower(from_file.pixels(images)), dim=-1).numpy()
    assert np.allclose(from_checkpoint.embed(images), expected, atol=1e-5)


# -- the job ------------------------------------------------------------------------------------


@pytest.fixture
def imported(db, tmp_path, settings):
    """Seven imported pictures; the seventh is the first one at another size (a near-duplicate)."""
    settings.EMBEDDING_INDEX_ROOT = str(tmp_path / "index")
    folder = tmp_path / "pictures"
    folder.mkdir()
    images = pictures(6)
    images.append(images[0].resize((80, 80)))
    with open(folder / "manifest.jsonl", "w") as manifest:
        for number, image in enumerate(images):
            image.save(folder / f"{number}.png")
            manifest.write(json.dumps({"image": f"{number}.png"}) + "\n")
    run_import("folder", folder)
    return list(Sample.objects.order_by("pk").values_list("pk", flat=True))


def test_an_embedding_job_without_weights_is_refused_unless_random_init_is_allowed(db, settings):
    settings.CURATION_CLIP_WEIGHTS = ""
    with pytest.raises(EmbeddingJobError, match="no CLIP weights"):
        embedding_job_create(created_by=None, model_name=TINY)


def test_an_embedding_job_embeds_every_sample_in_batches_and_keeps_the_index_up_to_date(imported, settings):
    settings.EMBEDDING_BATCH_SIZE = 3
    job = embedding_job_create(created_by=None, model_name=TINY, weights="", allow_random_init=True)

    job = embedding_job_run_here(job)

    assert (job.status, job.processed, job.embedded, job.failed, job.next_batch) == (JobStatus.SUCCEEDED, 7, 7, 0, 3)
    assert job.space.random_init and job.space.dim == 64
    assert job.index_report["total"] == 7 and job.index_report["added"] == 0  # the batches had indexed everything
    assert len(embedding_index_open(job.space)) == 7
    # A random tower puts distinct pictures close together: its distances are no near-duplicate
    # evidence, so no pair is stored and the groups are by pHash alone (which finds the copy).
    assert job.index_report["pairs"] == {"queried": 0, "pairs_found": 0, "pairs": 0}
    assert not NearDuplicatePair.objects.exists()
    report = near_duplicate_groups(samples=Sample.objects.all(), max_hamming=0, search_index=True)
    assert [set(group.sample_ids) for group in report.groups] == [{imported[0], imported[6]}]
    assert all(group.min_cosine_distance is None for group in report.groups)
    assert report.space["random_init"] is True and report.warnings == [RANDOM_INIT_WARNING]


def test_the_jobs_last_step_finds_the_pairs_its_batches_missed(imported, settings, monkeypatch, tmp_path):
    """Batches in other workers may search an index that lacks the previous batch's vectors (saved
    at most every EMBEDDING_INDEX_SAVE_SECONDS), or a concurrent job's: here they find no pair at all."""
    settings.EMBEDDING_BATCH_SIZE = 3
    monkeypatch.setattr("modeling.embedding_batches.near_duplicate_pairs_add", lambda **kwargs: 0)
    weights = tmp_path / "clip.pt"  # a weights file: a space whose distances count (random-init ones don't)
    torch.save(open_clip.create_model(TINY).state_dict(), weights)
    job = embedding_job_create(created_by=None, model_name=TINY, weights=str(weights))

    job = embedding_job_run_here(job)

    assert job.status == JobStatus.SUCCEEDED and job.index_report["pairs"]["queried"] == 7
    assert NearDuplicatePair.objects.filter(sample_a=imported[0], sample_b=imported[6]).exists()


def test_a_redelivered_batch_changes_nothing_and_a_second_job_embeds_only_new_samples(imported, settings):
    settings.EMBEDDING_BATCH_SIZE = 4
    job = embedding_job_create(created_by=None, model_name=TINY, weights="", allow_random_init=True)
    assert embedding_batch(job_id=job.pk, batch=0) is True

    assert embedding_batch(job_id=job.pk, batch=0) is None  # the same message again
    job = embedding_job_run_here(job)
    Sample.objects.filter(pk=imported[2]).delete()
    again = embedding_job_run_here(
        embedding_job_create(created_by=None, model_name=TINY, weights="", allow_random_init=True)
    )

    assert job.embedded == 7 and SampleEmbedding.objects.count() == 6
    assert (again.status, again.processed, again.embedded, again.space_id) == (JobStatus.SUCCEEDED, 0, 0, job.space_id)
    assert {key: again.index_report[key] for key in ("added", "removed", "total")} == {
        "added": 0,
        "removed": 1,
        "total": 6,
    }


def test_an_unreadable_asset_is_a_recorded_failure_not_a_silent_drop(imported, settings):
    sample = Sample.objects.get(pk=imported[3])
    sample.asset.storage.delete(sample.asset.name)

    job = embedding_job_run_here(
        embedding_job_create(created_by=None, model_name=TINY, weights="", allow_random_init=True)
    )

    assert (job.status, job.embedded, job.failed) == (JobStatus.SUCCEEDED, 6, 1)
    assert job.failures[0]["sample"] == imported[3] and "cannot read its asset" in job.failures[0]["error"]


def test_missing_weights_fail_the_job_with_the_reason(imported):
    job = embedding_job_run_here(embedding_job_create(created_by=None, model_name=TINY, weights="/nowhere/clip.pt"))
    assert job.status == JobStatus.FAILED and "CLIP weights not found: /nowhere/clip.pt" in job.error
