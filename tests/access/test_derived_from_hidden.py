"""Things made over visible data with something hidden: a pre-annotation of a public source by a
checkpoint that learned from a version holding a partner's samples. The job names that checkpoint,
the classes of its hidden export and what it did; for someone who may not see the version the
checkpoint came from, it does not exist — in the API and in the admin, for every role."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.roles import Role
from catalog.models import Visibility
from modeling.models import EmbeddingJob, ModelCheckpoint, PreannotationItem, PreannotationJob, RunKind, TrainingRun
from releases.models import DatasetVersion, Export

from .test_access_matrix import REFUSED, ROLES
from .world import MARK, build_world

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture
def world(tmp_path, people, vocab, make_user, settings):
    settings.EXPORT_ROOTS = [str(tmp_path)]
    settings.CAPTION_RATE_LIMIT_PER_MINUTE = 0
    return build_world(tmp_path, people, vocab, make_user(Role.ADMIN))


@pytest.fixture
def crossed(world, vocab):
    """A pre-annotation of the public source by the restricted version's checkpoint."""
    job = PreannotationJob.objects.create(
        checkpoint=world.restricted_objects[ModelCheckpoint], source=world.public, classes=[vocab.scratch.slug]
    )
    PreannotationItem.objects.create(job=job, annotation_id=world.public_objects[PreannotationItem].annotation_id)
    return job


def _urls(job) -> list[tuple[str, bool]]:
    """(url, names the job): its API list, detail and items; its admin changelist and pages."""
    admin_page = "admin:modeling_preannotationjob_{}"
    return [
        ("/api/modeling/preannotation-jobs/", False),
        (f"/api/modeling/preannotation-jobs/{job.pk}/", True),
        (f"/api/modeling/preannotation-jobs/{job.pk}/items/", True),
        (reverse(admin_page.format("changelist")), False),
        (reverse(admin_page.format("change"), args=[job.pk]), True),
        (reverse(admin_page.format("history"), args=[job.pk]), True),
    ]


def _shows(body: str, job) -> bool:
    change = reverse("admin:modeling_preannotationjob_change", args=[job.pk])
    return f'"id":{job.pk},' in body.replace(" ", "") or f'href="{change}"' in body


@pytest.mark.parametrize("role", ROLES)
def test_a_job_whose_checkpoint_is_hidden_does_not_exist_for_a_non_member(world, crossed, make_user, role):
    client = Client()
    client.force_login(make_user(role))
    shown = []
    for url, names_job in _urls(crossed):
        response = client.get(url)
        body = response.content.decode()
        if (names_job and response.status_code not in REFUSED) or (
            response.status_code == 200 and _shows(body, crossed)
        ):
            shown.append(f"{url}: {response.status_code}")
    assert not shown, f"{role} (not a member) sees a pre-annotation by a hidden checkpoint:\n" + "\n".join(shown)


