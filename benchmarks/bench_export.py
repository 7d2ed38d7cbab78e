"""WebDataset export throughput against bare `tarfile`, one worker against two, and the peak
memory of a shard task as the version grows.

BENCH_EXPORT_SAMPLES (default 100,000) verified samples are bulk-created (export_data.py: 128x128
JPEGs of about 5 KB, 70% with a defect region and its mask, captions in three languages, a QA
pair), a 10,000-sample version and a full version are cut through dataset_version_create, and:

1. baseline: the full version's shards are written again from memory with Python's tarfile
   (the same members, names and sizes, one file per shard), nothing else: no database, no
   reading, no hashing, no fsync;
2. one worker: a fresh process writes every shard of an export with `exports.shard_write`, the
   code the Celery task `releases.export_shard` runs (reading the database and the images,
   building the json and masks, hashing, fsync and the atomic rename included);
3. two workers: two such processes take shards from one queue, as two Celery workers would;
4. peak RSS of a process that runs one shard task of BENCH_EXPORT_SHARD_SAMPLES samples, at the
   10,000-sample version and at the full one;
5. schema 2 against schema 1: the one-worker export above with its finisher (README.md and
   croissant.json, manifest.json) against one worker writing the same version as schema 1 wrote it
   (export_v1.py: the writer of 445053e's parent on today's primitives, no Parquet index, its
   finisher writing manifest.json alone), in samples/s and CPU a sample; target >= 0.95x;
6. reading the 10,000-sample version's export (schema 2) back, every row decoded (image and mask
   to PIL images, json, captions): Hugging Face `datasets.load_dataset("webdataset",
   data_files=...)`, as an Arrow dataset (its cache written first) and streaming, beside
   `webdataset.WebDataset(tars).decode("pil")`: seconds to the first row and rows/s.

Worker processes are started and set up (Django, a connection, pyarrow's first table) before the
clock starts.
Files go to BENCH_EXPORT_DIR (default /dev/shm where there is one: creating 100,000 files on a
shared virtual disk can take minutes, and the figure is the export's work, not the disk's; the
baseline writes to the same place). Targets: one worker >= 1.0x the bare tar rate, two workers
>= 1.8x one, shard-task peak RSS flat from 10k to the full version, schema 2 >= 0.95x schema 1.
On a loaded machine the rates swing from round to round: the CPU a sample is the steadier figure.
"""

import io
import json
import multiprocessing
import os
import queue
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

SAMPLES = int(os.environ.get("BENCH_EXPORT_SAMPLES", "100000"))
SMALL = 10_000
SHARD_SAMPLES = int(os.environ.get("BENCH_EXPORT_SHARD_SAMPLES", "2000"))
ROUNDS = int(os.environ.get("BENCH_EXPORT_ROUNDS", "2"))
FILES_DIR = os.environ.get("BENCH_EXPORT_DIR") or ("/dev/shm" if os.path.isdir("/dev/shm") else None)


# -- what runs in the worker processes ------------------------------------------------------------


def _child(environment: dict, job: str, arguments: dict, started, results) -> None:
    """A fresh process: Django set up on the benchmark's database, then one job once `started`
    (a barrier) lets everybody go; puts a dict of figures on `results`."""
    os.environ.update(environment)
    import django

    django.setup()
    from django.db import connection

    connection.ensure_connection()
    # pyarrow imports pandas on its first table (326 modules, 0.35 s of CPU on a quiet machine):
    # a Celery worker pays that once, on its first shard, not on each. Paid here, off the clock.
    from releases.shard_index import ShardIndex

    ShardIndex("warm-up").parquet_bytes()
    rss_before = _current_rss_bytes()
    cpu_before = time.process_time()
    started.wait()
    began = time.monotonic()
    figures = JOBS[job](**arguments)
    ended = time.monotonic()
    figures.update(
        began=began,
        ended=ended,
        cpu_s=time.process_time() - cpu_before,
        rss_before=rss_before,
        peak_rss=_peak_rss_bytes(),
    )
    results.put(figures)


def _shards_from_queue(export_id: int, shards) -> dict:
    """Write shards until the queue is empty, as a worker takes tasks from its broker."""
    from releases import exports
    from releases.models import Export

    export = Export.objects.select_related("version").get(pk=export_id)
    samples = 0
    while (index := shards.get()) is not None:
        samples += exports.shard_write(export=export, index=index).samples
    return {"samples": samples}


