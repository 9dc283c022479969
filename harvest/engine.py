"""The one harvest engine: every source's live run and every load of saved files goes through here.

run_live    a source's plan -> requests through the polite client, each answer archived with its
            role and handed to the source's `ingest`, whose follow-up requests join the frontier;
            the client's own traffic (robots.txt, redirect hops, retried answers) is archived but
            never ingested; progress after every answer; the run row and the WARC file closed
            properly whatever happens
load_files  saved files (several, a folder's, a glob's) archived as WARC resource records with a
            role, then ingested exactly like an answer, in one run

`harvest.rebuild` replays the archives through the same `ingest`.
"""

from __future__ import annotations

import glob
from collections import deque
from pathlib import Path

from .http import Client, HttpError
from .runs import Run, recorded_run
from .sources import Request, Source, get


def _source(source: Source | str) -> Source:
    return get(source) if isinstance(source, str) else source


def run_live(db, archive_dir: Path, client: Client, source: Source | str, options: dict,
             progress=None) -> Run:
    """One live run of `source` with `options` (what its `start` reads); returns the finished Run.
    `progress(run)` is called after every answer."""
    source = _source(source)
    plan = source.start(db, options)
    with recorded_run(db, archive_dir, source.name, plan.parameters, plan.cursor) as (run, archive):
        for note in plan.notes:
            run.note(note)
        run.context.update(plan.state)
        for host, per_second in plan.rate_limits.items():
            client.default_rate_limit(host, per_second)
        for host in plan.api_hosts:
            client.treat_as_api(host)
        frontier, last = deque(plan.requests), deque()
        client.archive = archive
        try:
            while frontier or last:
                request = frontier.popleft() if frontier else last.popleft()
                for follow_up in _exchange(db, client, source, request, run):
                    (last if follow_up.last else frontier).append(follow_up)
                if progress:
                    progress(run)
            if source.after_run:
                source.after_run(db)
        finally:
            client.archive = None
    return run


def _exchange(db, client: Client, source: Source, request: Request, run: Run) -> list[Request]:
    try:
        archived = client.get(request.address, etag=request.etag,
                              last_modified=request.last_modified, role=request.archived_role).archived
    except HttpError as error:
        archived = error.archived
    return list(source.ingest(db, archived, run) or ())


def expand_paths(patterns, suffixes: tuple[str, ...] = (), kind: str = "") -> list[Path]:
    """Files named by `patterns`: a file, a folder (its files, sorted; only those whose names end
    with one of `suffixes`, when given) or a glob pattern. Raises FileNotFoundError naming a
    pattern that matches no file (and, for a folder, the `kind` of file looked for)."""
    paths: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                           and (not suffixes or p.name.endswith(suffixes)))
            if not found and suffixes:
                raise FileNotFoundError(f"{pattern}: no {kind or 'matching'} files ({', '.join('*' + s for s in suffixes)}) "
                                        "in this folder")
        elif path.is_file():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(str(pattern)) if Path(p).is_file())
        if not found:
            raise FileNotFoundError(f"{pattern}: no such file, folder or matching files")
        paths.extend(found)
    return paths


def load_files(db, archive_dir: Path, source: Source | str, paths, fmt: str | None = None,
               url: str | None = None, progress=None) -> Run:
    """Ingest saved files without the network, in one run. Each file is archived first as a
    resource record with the role of its format (`fmt`, or the source's first), so a rebuild
    replays it like any answer. `url` is the address the file came from, for formats that need
    one (one file only). Raises ValueError for an unknown format or a missing or shared `url`."""
    source = _source(source)
    paths = [Path(p) for p in paths]
    if not source.formats:
        raise ValueError(f"{source.name} does not load saved files")
    fmt = fmt or next(iter(source.formats))
    if fmt not in source.formats:
        raise ValueError(f"{source.name} cannot load --format {fmt}; it reads {', '.join(source.formats)}")
    kind = source.formats[fmt]
    if kind.needs_url and not url:
        raise ValueError(f"{source.name} --format {fmt} needs --url, the address the file came from")
    if url and len(paths) > 1:
        raise ValueError("--url names the address of one file; load the files one at a time")
    parameters = {"load": [p.name for p in paths], "format": fmt}
    with recorded_run(db, archive_dir, source.name, parameters) as (run, archive):
        for path in paths:
            uri = url or f"urn:harvest:file:{path.name}"
            body = path.read_bytes()
            content_type = "application/gzip" if body[:2] == b"\x1f\x8b" else kind.content_type
            archived = archive.write_resource(uri, content_type, body, role={"name": kind.role})
            source.ingest(db, archived, run)
            if progress:
                progress(run)
        if source.after_run:
            source.after_run(db)
    return run
