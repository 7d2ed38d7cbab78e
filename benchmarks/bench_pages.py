"""Server time of the review pages at BENCH_PAGES_SAMPLES (default 1,000,000) samples, on PostgreSQL,
against a trivial signed-in page measured in the same run (the baseline: session, user, language,
template shell, and nothing else).

Timed with Django's test Client, so it is the server's time without the network:
- "next": POST /next/annotation/ (claim the next sample, redirect to its work page); each by a
  different annotator, so no request finds the sample it already holds;
- "work page": GET /work/<id>/ of a sample its holder works on, with a realistic revision (three
  512x512 mask regions, six template fields, captions in three languages, two QA pairs);
- "sample browser": GET /samples/ for a data manager, keyset pages followed from the first page
  and from cursors a fifth, two fifths and three fifths down, unfiltered and with filters.
The catalog and the queues are built by bench_workflow's SQL builder (70% waiting for annotation,
20% for review, 10% verified). Target: p99 <= 150 ms for the work page and next.
"""

import gc
import os
import time

import numpy as np
from django.urls import include, path

from benchmarks.bench_workflow import _fill, _percentiles, _users

SAMPLES = int(os.environ.get("BENCH_PAGES_SAMPLES", "1000000"))
REQUESTS = 200
WORK_SAMPLES = 50  # samples given a realistic revision; each work page is read REQUESTS / WORK_SAMPLES times
PAGES_PER_WALK = 6
TARGET_MS = 150


def baseline_page(request):
    """The trivial signed-in page: the shell every review page extends, with no content."""
    from django.contrib.auth.decorators import login_required
    from django.shortcuts import render

    from annotation.web.language import in_user_language

    return login_required(in_user_language(lambda r: render(r, "review/base.html", {})))(request)


def __getattr__(name: str):
    """The benchmark's URLconf (ROOT_URLCONF points at this module): the project's URLs plus the
    baseline page. Built on first use, because including the project's URLs needs the apps loaded."""
    if name == "urlpatterns":
        return [path("bench/baseline/", baseline_page), path("", include("config.urls"))]
    raise AttributeError(name)