def _v1_shards_from_queue(export_id: int, shards) -> dict:
    """The same, writing schema 1 (export_v1.py): the baseline of schema 2's card and index."""
    from benchmarks.export_v1 import v1_shard_write
    from releases.models import Export

    export = Export.objects.select_related("version").get(pk=export_id)
    samples = 0
    while (index := shards.get()) is not None:
        samples += v1_shard_write(export=export, index=index).samples
    return {"samples": samples}


def _one_shard(export_id: int, index: int) -> dict:
    from releases import exports
    from releases.models import Export

    export = Export.objects.select_related("version").get(pk=export_id)
    return {"samples": exports.shard_write(export=export, index=index).samples}


def _bare_tar(shard_paths: list[str], out: str) -> dict:
    """tarfile writing each shard's members again from memory; only the writing is timed."""
    from releases.shard_writer import FIXED_MTIME

    writing = writing_cpu = 0.0
    samples = 0
    for path in shard_paths:
        with tarfile.open(path) as shard:
            members = [(info.name, shard.extractfile(info).read()) for info in shard.getmembers()]
        samples += len({name.split(".", 1)[0] for name, _ in members})
        started, started_cpu = time.perf_counter(), time.process_time()
        with tarfile.open(Path(out) / Path(path).name, "w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = FIXED_MTIME
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
        writing += time.perf_counter() - started
        writing_cpu += time.process_time() - started_cpu
    return {"samples": samples, "writing_s": writing, "writing_cpu_s": writing_cpu}


JOBS = {
    "shards": _shards_from_queue,
    "v1_shards": _v1_shards_from_queue,
    "one_shard": _one_shard,
    "bare_tar": _bare_tar,
}


def _current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    """This process's own peak (VmHWM). Not getrusage's ru_maxrss: Linux carries that over from
    the forked parent through exec, so it would report the benchmark process's size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (the benchmark reads Linux's process status)")


# -- the parent -------------------------------------------------------------------------------


class Workers:
    """Starts processes on the benchmark's database and media, times what they do together."""

    def __init__(self, media: str):
        from django.db import connection

        database = connection.settings_dict
        if connection.vendor == "sqlite":
            url = f"sqlite:///{database['NAME']}"
        else:
            password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
            url = f"postgres://{database['USER']}{password}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        self.environment = {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": url,
            "MEDIA_ROOT": media,
        }
        self.context = multiprocessing.get_context("spawn")

    def run(self, job: str, arguments: list[dict]) -> dict:
        """Run `job` in len(arguments) processes at once; wall time from the common start to the
        last one's end, with each one's figures."""
        from django.db import connections

        connections.close_all()  # no transaction or lock of ours is held while they work
        started = self.context.Barrier(len(arguments) + 1)
        results = self.context.Queue()
        processes = [
            self.context.Process(target=_child, args=(self.environment, job, a, started, results)) for a in arguments
        ]
        for process in processes:
            process.start()
        started.wait(timeout=120)
        figures = [_result(results, processes, job) for _ in processes]
        for process in processes:
            process.join()
            if process.exitcode:
                raise RuntimeError(f"a {job} worker exited with status {process.exitcode}")
        wall = max(f["ended"] for f in figures) - min(f["began"] for f in figures)
        return {"wall_s": wall, "workers": figures, "samples": sum(f["samples"] for f in figures)}

    def export(self, export, count: int, job: str = "shards") -> dict:
        """Every shard of `export` by `count` workers sharing one queue of shard indexes."""
        shards = self.context.Queue()
        for index in export.shards.order_by("index").values_list("index", flat=True):
            shards.put(index)
        for _ in range(count):
            shards.put(None)
        return self.run(job, [{"export_id": export.pk, "shards": shards}] * count)


def _result(results, processes, job: str) -> dict:
    """The next worker's figures; a worker that died (its traceback is on stderr) ends the run at
    once instead of leaving the others waiting for figures that never come."""
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        try:
            return results.get(timeout=5)
        except queue.Empty:
            failed = [process.exitcode for process in processes if process.exitcode]
            if failed:
                for process in processes:
                    process.kill()
                raise RuntimeError(f"a {job} worker exited with status {failed[0]}") from None
    raise RuntimeError(f"no figures from a {job} worker within 30 minutes")


