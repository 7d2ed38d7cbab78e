"""The data managers' sample table (every sort paged both ways against a sorted list, outlines
of masks), the dashboards' figures (against figures computed here from the same rows) and the
SVG charts that draw them."""

import itertools
import re
import statistics
from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from annotation.models import Annotation, ClaimOutcome, StageClaim
from annotation.web import charts, dashboard_selectors, sample_browser
from annotation.web.region_outlines import mask_polygons
from catalog.rle import mask_to_rle

from .conftest import drive, enqueue
from .factories import box_mask, make_sample, make_source

pytestmark = pytest.mark.django_db

STATES = ["unassigned", "submitted", "in_review", "verified"]


@pytest.fixture
def catalog_rows(vocab):
    """Eleven samples of two sources; eight enqueued with mixed states and priorities."""
    sources = [make_source("a"), make_source("b")]
    samples = [make_sample(sources[i % 2]) for i in range(11)]
    enqueue(*samples[:8])
    for i, sample in enumerate(samples[:8]):
        Annotation.objects.filter(pk=sample.pk).update(state=STATES[i % 4], priority=(i * 7) % 3 - 1)
    return samples


def oracle(sort: str, user) -> list[int]:
    """The whole listing in the sort's order, computed plainly in Python."""
    column, descending = sample_browser.SORTS[sort][0]
    if sort.lstrip("-") in ("state", "priority"):
        rows = [(getattr(a, column), a.pk) for a in Annotation.objects.all()]
    else:
        from catalog.models import Sample

        rows = [(getattr(s, column if column != "sample_id" else "pk"), s.pk) for s in Sample.objects.all()]
    keys = sample_browser.SORTS[sort]
    tie_descending = keys[-1][1]
    rows.sort(key=lambda row: row[1], reverse=tie_descending)
    if len(keys) == 2:
        rows.sort(key=lambda row: row[0], reverse=descending)
    return [pk for _value, pk in rows]


@pytest.mark.parametrize("sort", list(sample_browser.SORTS))
@pytest.mark.parametrize("size", [1, 3, 4])
def test_every_sort_pages_forward_and_back_like_the_sorted_list(catalog_rows, make_user, sort, size):
    user = make_user(Role.DATA_MANAGER)
    filters = sample_browser.SampleFilters(sort=sort)
    expected = oracle(sort, user)
    pages, page = [], sample_browser.sample_page(user, filters, size=size)
    while True:
        pages.append(page)
        if not page.next_after:
            break
        page = sample_browser.sample_page(user, filters, after=page.next_after, size=size)
    assert [s.pk for p in pages for s in p.samples] == expected
    # And back from the last page to the first, each page as it was.
    for earlier, later in itertools.pairwise(pages):
        back = sample_browser.sample_page(user, filters, before=later.previous_before, size=size)
        assert [s.pk for s in back.samples] == [s.pk for s in earlier.samples]


def test_a_bad_sort_or_cursor_is_named_not_a_500(client, make_user, catalog_rows):
    client.force_login(make_user(Role.DATA_MANAGER))
    response = client.get(reverse("review:samples"), {"sort": "colour", "after": "x~y"})
    assert response.status_code == 200
    assert response.context["filters"].errors == {"sort": "colour", "after": "x~y"}


def test_the_table_lists_gold_and_filters_by_it(client, make_user, catalog_rows):
    Annotation.objects.filter(pk=catalog_rows[2].pk).update(is_gold=True)
    client.force_login(make_user(Role.DATA_MANAGER))
    rows = client.get(reverse("review:samples"), {"gold": "yes"}).context["rows"]
    assert [row["sample"].pk for row in rows] == [catalog_rows[2].pk]


def test_outlines_trace_the_mask_in_original_pixels():
    mask = box_mask(400, 300, 100, 50, 80, 40)
    (polygon,) = mask_polygons(mask_to_rle(mask))
    points = np.array([[float(v) for v in point.split(",")] for point in polygon.split()])
    grid = 400 / 128  # one pixel of the tracing grid, in original pixels
    assert abs(points[:, 0].min() - 100) <= grid and abs(points[:, 0].max() - 180) <= grid
    assert abs(points[:, 1].min() - 50) <= grid and abs(points[:, 1].max() - 90) <= grid


def test_a_one_pixel_scratch_keeps_its_outline_on_a_large_image():
    mask = np.zeros((2000, 3000), dtype=bool)
    mask[1000, 200:2800] = True
    polygons = mask_polygons(mask_to_rle(mask))
    assert polygons and max(len(p.split()) for p in polygons) >= 2


def test_the_table_draws_outlines_of_imported_and_annotated_regions(client, make_user, vocab):
    loose = make_sample(regions=(("scratch", box_mask(40, 30, 5, 5, 10, 3)),))
    queued = make_sample(regions=(("scratch", box_mask(40, 30, 1, 1, 4, 4)), ("dent", [20, 10, 5, 5])))
    enqueue(queued)
    client.force_login(make_user(Role.DATA_MANAGER))
    html = client.get(reverse("review:samples")).content.decode()
    for sample, count in ((loose, 1), (queued, 2)):
        row = html[html.index(f'data-sample="{sample.pk}"') :]
        row = row[: row.index("</tr>")]
        assert row.count("<g stroke=") == count


