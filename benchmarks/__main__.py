"""`make bench`: every benchmark measures its baseline in the same run and prints the ratio.

python -m benchmarks            # all
python -m benchmarks import     # one, by name
"""

import importlib
import sys
import time

BENCHMARKS = {
    "import": "benchmarks.bench_import",
    "workflow": "benchmarks.bench_workflow",
    "normalizer": "benchmarks.bench_normalizer",
    "vocabulary": "benchmarks.bench_vocabulary",
    "autocomplete": "benchmarks.bench_autocomplete",
    "training": "benchmarks.bench_training",
    "defect-gen": "benchmarks.bench_defect_gen",
    "clicks": "benchmarks.bench_clicks",
    "export": "benchmarks.bench_export",
    "pages": "benchmarks.bench_pages",
    "hostile": "benchmarks.bench_hostile",
    "grounding": "benchmarks.bench_grounding",
    "preannotate": "benchmarks.bench_preannotate",
    "curation": "benchmarks.bench_curation",
    "gpu": "benchmarks.gpu",
}


def main(names: list[str]) -> None:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    for name in names or list(BENCHMARKS):
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        importlib.import_module(BENCHMARKS[name]).run()
        print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
