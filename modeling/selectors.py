"""Reads of training runs and what comes of them, for the person asking (catalog's visibility rule).

A run is as visible as the data it learned from: its dataset version, and the versions of the runs it
starts from (a Stage 2 run fine-tuned from a Stage 1 run on a partner's version carries that
version's samples in its weights, whatever version it is fine-tuned on). One hidden source anywhere
in that lineage hides the run, its checkpoints, and the jobs that name them."""

from django.db.models import QuerySet

from accounts.models import User
from catalog.models import Source
from catalog.selectors import sees_every_source, without_hidden
from releases.selectors import training_sources, versions_visible_to

from .models import ModelCheckpoint, TrainingRun

# Stage 1 -> Stage 2 -> evaluation or generation is the deepest lineage the platform makes; one more
# level is kept for a run started from any of those.
LINEAGE_DEPTH = 4
LINEAGE_SOURCES = tuple("parent__" * depth + "dataset_version__sources" for depth in range(LINEAGE_DEPTH))


def runs_visible_to(user: User) -> QuerySet[TrainingRun]:
    runs = TrainingRun.objects.all()
    if sees_every_source(user):
        return runs
    for path in LINEAGE_SOURCES:
        runs = without_hidden(runs, user, path)
    return runs


def runs_usable_by(user: User) -> QuerySet[TrainingRun]:
    """Runs a person may start jobs from: visible, and naming a version they may see (a run with no
    version, registered from the command line, is for those who see everything)."""
    runs = TrainingRun.objects.all()
    if sees_every_source(user):
        return runs
    return runs_visible_to(user).filter(dataset_version__in=versions_visible_to(user).values("pk"))


def checkpoints_visible_to(user: User) -> QuerySet[ModelCheckpoint]:
    """Checkpoints a person may start jobs from: those of the runs usable by them."""
    checkpoints = ModelCheckpoint.objects.all()
    if sees_every_source(user):
        return checkpoints
    return checkpoints.filter(run__in=runs_usable_by(user).values("pk"))


def lineage_training_sources(run: TrainingRun) -> list[Source]:
    """The sources whose samples went into `run`'s output: its export's and those of every run it
    starts from (a generation run samples a model another run trained, perhaps on another version)."""
    sources: dict[int, Source] = {}
    seen: set[int] = set()
    current: TrainingRun | None = run
    while current is not None and current.pk not in seen:
        seen.add(current.pk)
        if current.export_id is not None:
            sources.update({source.pk: source for source in training_sources(current.export)})
        current = current.parent
    return list(sources.values())
