"""Claim-next and list latency at BENCH_WORKFLOW_SAMPLES (default 1,000,000) samples against the
same at 10,000, on PostgreSQL (the queue relies on FOR UPDATE SKIP LOCKED and partial indexes).

"claim next" times the service as the view calls it (the permission check has loaded the
person's permissions); "via API" is the whole POST through DRF, serializing the claimed sample.
Rows are bulk-created in SQL (INSERT ... SELECT generate_series): 70% of the annotations wait in
the annotation queue, 20% in the review queue (each with its stage-1 claim), 10% are verified;
1 in 1,000 is gold and a third have a priority. Each claim is by a different person, so no
claim finds the one it holds. Lists are read through the DRF views (test client), following
`next` from the first page and jumping to a cursor half-way down. Last, verified samples with
three revisions are deleted one by one (the database follows every pointer into the annotation
table: each must be an index probe, not a read of the table).
Targets: claim p99 <= 10 ms, list page p99 <= 50 ms, both within 1.5x of 10,000.
"""

import base64
import gc
import os
import time

SAMPLES = int(os.environ.get("BENCH_WORKFLOW_SAMPLES", "1000000"))
BASELINE = 10_000
CLAIMS = 300  # per figure and size
WARM_UP = 10  # untimed claims before each figure
PAGES_PER_WALK = 8
PAGE_SIZE = 50
DELETES = 30
SOURCES = 20
DOMAINS = 10


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p90, p99 in milliseconds."""
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] * 1000

    return at(0.5), at(0.9), at(0.99)


def _insert_select(cursor, model, columns: dict[str, str], source_sql: str) -> None:
    """INSERT INTO model's table (columns...) SELECT <expressions> <source_sql>; any other column
    gets its field default, so that a field added to the model later does not break the benchmark."""
    names, expressions, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.attname in columns:
            names.append(field.column)
            expressions.append(columns[field.attname].replace("%", "%%"))  # % is the modulo, not a parameter
        elif not field.primary_key:
            default = field.get_default()  # "" for a text field without a default
            if default is None and not field.null:
                raise RuntimeError(f"{model.__name__}.{field.name} needs a value in the benchmark")
            names.append(field.column)
            expressions.append("%s")
            params.append(field.get_db_prep_save(default, cursor.db))
    table = model._meta.db_table
    source_sql = source_sql.replace("%", "%%")
    cursor.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(expressions)} {source_sql}", params)


def _fill(cursor, *, up_to: int, annotator_ids: list[int]) -> None:
    """Grow the catalog and the workflow to `up_to` samples, all in SQL."""
    from annotation.models import Annotation, StageClaim
    from catalog.models import Sample

    cursor.execute("SELECT coalesce(max(id), 0) FROM catalog_sample")
    last_id = cursor.fetchone()[0]
    cursor.execute("SELECT min(id) FROM catalog_source")
    first_source = cursor.fetchone()[0]
    _insert_select(
        cursor,
        Sample,
        {
            "source_id": f"{first_source} + (i % {SOURCES})",
            "external_id": "'bench/' || i || '.png'",
            "original": "'originals/' || md5(i::text) || '.png'",
            "asset": "'assets/' || md5(i::text) || '.jpg'",
            "thumbnail": "'thumbnails/' || md5(i::text) || '.jpg'",
            "sha256": "md5(i::text) || md5('x' || i::text)",
            "phash": "substr(md5('p' || i::text), 1, 16)",
            "width": "512",
            "height": "512",
            "original_format": "'PNG'",
            "domain": f"'domain-' || (i % {DOMAINS})",
            "product": "'product-' || (i % 50)",
            "source_text_language": "CASE WHEN i % 5 = 0 THEN 'zh' ELSE '' END",
            "created_at": "now()",
        },
        # from the highest id, not the count: the delete figure removes samples from the middle
        f"FROM generate_series({last_id + 1}, {up_to}) AS i",
    )
    annotators = "ARRAY[" + ",".join(str(i) for i in annotator_ids) + "]"
    _insert_select(
        cursor,
        Annotation,
        {
            "sample_id": "id",
            "source_id": "source_id",
            "domain": "domain",
            "language": "source_text_language",
            "state": "CASE WHEN id % 10 < 7 THEN 'unassigned' WHEN id % 10 < 9 THEN 'submitted' ELSE 'verified' END",
            "queue": "CASE WHEN id % 10 < 7 THEN 'annotation' WHEN id % 10 < 9 THEN 'review' ELSE '' END",
            "priority": "CASE WHEN id % 3 = 0 THEN id % 4 ELSE 0 END",
            "is_gold": "id % 1000 = 0",
            "annotator_id": f"CASE WHEN id % 10 < 7 THEN NULL ELSE ({annotators})[1 + id % {len(annotator_ids)}] END",
            "created_at": "now()",
            "updated_at": "now()",
        },
        f"FROM catalog_sample WHERE id > {last_id}",
    )
    _insert_select(
        cursor,
        StageClaim,
        {
            "annotation_id": "sample_id",
            "user_id": "annotator_id",
            "stage": "'annotation'",
            "claimed_at": "now()",
            "ended_at": "now()",
            "outcome": "'done'",
        },
        f"FROM annotation_annotation WHERE sample_id > {last_id} AND annotator_id IS NOT NULL",
    )
    for table in ("catalog_sample", "annotation_annotation", "annotation_stageclaim"):
        cursor.execute(f"VACUUM ANALYZE {table}")
    cursor.execute("CHECKPOINT")  # the bulk load's dirty pages are written now, not while we measure


def _users(role, count: int, prefix: str):
    from django.contrib.auth.models import Group

    from accounts.models import User

    users = User.objects.bulk_create(User(username=f"{prefix}{i}", password="!") for i in range(count))
    Group.objects.get(name=role).user_set.add(*users)
    return list(User.objects.filter(pk__in=[u.pk for u in users]).order_by("pk"))


def _time_claims(users, stage: str, filters=None) -> list[float]:
    from annotation.queue import annotation_claim_next

    for user in users[:WARM_UP]:
        annotation_claim_next(user=user, stage=stage, filters=filters)
    gc.collect()
    timings = []
    for user in users[WARM_UP:]:
        user.has_perm("annotation.view_annotation")  # as the view's permission check leaves it
        started = time.perf_counter()
        claimed = annotation_claim_next(user=user, stage=stage, filters=filters)
        timings.append(time.perf_counter() - started)
        assert claimed is not None, f"the {stage} queue ran dry"
    return timings


def _time_open_pool_step(users, stage: str) -> dict[str, list[float]]:
    """The claim's open-pool step alone (nothing is claimed: each read is rolled back), with the
    candidate queryset built and compiled by Django per call against the query compiled once
    (base/compiled_queries.py), alternating per person."""
    from django.db import transaction

    from annotation import queue

    filters = queue.QueueFilters()
    ways = {
        "open-pool step, built per call": lambda user: queue._open_pool(
            queue.claim_candidates_for(user, stage=stage, filters=filters)
        ).first(),
        "open-pool step, compiled once": lambda user: queue._first_in_open_pool(
            user=user, stage=stage, filters=filters
        ),
    }
    timings: dict[str, list[float]] = {name: [] for name in ways}
    gc.collect()
    for number, user in enumerate(users):
        user.has_perm("annotation.view_annotation")
        for name, way in sorted(ways.items(), reverse=number % 2 == 1):
            with transaction.atomic():
                started = time.perf_counter()
                found = way(user)
                timings[name].append(time.perf_counter() - started)
                transaction.set_rollback(True)
            assert found is not None, f"the {stage} queue ran dry"
    return timings


def _time_api_claims(users, stage: str) -> list[float]:
    from rest_framework.test import APIClient

    gc.collect()
    timings = []
    for user in users:
        client = APIClient()
        client.force_authenticate(user)
        started = time.perf_counter()
        response = client.post(f"/api/annotation/queue/{stage}/claim-next/", {}, format="json")
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content
    return timings


def _time_pages(client, first_url: str, size: int) -> list[float]:
    """Walks of up to PAGES_PER_WALK pages following `next`: from the first page, and from
    cursors a fifth, two fifths and three fifths of the way down. Only full pages are timed: a
    short last page is cheaper and would flatter the small dataset."""
    timings = []
    separator = "&" if "?" in first_url else "?"
    starts = [first_url] + [
        f"{first_url}{separator}cursor={base64.b64encode(f'p={size - size * fifths // 5}'.encode()).decode()}"
        for fifths in (1, 2, 3)
    ]
    gc.collect()
    for _round in range(4):
        for url in starts:
            for _ in range(PAGES_PER_WALK):
                started = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, response.content
                page = response.json()
                if len(page["results"]) == PAGE_SIZE:
                    timings.append(elapsed)
                url = page["next"]
                if url is None:
                    break
    return timings


def _time_deletes(size: int) -> list[float]:
    """Deleting one verified sample with three revisions (each stage's result pointing at one),
    DELETES times, samples from the middle of the catalog."""
    from django.db import connection, transaction

    from catalog.models import Sample

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sample_id FROM annotation_annotation WHERE state = 'verified' AND sample_id > %s"
            " ORDER BY sample_id LIMIT %s",
            [size // 2, DELETES],
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "INSERT INTO annotation_annotationrevision (annotation_id, number, stage, notes, created_at)"
            " SELECT sample_id, n, 'annotation', '', now() FROM annotation_annotation, generate_series(1, 3) AS n"
            " WHERE sample_id = ANY(%s)",
            [ids],
        )
        cursor.execute(
            "UPDATE annotation_annotation a SET current_revision_id = r.id, submitted_revision_id = r.id,"
            " reviewed_revision_id = r.id, final_revision_id = r.id FROM annotation_annotationrevision r"
            " WHERE r.annotation_id = a.sample_id AND r.number = 3 AND a.sample_id = ANY(%s)",
            [ids],
        )
    gc.collect()
    timings = []
    for sample_id in ids:
        started = time.perf_counter()
        with transaction.atomic():  # the foreign-key checks run at commit
            Sample.objects.filter(pk=sample_id).delete()
        timings.append(time.perf_counter() - started)
    return timings


def _measure(size: int, annotators, reviewers, reader) -> dict[str, list[float]]:
    """annotators: 4 x CLAIMS people who hold nothing yet; reviewers: CLAIMS."""
    from annotation.queue import QueueFilters
    from catalog.models import Source

    source = Source.objects.order_by("id")[3].pk
    groups = [annotators[i * CLAIMS : (i + 1) * CLAIMS] for i in range(4)]
    figures = {
        "claim next (annotation)": _time_claims(groups[0], "annotation"),
        "claim next, domain filter": _time_claims(groups[1], "annotation", QueueFilters(domain="domain-3")),
        "claim next, source filter": _time_claims(groups[2], "annotation", QueueFilters(source=source)),
        "claim next (review)": _time_claims(reviewers, "review"),
        **_time_open_pool_step(reviewers, "review"),
        "claim next via API": _time_api_claims(groups[3], "annotation"),
    }
    # Lists read a source and domain the claims above left alone (sample i: source i % 20, domain i % 10).
    listed = Source.objects.order_by("id")[5].pk
    figures["samples list ?source&domain"] = _time_pages(
        reader, f"/api/samples/?source={listed}&domain=domain-5&page_size={PAGE_SIZE}", size
    )
    figures["annotations list ?state&source"] = _time_pages(
        reader, f"/api/annotation/annotations/?state=unassigned&source={listed}&page_size={PAGE_SIZE}", size
    )
    figures["delete an annotated sample"] = _time_deletes(size)
    return figures


def run() -> None:
    if "postgres" not in os.environ.get("DATABASE_URL", ""):
        print("   skipped: needs PostgreSQL (set DATABASE_URL=postgres://...); the queue relies on SKIP LOCKED")
        return
    from benchmarks.django_env import benchmark_database

    with benchmark_database():
        from django.conf import settings
        from django.db import connection
        from rest_framework.test import APIClient

        from accounts.roles import Role
        from catalog.models import Source

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test client's host
        Source.objects.bulk_create(Source(name=f"bench source {i}") for i in range(SOURCES))
        annotators = _users(Role.ANNOTATOR, 2 * 4 * CLAIMS, "annotator")
        reviewers = _users(Role.REVIEWER, 2 * CLAIMS, "reviewer")
        stage1_people = [u.pk for u in _users(Role.ANNOTATOR, 50, "stage1-")]
        reader = APIClient()
        reader.force_authenticate(_users(Role.ANNOTATOR, 1, "reader")[0])

        results = {}
        for round_number, size in enumerate((BASELINE, SAMPLES)):
            started = time.perf_counter()
            with connection.cursor() as cursor:
                _fill(cursor, up_to=size, annotator_ids=stage1_people)
            print(f"   {size:>9,} samples: bulk-created in {time.perf_counter() - started:.0f} s", flush=True)
            fresh_annotators = annotators[round_number * 4 * CLAIMS : (round_number + 1) * 4 * CLAIMS]
            fresh_reviewers = reviewers[round_number * CLAIMS : (round_number + 1) * CLAIMS]
            results[size] = _measure(size, fresh_annotators, fresh_reviewers, reader)

        header = ("p50", "p90", "p99")
        print(
            f"   {'ms':31} "
            + " ".join(f"{'10k ' + h:>8}" for h in header)
            + " "
            + " ".join(f"{'big ' + h:>8}" for h in header)
            + "  p50 ratio  p99 ratio"
        )
        for name in results[BASELINE]:
            small = _percentiles(results[BASELINE][name])
            big = _percentiles(results[SAMPLES][name])
            figures = " ".join(f"{v:8.2f}" for v in small + big)
            print(f"   {name:31} {figures}  {big[0] / small[0]:8.2f}x {big[2] / small[2]:9.2f}x")
        print(f"   (ms; big = {SAMPLES:,} samples; targets: claim p99 <= 10 ms, list page p99 <= 50 ms, ratio <= 1.5x)")
