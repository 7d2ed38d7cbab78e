"""The platform's roles (DESIGN.md) as Django groups, and the permissions each group carries.

Groups are kept in step with this table after every migrate (see apps.py), so adding a permission
here and running migrate is all a deploy needs.
"""

from django.db import models


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"  # stage 1: fills the template, regions and captions
    REVIEWER = "reviewer", "Reviewer"  # stage 2: peer review of someone else's annotation
    EXPERT = "expert", "Expert"  # stage 3: consensus vote
    DATA_MANAGER = "data_manager", "Data manager"  # imports, releases, exports
    ML_ENGINEER = "ml_engineer", "ML engineer"  # training runs and evaluation
    ADMIN = "admin", "Admin"  # everything, including restricted sources


_READ_CATALOG = ["catalog.view_source", "catalog.view_sample", "catalog.view_sourceregion"]
_READ_VOCABULARY = ["vocabulary.view_term", "vocabulary.view_termname", "vocabulary.view_vocabularyversion"]
_CURATE_VOCABULARY = [
    "vocabulary.add_term",
    "vocabulary.change_term",
    "vocabulary.add_termname",
    "vocabulary.change_termname",
    "vocabulary.delete_termname",
    "vocabulary.add_vocabularyversion",
]
_READ = _READ_CATALOG + _READ_VOCABULARY
# Annotation: the workflow's people read annotations; each transition checks its own role (annotation/actions/).
_WORK_ON_ANNOTATIONS = [
    "annotation.view_annotation",
    "annotation.view_annotationrevision",
    "captioning.view_captiondraft",
]
_MANAGE_ANNOTATIONS = [
    "annotation.assign_annotation",
    "annotation.see_identities",
    "annotation.view_auditevent",
    "annotation.view_agreementreport",
    "annotation.add_agreementreport",
    "captioning.view_captionjob",
    "captioning.add_captionjob",
    "captioning.change_captionjob",
]
_RELEASE = [
    "releases.view_datasetversion",
    "releases.add_datasetversion",
    "releases.change_datasetversion",
    "releases.view_export",
    "releases.add_export",
    "releases.change_export",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.ANNOTATOR: _READ + _WORK_ON_ANNOTATIONS + ["annotation.annotate"],
    Role.REVIEWER: _READ + _WORK_ON_ANNOTATIONS + ["annotation.review"],
    Role.EXPERT: _READ + _WORK_ON_ANNOTATIONS + ["annotation.vote_consensus"],
    Role.DATA_MANAGER: _READ
    + _CURATE_VOCABULARY
    + _WORK_ON_ANNOTATIONS
    + _MANAGE_ANNOTATIONS
    + _RELEASE
    + [
        "catalog.add_source",
        "catalog.change_source",
        "catalog.add_sample",
        "catalog.change_sample",
        "catalog.view_importjob",
        "catalog.add_importjob",
        # pre-annotation from a trained checkpoint, and the queue's order (the model in the loop)
        "modeling.view_modelcheckpoint",
        "modeling.view_preannotationjob",
        "modeling.add_preannotationjob",
        "modeling.change_preannotationjob",
        # image embeddings for near-duplicates and the diversity sampler (curation)
        "modeling.view_embeddingjob",
        "modeling.add_embeddingjob",
        "modeling.change_embeddingjob",
        "annotation.view_queuesetting",
        "annotation.change_queuesetting",
    ],
    Role.ML_ENGINEER: _READ
    + _WORK_ON_ANNOTATIONS
    + ["annotation.view_agreementreport", "releases.view_datasetversion", "releases.view_export"]
    + ["modeling.view_trainingrun", "modeling.add_trainingrun", "modeling.change_trainingrun"]
    + ["modeling.view_modelcheckpoint", "modeling.view_runmetric"]
    + ["modeling.view_preannotationjob", "modeling.add_preannotationjob", "modeling.change_preannotationjob"]
    + ["modeling.view_embeddingjob", "modeling.add_embeddingjob", "modeling.change_embeddingjob"],
    Role.ADMIN: ["*"],  # every permission, including catalog.view_all_restricted
}

# Roles whose members get into the Django admin.
STAFF_ROLES = {Role.DATA_MANAGER, Role.ML_ENGINEER, Role.ADMIN}