def _version(title: str):
    from releases.versions import dataset_version_create, dataset_version_publish

    started = time.perf_counter()
    version = dataset_version_publish(version=dataset_version_create(title=title, split_plan={"seed": 7}))
    print(f"   {version.name}: {version.sample_count:,} samples frozen in {time.perf_counter() - started:.1f} s")
    return version


def _export(version, target: Path):
    from releases import exports

    return exports.export_create(
        version=version, format="webdataset", target=str(target), shard_max_samples=SHARD_SAMPLES
    )


def _finish(export) -> list[str]:
    """The manifest (which checks every shard is committed); the shards' checksums, in order."""
    from base.jobs import JobStatus
    from releases import exports

    export = exports.export_finalize(export=export)
    if export.status != JobStatus.SUCCEEDED or export.samples_written != export.version.sample_count:
        raise RuntimeError(f"export {export.pk} incomplete: {export.status}, {export.samples_written} samples")
    return list(export.shards.order_by("index").values_list("sha256", flat=True))


def _shard_task_rss(workers: Workers, version, out: Path) -> tuple[int, int]:
    """(RSS after set-up, peak RSS) of a process running one full shard task of `version`."""
    export = _export(version, out / f"rss-{version.name}")
    full = export.shards.filter(samples=SHARD_SAMPLES).order_by("index").first()
    if full is None:
        raise RuntimeError(f"{version.name} has no shard of {SHARD_SAMPLES} samples")
    figures = workers.run("one_shard", [{"export_id": export.pk, "index": full.index}])["workers"][0]
    shutil.rmtree(out / f"rss-{version.name}")
    return figures["rss_before"], figures["peak_rss"]


def _v1_export(workers: Workers, version, out: Path) -> dict:
    """Schema 1 (export_v1.py) by one worker: its shards, then its finisher (manifest.json alone)."""
    from benchmarks.export_v1 import v1_finalize

    export = _export(version, out / "v1")
    written = workers.export(export, 1, job="v1_shards")
    started = time.perf_counter()
    export = v1_finalize(export=export)
    finish_s = time.perf_counter() - started
    if export.samples_written != version.sample_count:
        raise RuntimeError(f"schema-1 export {export.pk}: {export.samples_written} samples written")
    shutil.rmtree(out / "v1")
    return {
        "v1_rate": written["samples"] / (written["wall_s"] + finish_s),
        "v1_cpu_us": (written["workers"][0]["cpu_s"] + finish_s) / written["samples"] * 1e6,
        "v1_finish_s": finish_s,
    }


def _round(workers: Workers, version, out: Path, number: int) -> dict:
    """One worker exports the version (schema 2, then its card and manifest), bare tarfile writes
    its shards again, one worker writes it as schema 1 (first in every other round, so that a
    drift in the machine's speed favours neither), two workers export it."""
    v1 = _v1_export(workers, version, out) if number % 2 else None
    one_export = _export(version, out / "one")
    one = workers.export(one_export, 1)
    started = time.perf_counter()
    sha256s = _finish(one_export)
    finish_s = time.perf_counter() - started
    shard_paths = sorted(str(p) for p in (out / "one" / version.name).glob("*.tar"))
    (out / "bare").mkdir()
    bare = workers.run("bare_tar", [{"shard_paths": shard_paths, "out": str(out / "bare")}])
    shutil.rmtree(out / "bare")
    shutil.rmtree(out / "one")
    if v1 is None:
        v1 = _v1_export(workers, version, out)
    two_export = _export(version, out / "two")
    two = workers.export(two_export, 2)
    if _finish(two_export) != sha256s:
        raise RuntimeError("two workers wrote other bytes than one: the shards are not reproducible")
    shutil.rmtree(out / "two")
    bare_worker, one_worker = bare["workers"][0], one["workers"][0]
    return {
        "sha256s": sha256s,
        "shards": len(sha256s),
        "bare_rate": bare["samples"] / bare_worker["writing_s"],
        "bare_cpu_us": bare_worker["writing_cpu_s"] / bare["samples"] * 1e6,
        "one_rate": one["samples"] / one["wall_s"],
        "one_cpu_us": one_worker["cpu_s"] / one["samples"] * 1e6,
        "one_cores": one_worker["cpu_s"] / one["wall_s"],
        "one_peak_rss": one_worker["peak_rss"],
        "v2_rate": one["samples"] / (one["wall_s"] + finish_s),
        "v2_cpu_us": (one_worker["cpu_s"] + finish_s) / one["samples"] * 1e6,
        "v2_finish_s": finish_s,
        **v1,
        "two_rate": two["samples"] / two["wall_s"],
        "two_cores": sum(w["cpu_s"] for w in two["workers"]) / two["wall_s"],
    }


