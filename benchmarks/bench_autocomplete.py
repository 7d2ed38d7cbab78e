"""Vocabulary term search (selectors.term_search) on the bundled vocabulary (~8,300 labels and
aliases): the autocomplete endpoint's server time (target < 20 ms), and the selector's own time
against the prefix-only search it replaced (a name starting with the query, no ranking), in the
same run. Queries: name starts, English word starts, Chinese and Japanese parts of compounds.
Runs on the configured database (DATABASE_URL=postgres://… for PostgreSQL).
"""

import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "vocabulary" / "data"
QUERIES = [
    *("s", "sc", "scr", "cr", "rust", "edge", "ab", "po", "wo", "mo", "de"),  # name and word starts
    *("steel", "crack", "scratch", "surface"),  # words inside compounds
    *("划", "裂", "傷", "ス", "左"),  # one character
    *("钢", "裂纹", "鋼", "亀裂", "クラック"),  # head nouns at the end of compounds
]
ROUNDS = 20


def _percentiles(times: list[float]) -> str:
    times = sorted(times)
    return f"p50 {times[len(times) // 2]:.1f} ms, p99 {times[int(len(times) * 0.99)]:.1f} ms"


def _timed(function) -> list[float]:
    times = []
    for _ in range(ROUNDS):
        for query in QUERIES:
            started = time.perf_counter()
            function(query)
            times.append((time.perf_counter() - started) * 1000)
    return times


def run() -> None:
    from benchmarks.django_env import benchmark_database

    with benchmark_database():
        from django.db import connection
        from django.test import Client
        from django.test.utils import setup_test_environment

        from accounts.models import User
        from vocabulary import selectors, services
        from vocabulary.formats import records_from_json
        from vocabulary.models import Term, TermName, TermStatus
        from vocabulary.text import fold

        setup_test_environment()
        records = []
        for path in sorted(DATA.glob("*.json")):
            records += records_from_json(path.read_text(encoding="utf-8"))
        services.vocabulary_load(records=records)
        if connection.vendor == "postgresql":
            # The statistics autovacuum keeps on a live database; without them the planner guesses
            # one matching name and walks the terms one by one (about twice as slow).
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE vocabulary_term, vocabulary_termname")
        user = User.objects.create_superuser("bench", "bench@example.com", "x")
        client = Client()
        client.force_login(user)

        def autocomplete(query):
            response = client.get("/api/vocabulary/autocomplete/", {"q": query, "limit": 10})
            assert response.status_code == 200

        def search(query):
            return list(selectors.term_search(query=query)[:10].values_list("id", flat=True))

        def prefix_only(query):  # the search before word starts and substrings
            matching = TermName.objects.filter(normalized__startswith=fold(query.strip())).values("term_id")
            terms = Term.objects.filter(status__in=(TermStatus.APPROVED,), id__in=matching)
            return list(terms.order_by("facet", "label_en")[:10].values_list("id", flat=True))

        autocomplete("s")  # session, caches
        found = sum(len(selectors.term_search(query=query)) for query in QUERIES)
        print(
            f"   {connection.vendor}: {TermName.objects.count()} names of {Term.objects.count()} terms, "
            f"{len(QUERIES)} queries finding {found} terms in all"
        )
        server = _timed(autocomplete)
        print(f"   autocomplete server time ({len(server)} requests): {_percentiles(server)}   (target < 20 ms)")
        # Alternating rounds, so that a change in the machine's load hits both alike.
        new, old = [], []
        for _ in range(3):
            new += _timed(search)
            old += _timed(prefix_only)
        ratio = sorted(new)[len(new) // 2] / sorted(old)[len(old) // 2]
        print(
            f"   term_search, first 10: {_percentiles(new)}; prefix-only search: {_percentiles(old)}; p50 ratio {ratio:.2f}"
        )
