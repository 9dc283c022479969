"""Re-derive the corpus from the WARC archive, with no network.

Each archive file is one run; replaying the files in order through each source's `ingest`
(the very function the live harvest uses), then its `after_run` if it has one (news groups wire
copies after every run), gives the same rows again.
"""

from __future__ import annotations

from pathlib import Path

from . import arxiv, crossref, europepmc, guidance, jmir, legislation, news, pubmed, seed
from .archive import ArchiveDamaged, archive_files, read_run
from .runs import Run

SOURCES = {module.SOURCE: module for module in (pubmed, seed, arxiv, crossref, europepmc, jmir, news, guidance, legislation)}


def rebuild(db, archive_dir: Path, progress=None) -> list[Run]:
    """Replay every run in `archive_dir` into `db` (an empty, migrated database). A damaged file
    is replayed up to its damage; its run is marked failed or partial with the damage as an
    error, and `run.context["damaged"]` holds the message (the CLI prints it)."""
    runs = []
    for path in archive_files(archive_dir):
        info, records = read_run(path)
        if info is None or info.source not in SOURCES:
            continue
        source = SOURCES[info.source]
        cursor_for = getattr(source, "cursor_for", None)
        run = Run(db, info.run_id, info.source, info.parameters, info.started, info.file,
                  cursor=cursor_for(info.parameters) if cursor_for else None).start()
        try:
            for record in records:
                source.ingest(db, record, run)
        except ArchiveDamaged as damage:
            run.fail(str(damage), n=0)
            run.context["damaged"] = str(damage)
        if hasattr(source, "after_run"):
            source.after_run(db)
        run.finish()
        runs.append(run)
        if progress:
            progress(run)
    return runs
