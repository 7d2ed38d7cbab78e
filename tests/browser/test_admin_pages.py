"""The admin pages an ML engineer and a data manager keep open, in Chromium: a live training run
redraws its log tail and curves without a reload; a dataset version with a bad split plan shows the
error under the field and keeps what was typed."""

import json
from pathlib import Path

import pytest

from accounts.roles import Role
from base.jobs import JobStatus
from modeling import runner
from modeling.models import TrainingRun

from ..access.world import build_world
from ..annotation.conftest import people, vocab  # noqa: F401  (the workflow seats and terms)
from .conftest import SCREENSHOTS

pytestmark = [pytest.mark.slow]


@pytest.fixture
def world(transactional_db, tmp_path, people, vocab, make_user, settings):  # noqa: F811
    settings.EXPORT_ROOTS = [str(tmp_path)]
    settings.CAPTION_RATE_LIMIT_PER_MINUTE = 0
    return build_world(tmp_path, people, vocab, make_user(Role.ADMIN))


def _full_page(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _mirror(run: TrainingRun, log: str, steps: range) -> None:
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / runner.LOG_NAME).write_text(log)
    lines = [
        {"step": s, "stage": 2, "loss": 3.0 / s, "mask_bce": 0.002 / s, "class": 40.0 / s**2, "lr": 1e-4} for s in steps
    ]
    (out / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    run.refresh_from_db()
    runner.mirror_progress(run, runner.MetricsFollower(out / "metrics.jsonl"))


def test_a_live_run_page_redraws_its_log_tail_and_curves(world, make_user, open_as):
    run = world.public_objects[TrainingRun]
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, total_steps=200)
    _mirror(run, "$ python -m modeling.train --stage 2\nstep 10\n", range(10, 60, 10))

    page = open_as(make_user(Role.ML_ENGINEER), f"/admin/modeling/trainingrun/{run.pk}/change/")
    assert "step 10" in page.inner_text("#run-log-tail")
    assert page.locator(".field-loss_curves svg").count() == 3

    _mirror(run, "$ python -m modeling.train --stage 2\nstep 10\nstep 90: still learning\n", range(10, 100, 10))
    page.wait_for_function("document.getElementById('run-log-tail').textContent.includes('still learning')")
    assert "step 90 of 200" in page.inner_text(".field-progress_bar")
    assert not page.script_errors
    _full_page(page, "admin-training-run-live")


def test_a_bad_split_plan_is_shown_under_its_field_with_the_input_kept(world, make_user, open_as):
    page = open_as(make_user(Role.DATA_MANAGER), "/admin/releases/datasetversion/add/")
    typed = '{"train": 0.9, "val": 0.3, "test": 0.1}'
    page.fill("#id_title", "spring release")
    page.fill("#id_split_plan", typed)
    page.click("input[name=_save]")
    page.wait_for_selector(".errornote")

    error = page.inner_text(".field-split_plan .errorlist")
    assert "sum to 1" in error
    assert json.loads(page.input_value("#id_split_plan")) == json.loads(typed)
    assert page.input_value("#id_title") == "spring release"
    assert "successfully" not in page.content()
    _full_page(page, "admin-dataset-version-bad-plan")