def test_a_member_sees_the_job(world, crossed, people):
    client = APIClient()
    client.force_authenticate(people.manager)
    listed = client.get("/api/modeling/preannotation-jobs/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert crossed.pk in [row["id"] for row in rows]
    assert client.get(f"/api/modeling/preannotation-jobs/{crossed.pk}/").status_code == 200


@pytest.fixture
def embedded_by_hidden_tower(world):
    """An embedding job over the public source with the image tower of the restricted version's run."""
    job = EmbeddingJob.objects.create(model_name="tiny", checkpoint=world.restricted_objects[ModelCheckpoint].path)
    job.sources.set([world.public])
    return job


@pytest.mark.parametrize("role", ROLES)
def test_an_embedding_job_by_a_hidden_checkpoint_does_not_exist_for_a_non_member(
    world, embedded_by_hidden_tower, make_user, role
):
    job = embedded_by_hidden_tower
    client = Client()
    client.force_login(make_user(role))
    admin_page = "admin:modeling_embeddingjob_{}"
    urls = [
        ("/api/modeling/embedding-jobs/", False),
        (f"/api/modeling/embedding-jobs/{job.pk}/", True),
        (reverse(admin_page.format("changelist")), False),
        (reverse(admin_page.format("change"), args=[job.pk]), True),
    ]
    shown = []
    for url, names_job in urls:
        response = client.get(url)
        body = response.content.decode()
        change = reverse(admin_page.format("change"), args=[job.pk])
        listed = f'"id":{job.pk},' in body.replace(" ", "") or f'href="{change}"' in body
        if (names_job and response.status_code not in REFUSED) or (response.status_code == 200 and listed):
            shown.append(f"{url}: {response.status_code}")
    assert not shown, f"{role} (not a member) sees an embedding job by a hidden checkpoint:\n" + "\n".join(shown)


def child_run(kind: str, side: dict, parent: TrainingRun, tmp_path) -> TrainingRun:
    """A run of `kind` started from `parent` on the version and export of one side of the world."""
    return TrainingRun.objects.create(
        kind=kind,
        dataset_version=side[DatasetVersion],
        export=side[Export],
        parent=parent,
        out_dir=str(tmp_path / "runs" / f"{kind}-{TrainingRun.objects.count()}"),
    )


@pytest.fixture
def fine_tuned_from_hidden(world, tmp_path):
    """A Stage 2 run on the public version, fine-tuned from the restricted version's Stage 1 run, with
    a checkpoint: its weights learned from the partner's samples too."""
    child = child_run(RunKind.STAGE_2, world.public_objects, world.restricted_objects[TrainingRun], tmp_path)
    ModelCheckpoint.objects.create(run=child, step=1, stage="2", path="fine-tuned/ckpt")
    return child


@pytest.mark.parametrize("role", ROLES)
def test_a_run_that_learned_from_a_hidden_run_does_not_exist_for_a_non_member(
    world, fine_tuned_from_hidden, make_user, role
):
    child = fine_tuned_from_hidden
    checkpoint = child.checkpoints.get()
    browser = Client()
    browser.force_login(make_user(role))
    api = APIClient()
    api.force_authenticate(make_user(role))
    shown = []
    change = reverse("admin:modeling_trainingrun_change", args=[child.pk])
    for url, names_run in ((reverse("admin:modeling_trainingrun_changelist"), False), (change, True)):
        response = browser.get(url)
        body = response.content.decode()
        if MARK in body or (names_run and response.status_code not in REFUSED):
            shown.append(f"{url}: {response.status_code}")
        elif response.status_code == 200 and f'href="{change}"' in body:
            shown.append(f"{url}: lists run {child.pk}")
    missing_run, missing_checkpoint = child.pk + 1000, checkpoint.pk + 1000
    for reference, missing in (
        (f"run:{child.pk}", f"run:{missing_run}"),
        (str(checkpoint.pk), str(missing_checkpoint)),
    ):
        answers = []
        for asked in (reference, missing):
            response = api.post(
                "/api/modeling/preannotation-jobs/", {"checkpoint": asked, "source": world.public.pk}, format="json"
            )
            text = response.content.decode().replace(asked.removeprefix("run:"), "<asked>")
            answers.append((response.status_code, text))
        if answers[0] != answers[1]:
            shown.append(f"pre-annotation with {reference}: {answers[0]}, with a missing one: {answers[1]}")
    assert not shown, f"{role} (not a member) reaches a run that learned from a hidden one:\n" + "\n".join(shown)


@pytest.mark.parametrize("role", ROLES)
def test_a_visible_runs_page_does_not_list_its_evaluation_on_a_hidden_version(world, make_user, role, tmp_path):
    parent = world.public_objects[TrainingRun]
    hidden = child_run(RunKind.EVALUATE, world.restricted_objects, parent, tmp_path)
    visible = child_run(RunKind.EVALUATE, world.public_objects, parent, tmp_path)
    client = Client()
    client.force_login(make_user(role))
    response = client.get(reverse("admin:modeling_trainingrun_change", args=[parent.pk]))
    if response.status_code in REFUSED:
        return  # this role has no run pages at all (the access matrix checks which)
    body = response.content.decode()
    assert reverse("admin:modeling_trainingrun_change", args=[hidden.pk]) not in body
    assert reverse("admin:modeling_trainingrun_change", args=[visible.pk]) in body  # the list still works


def test_images_generated_by_a_model_that_learned_from_a_partner_stay_restricted(world, tmp_path):
    """A Defect-Gen model trained on the restricted version, sampled by a generation run that names the
    public version: its images can reproduce the partner's, so their source is restricted to those
    who see the partner's source, whatever version the generation run itself names."""
    from modeling import synthetic

    from ..modeling.test_runs import write_generated_folder

    generator = TrainingRun.objects.create(
        kind=RunKind.DEFECT_GEN,
        dataset_version=world.restricted_objects[DatasetVersion],
        export=world.restricted_objects[Export],
        status="succeeded",
        checkpoint_path=str(tmp_path / "gen"),
        out_dir=str(tmp_path / "gen"),
    )
    generation = TrainingRun.objects.create(
        kind=RunKind.GENERATE,
        dataset_version=world.public_objects[DatasetVersion],
        export=world.public_objects[Export],
        parent=generator,
        out_dir=str(tmp_path / "generated-run"),
    )
    write_generated_folder(tmp_path / "generated", world.public_objects[Export].classes)

    source, count = synthetic.synthetic_samples_import(run=generation, folder=tmp_path / "generated")

    assert count == 3
    assert source.visibility == Visibility.RESTRICTED
    assert set(source.members.all()) == set(world.restricted.members.all())


def test_a_model_that_learned_from_a_partner_predicts_only_into_that_partners_source(world):
    """Predictions carry what the model learned, and everyone who sees the source sees them: a Stage 2
    checkpoint trained on a version holding the partner's samples may not pre-annotate the public
    source, whoever asks (here the command line, which sees everything)."""
    from modeling.preannotation_services import PreannotationError, preannotation_check

    run = world.restricted_objects[TrainingRun]
    checkpoint = ModelCheckpoint.objects.create(run=run, step=2, stage="2", path="restricted/stage-2")
    with pytest.raises(
        PreannotationError, match=f"learned from restricted source.*{re.escape(world.restricted.name)}"
    ) as refused:
        preannotation_check(checkpoint=checkpoint, source=world.public, requester=None)
    assert refused.value.field == "checkpoint"
    # Into the partner's own source it passes this rule and stops at the next (the stand-in has no files).
    with pytest.raises(PreannotationError, match="files are gone"):
        preannotation_check(checkpoint=checkpoint, source=world.restricted, requester=None)


def _generate(world, side: dict, tmp_path, name: str):
    """A Defect-Gen model trained on one side's version, sampled by a generation run; its images
    imported as a synthetic source. Returns that source."""
    from modeling import synthetic

    from ..modeling.test_runs import write_generated_folder

    generator = TrainingRun.objects.create(
        kind=RunKind.DEFECT_GEN,
        dataset_version=side[DatasetVersion],
        export=side[Export],
        status="succeeded",
        checkpoint_path=str(tmp_path / f"{name}-gen"),
        out_dir=str(tmp_path / f"{name}-gen"),
    )
    generation = TrainingRun.objects.create(
        kind=RunKind.GENERATE,
        dataset_version=side[DatasetVersion],
        export=side[Export],
        parent=generator,
        out_dir=str(tmp_path / f"{name}-generated-run"),
    )
    write_generated_folder(tmp_path / name, side[Export].classes)
    source, _count = synthetic.synthetic_samples_import(run=generation, folder=tmp_path / name)
    return source


def _sees(user, source) -> dict[str, bool]:
    """Whether `user` reaches the source and its samples: by the visibility rule and through the API."""
    from catalog.models import Sample
    from catalog.selectors import samples_visible_to, sources_visible_to

    api = APIClient()
    api.force_authenticate(user)
    listed = api.get(f"/api/samples/?source={source.pk}").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    return {
        "source": sources_visible_to(user).filter(pk=source.pk).exists(),
        "samples": samples_visible_to(user).filter(source=source).exists(),
        "api source": api.get(f"/api/sources/{source.pk}/").status_code == 200,
        "api samples": bool(rows) and Sample.objects.filter(source=source).exists(),
    }


def test_images_generated_from_a_source_restricted_later_follow_it(world, tmp_path, make_user):
    """Generated from a public source, the synthetic images are public; when an admin later makes
    that source restricted (partner data that should never have been open), the images a model
    learned from it can reproduce go with it, as its versions, exports and runs already do."""
    from catalog.services import source_access_set

    synthetic = _generate(world, world.public_objects, tmp_path, "from-public")
    assert synthetic.visibility == Visibility.PUBLIC
    member = world.people.manager

    source_access_set(source=world.public, by=make_user(Role.ADMIN), visibility=Visibility.RESTRICTED, members=[member])

    shown = {role: seen for role in ROLES if any((seen := _sees(make_user(role), synthetic)).values())}
    assert not shown, f"non-members still reach images generated from a now restricted source: {shown}"
    assert all(_sees(member, synthetic).values())  # a member of the source still does


def test_images_generated_from_a_partner_leave_a_member_removed_from_it(world, tmp_path, make_user):
    """Restricted from the start, the synthetic source's members were the partner's; a member the
    admin removes from the partner's source loses its generated images too."""
    from catalog.services import source_access_set

    synthetic = _generate(world, world.restricted_objects, tmp_path, "from-partner")
    removed, kept = world.people.annotator, world.people.reviewer
    assert synthetic.visibility == Visibility.RESTRICTED and synthetic.members.filter(pk=removed.pk).exists()

    remaining = [user for user in world.restricted.members.all() if user != removed]
    source_access_set(source=world.restricted, by=make_user(Role.ADMIN), members=remaining)

    assert not any(_sees(removed, synthetic).values()), _sees(removed, synthetic)
    assert all(_sees(kept, synthetic).values())


def test_images_generated_from_a_partner_never_land_in_a_public_source_named_for_their_run(world, tmp_path, make_user):
    """The synthetic source is found by name ("Defect-Gen synthesis, run N"), and anyone who may add
    sources can guess the next N: a public source of that name made beforehand must not receive the
    partner-derived images (nor turn restricted under its maker); the import is refused instead."""
    from catalog.models import Sample, Source

    from .test_restricted_writes import _api

    outsider = make_user(Role.DATA_MANAGER)
    next_run = TrainingRun.objects.order_by("-pk").first().pk + 2  # _generate makes the generator, then this
    squatted = _api(outsider).post(
        "/api/sources/", {"name": f"Defect-Gen synthesis, run {next_run}", "kind": "synthetic"}, format="json"
    )
    assert squatted.status_code == 201, squatted.content

    from modeling.synthetic import SyntheticImportError

    with pytest.raises(SyntheticImportError, match="was not made from"):
        _generate(world, world.restricted_objects, tmp_path, "into-squatted")

    source = Source.objects.get(pk=squatted.json()["id"])
    assert source.visibility == Visibility.PUBLIC and not Sample.objects.filter(source=source).exists()