# -- dashboards ------------------------------------------------------------------------------------


def test_throughput_and_median_minutes_match_the_claims(make_user, vocab):
    manager, annotator = make_user(Role.DATA_MANAGER), make_user(Role.ANNOTATOR)
    annotations = enqueue(*(make_sample() for _ in range(6)))
    today = timezone.localdate()
    noon = timezone.make_aware(timezone.datetime.combine(today, timezone.datetime.min.time())) + timedelta(hours=12)
    minutes = [3, 8, 4, 20, 6, 9]
    days_ago = [0, 0, 0, 1, 1, 3]
    for annotation, length, ago in zip(annotations, minutes, days_ago, strict=True):
        ended = noon - timedelta(days=ago)
        StageClaim.objects.create(
            annotation=annotation,
            user=annotator,
            stage="annotation",
            claimed_at=ended - timedelta(minutes=length),
            ended_at=ended,
            outcome=ClaimOutcome.DONE,
        )
    StageClaim.objects.create(
        annotation=annotations[0],
        user=annotator,
        stage="annotation",
        claimed_at=noon - timedelta(minutes=1),
        ended_at=noon,
        outcome=ClaimOutcome.RELEASED,
    )
    filters = dashboard_selectors.DashboardFilters(days=7, stage="annotation")
    board = dashboard_selectors.dashboard(manager, filters, today=today)
    done = board.done["annotation"]
    assert (done[-1], done[-2], done[-4], sum(done)) == (3, 2, 1, 6)
    assert board.median_minutes["annotation"][-1] == statistics.median([3, 8, 4])
    assert board.median_minutes["annotation"][-2] == statistics.median([20, 6])
    assert board.median_minutes["annotation"][-3] is None  # no data that day is not zero
    assert board.totals["annotation"] == {"done": 6, "median_minutes": statistics.median(minutes)}
    other = dashboard_selectors.dashboard(
        manager, dashboard_selectors.DashboardFilters(days=7, person=manager.pk), today=today
    )
    assert sum(other.done["annotation"]) == 0


def test_agreement_over_time_counts_reviews_and_votes(annotation, people, vocab):
    drive(annotation, people, vocab, to="verified")
    board = dashboard_selectors.dashboard(people.manager, dashboard_selectors.DashboardFilters(days=7))
    assert board.review_approval[-1] == 100.0  # approved without a request for changes
    assert board.consensus_agreement[-1] == 100.0  # both votes agreed with "verified"


def test_people_other_than_managers_see_only_their_own_dashboard(client, annotation, people, vocab):
    drive(annotation, people, vocab, to="submitted")
    client.force_login(people.reviewer)
    response = client.get(reverse("review:dashboards"), {"person": people.annotator.pk})
    assert response.context["filters"].person == people.reviewer.pk
    assert sum(response.context["board"].done["annotation"]) == 0
    client.force_login(people.manager)
    response = client.get(reverse("review:dashboards"), {"person": people.annotator.pk, "days": "5"})
    assert sum(response.context["board"].done["annotation"]) == 1
    assert response.context["filters"].errors == {"days": "5"}


def test_a_restricted_sources_work_is_not_counted_for_outsiders(make_user, vocab, people):
    (hidden,) = enqueue(make_sample(make_source("partner", restricted=True)))
    StageClaim.objects.create(
        annotation=hidden,
        user=people.annotator,
        stage="annotation",
        claimed_at=timezone.now() - timedelta(minutes=2),
        ended_at=timezone.now(),
        outcome="done",
    )
    board = dashboard_selectors.dashboard(people.manager, dashboard_selectors.DashboardFilters(days=7))
    assert sum(board.done["annotation"]) == 0
    assert dashboard_selectors.backlog_now(people.manager)["annotation"]["waiting"] == 0


# -- charts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 0.3, 1, 7, 10, 11, 99, 101, 2500])
def test_the_axis_top_is_a_round_number_at_or_above_the_data(value):
    top = charts.nice_maximum(value)
    assert top >= value and top >= 1
    mantissa = top / 10 ** int(np.floor(np.log10(top)))
    assert mantissa in (1, 2, 5, 10)


def test_a_chart_carries_each_value_and_leaves_gaps_for_missing_days():
    days = [timezone.localdate() - timedelta(days=i) for i in range(4, -1, -1)]
    values = [2, None, 5, 0, 1.5]
    svg = str(charts.line_chart("t", days, [charts.Series("a <b>", values, "#000")]))
    assert re.findall(r'data-value="([^"]+)"', svg) == ["2", "5", "0", "1.5"]
    assert svg.count("M") == 2  # the gap breaks the line in two
    assert "a &lt;b&gt;" in svg and "<b>" not in svg
    bars = str(charts.stacked_bar_chart("t", days, [charts.Series("x", [1, 0, 2, 0, 3], "#000")]))
    assert re.findall(r'data-value="([^"]+)"', bars) == ["1", "2", "3"]