# -- reading an export: Hugging Face datasets beside webdataset --------------------------------------


def _export_files(workers: Workers, version, out: Path) -> dict[str, list[str]]:
    """A finished export of `version` (one worker): its tars, split by split, as the manifest lists them."""
    export = _export(version, out)
    workers.export(export, 1)
    _finish(export)
    folder = out / version.name
    files: dict[str, list[str]] = {}
    for shard in json.loads((folder / "manifest.json").read_bytes())["shards"]:
        files.setdefault(shard["split"], []).append(str(folder / shard["name"]))
    return files


def _hf_rows(files: dict[str, list[str]], cache: str, streaming: bool):
    """Every row of `load_dataset("webdataset", data_files=...)`, split after split. A generator: the
    loading (for the Arrow dataset: reading the tars and writing its cache) runs on the first row."""
    import datasets

    datasets.disable_progress_bars()  # a bar per split per read: pages of output, and webdataset draws none
    loaded = datasets.load_dataset("webdataset", data_files=files, cache_dir=cache, streaming=streaming)
    for split in files:
        yield from loaded[split]


def _wds_rows(files: dict[str, list[str]]):
    import webdataset

    yield from webdataset.WebDataset([path for paths in files.values() for path in paths], shardshuffle=False).decode(
        "pil"
    )


def _read(rows) -> dict:
    """Seconds to the first row, rows per second over the whole read (the first row's wait included).
    Every reader decodes the image and the mask to PIL images, the json to a dict, the captions to text."""
    started = time.perf_counter()
    first, count = None, 0
    for row in rows:
        if first is None:
            first = time.perf_counter() - started
            if not hasattr(row["mask.png"], "size"):
                raise RuntimeError(f"a reader gave mask.png undecoded: {type(row['mask.png'])}")
        count += 1
    return {"first_s": first, "rate": count / (time.perf_counter() - started), "rows": count}