def _signed_in(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def _time(requests) -> list[float]:
    """Each item is a callable that makes one request and checks its response."""
    gc.collect()
    timings = []
    for request in requests:
        started = time.perf_counter()
        request()
        timings.append(time.perf_counter() - started)
    return timings


def _get(client, url: str, status: int = 200):
    def request():
        response = client.get(url)
        assert response.status_code == status, (url, response.status_code)
        return response

    return request


def _realistic_content(vocabulary_terms: dict, size: int, rng) -> dict:
    masks = []
    for _ in range(3):
        mask = np.zeros((size, size), dtype=bool)
        x, y = rng.integers(20, size - 120, size=2)
        mask[y : y + rng.integers(8, 100), x : x + rng.integers(8, 100)] = True
        masks.append(mask)
    from catalog.rle import mask_to_rle

    return {
        "fields": {
            "product": vocabulary_terms["product"],
            "materials": [vocabulary_terms["material"]],
            "defect_types": [vocabulary_terms["defect_type"]],
            "locations": [vocabulary_terms["location"]],
            "morphology": [vocabulary_terms["morphology"]],
            "root_causes": [vocabulary_terms["root_cause"]],
        },
        "regions": [
            {"key": f"r{i}", "defect_type": vocabulary_terms["defect_type"], "mask_rle": mask_to_rle(mask)}
            for i, mask in enumerate(masks)
        ],
        "captions": {
            "en": "A steel plate with a long thin scratch running diagonally across the lower left of the surface, "
            "and two small round pits near the upper edge, most likely caused by handling during transport.",
            "zh": "钢板表面左下方有一条斜向的细长划痕，上边缘附近有两个小圆形凹坑，可能是运输过程中搬运造成的。",
            "ja": "鋼板の表面左下に斜めに走る細長い傷があり、上端付近に小さな丸いピットが二つある。輸送中の取り扱いが原因と考えられる。",
        },
        "qa_pairs": [
            {"question": "Where is the scratch?", "answer": "At the lower left.", "language": "en", "regions": ["r0"]},
            {"question": "有几个凹坑？", "answer": "两个。", "language": "zh", "regions": ["r1", "r2"]},
        ],
    }


def _walks(client, first_url: str, size: int, *, id_cursors: bool = True) -> list[float]:
    """Keyset pages followed from the first page and from cursors a fifth, two and three fifths down
    (id_cursors=False: the sort's cursors are not sample ids, so from the first page only)."""
    import re

    starts = [first_url]
    if id_cursors:
        starts += [f"{first_url}&after={size - size * fifths // 5}" for fifths in (1, 2, 3)]
    gc.collect()
    timings = []
    for _round in range(3):
        for url in starts:
            for _ in range(PAGES_PER_WALK):
                started = time.perf_counter()
                response = client.get(url)
                timings.append(time.perf_counter() - started)
                assert response.status_code == 200, (url, response.status_code)
                older = re.search(rb'rel="next" href="\?([^"]+)"', response.content)
                if older is None:
                    break
                url = "/samples/?" + older.group(1).decode().replace("&amp;", "&")
    return timings


def run() -> None:
    if "postgres" not in os.environ.get("DATABASE_URL", ""):
        print("   skipped: needs PostgreSQL (set DATABASE_URL=postgres://...); the queue relies on SKIP LOCKED")
        return
    from benchmarks.django_env import benchmark_database

    with benchmark_database():
        from django.conf import settings
        from django.db import connection
        from django.urls import clear_url_caches

        from accounts.roles import Role
        from annotation import services
        from annotation.models import Annotation
        from catalog.models import Source
        from tests.vocabulary.conftest import bundled_records
        from vocabulary import services as vocabulary_services
        from vocabulary.models import Term

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        settings.ROOT_URLCONF = __name__
        clear_url_caches()
        vocabulary_services.vocabulary_load(records=bundled_records())
        vocabulary_services.vocabulary_version_release(note="bench")
        terms = {
            facet: Term.objects.filter(facet=facet, status="approved").order_by("id").first().pk
            for facet in ("product", "material", "defect_type", "location", "morphology", "root_cause")
        }
        Source.objects.bulk_create(Source(name=f"bench source {i}") for i in range(20))
        annotators = _users(Role.ANNOTATOR, REQUESTS + 10, "annotator")
        stage1_people = [u.pk for u in _users(Role.ANNOTATOR, 50, "stage1-")]
        manager = _users(Role.DATA_MANAGER, 1, "manager")[0]

        started = time.perf_counter()
        with connection.cursor() as cursor:
            _fill(cursor, up_to=SAMPLES, annotator_ids=stage1_people)
        print(f"   {SAMPLES:,} samples: bulk-created in {time.perf_counter() - started:.0f} s", flush=True)

        clients = [_signed_in(user) for user in annotators]
        baseline = _time([_get(clients[0], "/bench/baseline/")] * REQUESTS)

        # next: claim and redirect; the first ten warm up the process and the caches
        def claim(client):
            def request():
                response = client.post("/next/annotation/")
                assert response.status_code == 302 and "/work/" in response["Location"], response
                client.claimed = int(response["Location"].rstrip("/").split("/")[-1])

            return request

        for client in clients[:10]:
            claim(client)()
        next_timings = _time([claim(client) for client in clients[10:]])

        # work pages with a realistic revision, each read by the annotator who holds it
        rng = np.random.default_rng(0)
        holders = clients[10 : 10 + WORK_SAMPLES]
        for client, user in zip(holders, annotators[10 : 10 + WORK_SAMPLES], strict=True):
            version = Annotation.objects.get(pk=client.claimed).version
            services.annotation_save(
                user=user, sample_id=client.claimed, version=version, content=_realistic_content(terms, 512, rng)
            )
        work_timings = _time(
            [_get(client, f"/work/{client.claimed}/") for _ in range(REQUESTS // WORK_SAMPLES) for client in holders]
        )

        browser = _signed_in(manager)
        source = Source.objects.order_by("id")[5].pk
        # Sample i is in source i % 20 and waits for review when i % 10 is 7 or 8: this source's
        # samples all wait for review (one in twenty rows of the walk matches).
        review_source = Source.objects.order_by("id")[7].pk
        size = SAMPLES
        figures = {
            "baseline (signed-in shell)": baseline,
            "next (claim + redirect)": next_timings,
            "work page": work_timings,
            "samples, no filter": _walks(browser, "/samples/?", size),
            "samples ?status=unassigned": _walks(browser, "/samples/?status=unassigned", size),
            "samples ?source&domain": _walks(browser, f"/samples/?source={source}&domain=domain-5", size),
            "samples ?stage=review&source": _walks(browser, f"/samples/?stage=review&source={review_source}", size),
            # In this synthetic catalog no sample is both in review and Chinese: the keyset walk
            # reads the whole table to find that out (the worst case; see the README).
            "samples ?stage=review&language=zh (none)": _walks(browser, "/samples/?stage=review&language=zh", size),
            # The table's sorts (web/sample_browser.py): each an index walk with a composite cursor.
            "samples sort=-priority": _walks(browser, "/samples/?sort=-priority", size, id_cursors=False),
            "samples sort=state": _walks(browser, "/samples/?sort=state", size, id_cursors=False),
            "samples sort=source": _walks(browser, "/samples/?sort=source", size, id_cursors=False),
        }
        base_p99 = _percentiles(baseline)[2]
        print(f"   {'ms':40} {'p50':>8} {'p90':>8} {'p99':>8}  p99 / baseline p99")
        for name, timings in figures.items():
            p50, p90, p99 = _percentiles(timings)
            print(f"   {name:40} {p50:8.2f} {p90:8.2f} {p99:8.2f}  {p99 / base_p99:8.2f}x  (n={len(timings)})")
        print(f"   ({SAMPLES:,} samples, PostgreSQL; target: work page and next p99 <= {TARGET_MS} ms)")
