from pathlib import Path

from catalog import services
from catalog.ingest import import_run
from catalog.models import ImportJob


def run_import(
    format: str,
    path: Path | str,
    *,
    source: str = "test source",
    restricted: bool = False,
    license_text: str = "",
    **kwargs,
) -> ImportJob:
    source_row = services.source_for_import(name=source, restricted=restricted or None, license=license_text)
    job = services.import_job_create(
        format=format, path=str(path), source=source_row, created_by=None, restrict_to_import_roots=False
    )
    return import_run(job=job, **kwargs)


def outcomes(job: ImportJob) -> dict[str, tuple[str, str]]:
    """item -> (outcome, reason)"""
    return {row.item: (row.outcome, row.reason) for row in job.rows.all()}
