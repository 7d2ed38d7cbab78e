"""The training run page: live while the run runs (progress, log tail, curves from an admin-only view
that keeps the visibility rule), one value axis per loss, rounded figures, the evaluation as tables."""

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from base.jobs import JobStatus
from modeling import runner
from modeling.charts import figure, loss_charts
from modeling.models import RunMetric, TrainingRun

from ..access.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path, people, vocab, make_user, settings):
    settings.EXPORT_ROOTS = [str(tmp_path)]
    settings.CAPTION_RATE_LIMIT_PER_MINUTE = 0
    return build_world(tmp_path, people, vocab, make_user(Role.ADMIN))


def _running(run: TrainingRun) -> TrainingRun:
    """The run as a worker sees it mid-way: a log, two metrics lines mirrored."""
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / runner.LOG_NAME).write_text("$ python -m modeling.train\nloading shards\nstep 1 done\n")
    lines = [
        {"step": 1, "stage": 2, "loss": 2.5, "mask_loss": 0.0012345678901, "class_loss": 31.0, "lr": 1e-4},
        {"step": 2, "stage": 2, "loss": 2.25, "mask_loss": 0.0011, "class_loss": 0.02, "lr": 1e-4},
    ]
    (out / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, total_steps=10)
    run.refresh_from_db()
    runner.mirror_progress(run, runner.MetricsFollower(out / "metrics.jsonl"))
    run.refresh_from_db()
    return run


def test_the_log_tail_is_mirrored_while_the_run_runs(world):
    run = _running(world.public_objects[TrainingRun])

    assert "step 1 done" in run.log_tail
    assert RunMetric.objects.filter(run=run).count() == 2


def test_the_run_page_redraws_itself_from_the_live_view(world, make_user):
    run = _running(world.public_objects[TrainingRun])
    client = Client()
    client.force_login(make_user(Role.ML_ENGINEER))
    live_url = reverse("admin:modeling_trainingrun_live", args=[run.pk])

    page = client.get(reverse("admin:modeling_trainingrun_change", args=[run.pk])).content.decode()
    live = client.get(live_url).json()

    assert f'data-url="{live_url}"' in page
    assert 'id="run-log-tail"' in page and "step 1 done" in page
    assert live["status"] == "running" and not live["finished"] and live["step"] == 2
    assert "step 1 done" in live["log_tail"]
    assert live["loss_curves"].count("<svg") == 3  # loss, mask_loss, class_loss; lr is not a loss
    assert "0.0011" in live["latest_metrics"] and "0.0012345678901" not in page


def test_the_live_view_keeps_the_visibility_rule(world, make_user):
    run = _running(world.restricted_objects[TrainingRun])
    url = reverse("admin:modeling_trainingrun_live", args=[run.pk])
    outsider, annotator, member = Client(), Client(), Client()
    outsider.force_login(make_user(Role.ML_ENGINEER))
    annotator.force_login(make_user(Role.ANNOTATOR))
    engineer = make_user(Role.ML_ENGINEER)
    world.restricted.members.add(engineer)
    member.force_login(engineer)

    assert outsider.get(url).status_code == 404
    assert annotator.get(url).status_code in (302, 403)  # not staff: the admin's login page
    assert member.get(url).status_code == 200


def test_a_finished_run_does_not_poll(world, make_user):
    run = world.public_objects[TrainingRun]
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.SUCCEEDED)
    client = Client()
    client.force_login(make_user(Role.ML_ENGINEER))

    page = client.get(reverse("admin:modeling_trainingrun_change", args=[run.pk])).content.decode()

    assert 'id="run-live"' not in page


def test_each_loss_has_its_own_value_axis():
    html = loss_charts(
        {
            "loss": [(1, 2.5), (2, 2.25)],
            "mask_loss": [(1, 0.0012), (2, 0.0011)],
            "class_loss": [(1, 31.0), (2, 0.02)],
        }
    )

    charts = html.split("<svg")[1:]
    assert len(charts) == 3
    mask_ticks = re.findall(r'dominant-baseline="middle">([^<]+)<', charts[1])
    assert mask_ticks[0] == "0.0011" and mask_ticks[-1] == "0.0012"  # its own range, not 0.001..31
    assert "log axis" in charts[2] and "log axis" not in charts[0]  # 31 to 0.02 spans three decades


def test_figures_are_rounded_to_four_significant_digits():
    assert figure(0.123456789012345) == "0.1235"
    assert figure(1234567.0) == "1.235e+06"
    assert figure(0.0) == "0.0"


def test_the_evaluation_report_is_an_html_table_with_rounded_figures(world, make_user):
    run = world.public_objects[TrainingRun]
    report = {
        "split": "test",
        "images": 12,
        "checkpoint_step": 40,
        "held_out_classes": ["def-crack"],
        "classification": {"accuracy": 0.75},
        "detection": {"map50": 0.5, "map50_95": 0.25},
        "segmentation": {"miou": 0.6, "per_class_iou": {"def-scratch": 0.7, "def-crack": 0.1}},
        "open_vocabulary": {"classes": ["def-crack"], "classification": {"accuracy": 0.5}, "segmentation": None},
        "seconds_per_image": 0.123456789012345,
        "device": "cpu",
    }
    TrainingRun.objects.filter(pk=run.pk).update(report=report, status=JobStatus.SUCCEEDED)
    client = Client()
    client.force_login(make_user(Role.ML_ENGINEER))

    page = client.get(reverse("admin:modeling_trainingrun_change", args=[run.pk])).content.decode()

    assert "<th>held-out classes (def-crack)</th>" in page
    assert "<tr><th>classification accuracy</th><td>75.0 %</td><td>50.0 %</td></tr>" in page
    assert "<tr><td>def-crack</td><td>10.0 %</td><td>held out</td></tr>" in page
    assert "<tr><th>seconds per image</th><td>0.1235 s</td></tr>" in page
    assert "0.12345678" not in page