def _readers(files: dict[str, list[str]], out: Path, samples: int) -> dict[str, dict]:
    """Each reader twice, in turns; the better of its two reads."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # nothing is downloaded: the builder is in the package
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    best: dict[str, dict] = {}
    for attempt in range(2):
        readers = {  # generators: nothing runs before the first row is asked for
            "webdataset": _wds_rows(files),
            "hf streaming": _hf_rows(files, str(out / f"hf-cache-s{attempt}"), True),
            "hf": _hf_rows(files, str(out / f"hf-cache-{attempt}"), False),  # a fresh cache each time
        }
        for name, rows in readers.items():
            figures = _read(rows)
            if figures["rows"] != samples:
                raise RuntimeError(f"{name} read {figures['rows']} rows of {samples}")
            if name not in best or figures["rate"] > best[name]["rate"]:
                best[name] = figures
    return best


def _each(rounds: list[dict], figure: str) -> str:
    return ", ".join(f"{r[figure]:,.0f}" for r in rounds)


def run() -> None:
    from benchmarks.django_env import benchmark_database

    with benchmark_database() as media, tempfile.TemporaryDirectory(prefix="imdd-bench-export-", dir=FILES_DIR) as tmp:
        from django.conf import settings
        from django.db import connection

        from benchmarks.export_data import VerifiedSamples

        # The catalog's files go where the exports go (see the docstring), not to the database's temp dir.
        settings.MEDIA_ROOT = media = str(Path(tmp) / "media")
        out = Path(tmp) / "out"
        print(f"   files under {tmp}, database {connection.vendor}, shards of {SHARD_SAMPLES:,} samples", flush=True)
        started = time.perf_counter()
        data = VerifiedSamples(media)
        data.grow_to(SMALL)
        print(f"   {SMALL:,} verified samples bulk-created in {time.perf_counter() - started:.0f} s", flush=True)
        small = _version("bench 10k")
        workers = Workers(media)
        rss_small = _shard_task_rss(workers, small, out)

        started = time.perf_counter()
        data.grow_to(SAMPLES)
        print(f"   {SAMPLES:,} verified samples bulk-created in {time.perf_counter() - started:.0f} s", flush=True)
        full = _version("bench full")
        rss_full = _shard_task_rss(workers, full, out)

        load_before = os.getloadavg()[0]
        rounds = [_round(workers, full, out / f"round-{number}", number) for number in range(ROUNDS)]
        load_after = os.getloadavg()[0]
        started = time.perf_counter()
        readers = _readers(_export_files(workers, small, out / "hf"), out, small.sample_count)
        readers_s = time.perf_counter() - started
        if len({tuple(r["sha256s"]) for r in rounds}) != 1:
            raise RuntimeError("exports of the same version wrote other bytes: the shards are not reproducible")

    # The best of the rounds for each figure: on a shared machine the others' load only slows a run down.
    print(
        f"   load average {load_before:.1f} before the rounds, {load_after:.1f} after (this box: {os.cpu_count()} cores)"
    )
    bare = max(rounds, key=lambda r: r["bare_rate"])
    one = max(rounds, key=lambda r: r["one_rate"])
    two = max(rounds, key=lambda r: r["two_rate"])
    print(
        f"   bare tarfile from memory     {bare['bare_rate']:8,.0f} samples/s"
        f"   ({bare['bare_cpu_us']:.0f} µs CPU a sample; best of {ROUNDS} rounds: "
        f"{_each(rounds, 'bare_rate')})"
    )
    print(
        f"   export, one worker           {one['one_rate']:8,.0f} samples/s   {one['one_rate'] / bare['bare_rate']:.2f}x"
        f" bare tar   (target >= 1.0; {one['one_cpu_us']:.0f} µs CPU a sample, {one['one_cores']:.2f} cores; "
        f"{_each(rounds, 'one_rate')})"
    )
    v2, v1 = max(rounds, key=lambda r: r["v2_rate"]), max(rounds, key=lambda r: r["v1_rate"])
    print(
        f"   schema 2 with Parquet index and card, one worker, finisher included   {v2['v2_rate']:8,.0f} samples/s   "
        f"{v2['v2_rate'] / v1['v1_rate']:.2f}x schema 1   (target >= 0.95; {v2['v2_cpu_us']:.0f} µs CPU a sample; "
        f"the card, croissant.json and manifest took {v2['v2_finish_s']:.2f} s; {_each(rounds, 'v2_rate')})"
    )
    print(
        f"   schema 1 as 445053e^ wrote it (benchmarks/export_v1.py)             {v1['v1_rate']:8,.0f} samples/s   "
        f"({v1['v1_cpu_us']:.0f} µs CPU a sample; its manifest: {v1['v1_finish_s']:.2f} s; {_each(rounds, 'v1_rate')})"
    )
    cpu_ratios = ", ".join(f"{r['v2_cpu_us'] / r['v1_cpu_us']:.2f}" for r in rounds)
    print(f"   CPU a sample, schema 2 / schema 1 (the steadier figure on a loaded machine), per round: {cpu_ratios}")
    print(
        f"   export, two workers          {two['two_rate']:8,.0f} samples/s   {two['two_rate'] / one['one_rate']:.2f}x"
        f" one worker   (target >= 1.8; they had {two['two_cores']:.2f} of {os.cpu_count()} cores; "
        f"{_each(rounds, 'two_rate')})"
    )
    print(
        f"   shard task of {SHARD_SAMPLES:,} samples, peak RSS: {rss_small[1] / 2**20:.0f} MiB at {SMALL:,}, "
        f"{rss_full[1] / 2**20:.0f} MiB at {SAMPLES:,}: {rss_full[1] / rss_small[1]:.2f}x (target flat; "
        f"{rss_small[0] / 2**20:.0f} / {rss_full[0] / 2**20:.0f} MiB before the task); "
        f"one worker after all {one['shards']} shards: {one['one_peak_rss'] / 2**20:.0f} MiB"
    )
    print(
        f"   reading a {small.sample_count:,}-sample export (schema 2), every row decoded, better of two reads "
        f"({readers_s:.0f} s in all):"
    )
    base = readers["webdataset"]["rate"]
    for name, label in (
        ("webdataset", "webdataset.WebDataset(tars).decode('pil')"),
        ("hf streaming", 'load_dataset("webdataset", data_files=..., streaming=True)'),
        ("hf", 'load_dataset("webdataset", data_files=...) (Arrow cache written first)'),
    ):
        figures = readers[name]
        print(
            f"   {label:72s} first row after {figures['first_s']:6.2f} s, {figures['rate']:7,.0f} rows/s"
            f"   ({figures['rate'] / base:.2f}x webdataset)"
        )
