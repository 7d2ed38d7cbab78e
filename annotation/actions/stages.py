"""The work of each stage: save, submit, approve or request changes, vote; and generated drafts."""

import random

from django.conf import settings

from accounts.roles import Role
from vocabulary.models import LANGUAGES

from ..consensus import consensus_tally
from ..content_edits import content_apply, region_owner_shown
from ..error_codes import ContentErrors
from ..models import (
    Annotation,
    ClaimOutcome,
    ConsensusReason,
    ConsensusVote,
    ReviewComment,
    Stage,
    VoteDecision,
)
from ..revision_content import (
    CaptionText,
    Content,
    content_check_complete,
    content_diff,
    content_disagrees,
    content_of,
    revisions_with_content,
)
from ..template_fields import TEMPLATE
from .base import STAGE_OF_WORKING_STATE, STAGE_ROLE, HolderTransition, State, Transition


class ContentTransition(HolderTransition):
    """A holder's transition that may carry content changes."""

    require_complete = False

    def __init__(self, *, content_data=None, **kwargs):
        super().__init__(**kwargs)
        self.content_data = content_data
        self.new_content: Content | None = None

    def check_rules(self) -> None:
        super().check_rules()
        self.check_content()

    def check_content(self) -> None:
        base = self.current_content()
        content = base
        if self.content_data is not None:
            content = content_apply(
                base=base,
                data=self.content_data,
                sample=self.annotation.sample,
                annotation=self.annotation,
                author=self.user,
            )
        if self.require_complete:
            content_check_complete(content)
        self.new_content = content

    def changes(self) -> list:
        return content_diff(self.current_content(), self.new_content)


class SaveContent(ContentTransition):
    """Work in progress during stage 1 or 2: a new revision; a save that changes nothing is no write."""

    action = "save"
    allowed_from = (State.IN_ANNOTATION, State.IN_REVIEW)

    @property
    def role(self) -> str:
        return STAGE_ROLE[STAGE_OF_WORKING_STATE[self.annotation.state]]

    def execute(self) -> None:
        if not self.changes():
            return
        edits = self.write_revision(self.new_content, self.stage)
        self.commit(edits=edits)


class Submit(ContentTransition):
    action = "submit"
    allowed_from = (State.IN_ANNOTATION,)
    role = Role.ANNOTATOR
    require_complete = True

    def execute(self) -> None:
        annotation = self.annotation
        current = annotation.current_revision
        edits = []
        # The stage-1 result is always a revision of this annotator's, even when the draft was perfect.
        if self.changes() or current is None or current.stage != Stage.ANNOTATION or current.author_id != self.user.pk:
            edits = self.write_revision(self.new_content, Stage.ANNOTATION)
        annotation.submitted_revision = annotation.current_revision
        annotation.annotator = self.user
        annotation.assignee = None
        self.end_lease(ClaimOutcome.DONE)
        self.move_to(State.SUBMITTED, queue=Stage.REVIEW)
        self.commit(edits=edits)


class Approve(ContentTransition):
    """Approve, or edit and approve. Then route: to consensus (all samples, or disagreements and
    a random audit fraction, as ANNOTATION_CONSENSUS_MODE says), or straight to VERIFIED."""

    action = "approve"
    allowed_from = (State.IN_REVIEW,)
    role = Role.REVIEWER
    require_complete = True

    def execute(self) -> None:
        annotation = self.annotation
        edits = self.write_revision(self.new_content, Stage.REVIEW) if self.changes() else []
        annotation.reviewed_revision = annotation.current_revision
        annotation.reviewer = self.user
        self.end_lease(ClaimOutcome.DONE)
        self.move_to(State.REVIEWED)
        submitted = revisions_with_content().get(pk=annotation.submitted_revision_id)
        annotation.has_disagreement = content_disagrees(content_of(submitted), self.new_content)
        reason = consensus_reason(has_disagreement=annotation.has_disagreement)
        annotation.consensus_reason = reason
        if reason:
            annotation.queue = Stage.CONSENSUS
        else:
            annotation.final_revision = annotation.current_revision
            self.move_to(State.VERIFIED, action="verify")
        self.commit(edits=edits, extra_events=[("route", "consensus_reason", None, reason)])


def consensus_reason(*, has_disagreement: bool) -> str:
    if settings.ANNOTATION_CONSENSUS_MODE == "all":
        return ConsensusReason.ALL
    if has_disagreement:
        return ConsensusReason.DISAGREEMENT
    if random.random() < settings.ANNOTATION_AUDIT_FRACTION:
        return ConsensusReason.AUDIT
    return ConsensusReason.NONE


COMMENT_TARGETS = (
    {f"fields.{name}" for name in TEMPLATE}
    | {f"captions.{lang}" for lang in LANGUAGES}
    | {"notes", "regions", "qa_pairs"}
)


class RequestChanges(HolderTransition):
    """Back to the same annotator, with comments pinned to fields or regions."""

    action = "request_changes"
    allowed_from = (State.IN_REVIEW,)
    role = Role.REVIEWER

    def __init__(self, *, comments, **kwargs):
        super().__init__(**kwargs)
        self.comments_data = comments
        self.comments: list[ReviewComment] = []

    def check_rules(self) -> None:
        super().check_rules()
        errors = ContentErrors()
        if not isinstance(self.comments_data, list) or not self.comments_data:
            errors.add("comments", "at least one comment: {text, field?, region?}")
            errors.raise_if_any()
        region_ids = {r.existing.pk for r in self.current_content().regions}
        round_number = self.annotation.review_round + 1
        for index, item in enumerate(self.comments_data):
            path = f"comments[{index}]"
            if not isinstance(item, dict):
                errors.add(path, "an object {text, field?, region?}")
                continue
            errors.add_unknown_keys(item, ("text", "field", "region"), path)
            text, field, region = item.get("text"), item.get("field") or "", item.get("region")
            if not isinstance(text, str) or not text.strip():
                errors.add(f"{path}.text", "required")
            if field and field not in COMMENT_TARGETS:
                errors.add(f"{path}.field", "one of " + ", ".join(sorted(COMMENT_TARGETS)))
            if region is not None and region not in region_ids:
                owner = region_owner_shown(region, editing=self.annotation)
                elsewhere = owner is not None and owner != self.annotation.pk
                errors.add(
                    f"{path}.region",
                    f"region {region} belongs to another sample"
                    if elsewhere
                    else f"region {region} is not among this revision's regions",
                )
            if not errors:
                self.comments.append(
                    ReviewComment(
                        annotation=self.annotation,
                        revision_id=self.annotation.current_revision_id,
                        round=round_number,
                        author=self.user,
                        field=field,
                        region_id=region,
                        text=text.strip(),
                    )
                )
        errors.raise_if_any()

    def execute(self) -> None:
        annotation = self.annotation
        ReviewComment.objects.bulk_create(self.comments)
        annotation.review_round += 1
        annotation.reviewer = self.user
        annotation.assignee = annotation.annotator  # the same annotator addresses the comments
        self.end_lease(ClaimOutcome.DONE)
        self.move_to(State.CHANGES_REQUESTED, queue=Stage.ANNOTATION)
        comments = [{"field": c.field, "region": c.region_id, "text": c.text} for c in self.comments]
        self.commit(extra_events=[("request_changes", "review_comments", None, comments)])


class Vote(ContentTransition):
    """A consensus expert's vote: approve, reject, or edit (a new revision, approved by its
    author). The quorum of votes on the current revision decides."""

    action = "vote"
    allowed_from = (State.IN_CONSENSUS,)
    role = Role.EXPERT

    def __init__(self, *, decision, comment="", **kwargs):
        super().__init__(**kwargs)
        self.decision = decision
        self.comment = comment

    def check_rules(self) -> None:
        HolderTransition.check_rules(self)
        errors = ContentErrors()
        if self.decision not in VoteDecision.values:
            errors.add("decision", "one of " + ", ".join(VoteDecision.values))
        elif self.decision == VoteDecision.EDIT and self.content_data is None:
            errors.add("content", "an edit vote carries the edited content")
        elif self.decision != VoteDecision.EDIT and self.content_data is not None:
            errors.add("content", "only an edit vote carries content")
        if not isinstance(self.comment, str):
            errors.add("comment", "a string")
        errors.raise_if_any()
        self.require_complete = self.decision != VoteDecision.REJECT
        self.check_content()
        if self.decision == VoteDecision.EDIT and not self.changes():
            errors.add("content", "the edit changes nothing; vote approve instead")
            errors.raise_if_any()

    def execute(self) -> None:
        annotation = self.annotation
        edits = self.write_revision(self.new_content, Stage.CONSENSUS) if self.decision == VoteDecision.EDIT else []
        vote = ConsensusVote.objects.create(
            annotation=annotation,
            expert=self.user,
            revision_id=annotation.current_revision_id,
            decision=self.decision,
            comment=self.comment,
        )
        self.end_lease(ClaimOutcome.DONE)
        outcome = consensus_outcome(annotation)
        if outcome == State.VERIFIED:
            annotation.final_revision = annotation.current_revision
            self.move_to(State.VERIFIED, action="verify")
        elif outcome == State.REJECTED:
            self.move_to(State.REJECTED, action="reject")
        else:
            annotation.queue = Stage.CONSENSUS  # the next expert's turn
        after = {"decision": vote.decision, "revision": vote.revision_id, "comment": vote.comment}
        self.commit(edits=edits, extra_events=[("vote", "vote", None, after)])


def consensus_outcome(annotation: Annotation) -> str | None:
    """VERIFIED or REJECTED once `quorum` live votes agree, else None (keep voting); the rule is
    ConsensusTally.outcome's. Updates the annotation's count of distinct voters."""
    tally = consensus_tally(annotation)
    annotation.consensus_voters = tally.voters
    return tally.outcome


class AttachDraftCaptions(Transition):
    """A generator's captions (LLM or template) as a new draft revision, before anyone works on
    the sample: stage 1 then starts from them."""

    action = "draft_captions"
    allowed_from = (State.UNASSIGNED,)

    def __init__(self, *, captions: dict[str, str], generator: str, **kwargs):
        super().__init__(**kwargs)
        self.captions = captions
        self.generator = generator

    def check_rules(self) -> None:
        errors = ContentErrors()
        for language, text in self.captions.items():
            if language not in LANGUAGES:
                errors.add(f"captions.{language}", "unknown language; one of " + ", ".join(LANGUAGES))
            elif not isinstance(text, str) or not text.strip():
                errors.add(f"captions.{language}", "a non-empty string")
        if not self.generator:
            errors.add("generator", "required, e.g. llm:<model> or template")
        errors.raise_if_any()

    def execute(self) -> None:
        base = self.current_content()
        captions = dict(base.captions)
        for language, text in self.captions.items():
            captions[language] = CaptionText(text.strip(), None, self.generator)
        new = Content(
            fields={name: list(terms) for name, terms in base.fields.items()},
            notes=base.notes,
            regions=base.regions,
            captions=captions,
            qa_pairs=base.qa_pairs,
        )
        edits = self.write_revision(new, Stage.DRAFT)
        self.commit(edits=edits)
