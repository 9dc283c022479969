"""Screening large sets of PubMed files on Dask: parse, relevance and themes, one task per file.

screen_file    one PubMed baseline/update file (`.xml.gz`, `.xml`, or MEDLINE text) in this process:
               parse (harvest.formats.pubmed), tag (harvest.nlp.tagger), write its screened file
               and its completion note; what each Dask task runs, and the single-process reference
screen         many files as tasks on Dask distributed: a LocalCluster on this machine by default,
               or the cluster of a scheduler address (every worker must see the files and the
               output folder at the same paths, e.g. on a shared file system); resumable
read_screened  a screened file's kept records, for `harvest pubmed --load ... --format screened`

Output folder, for an input `pubmed25n0001.xml.gz`:

  pubmed25n0001.screened.jsonl.gz   JSON Lines (gzip, deterministic bytes), one line per record, in
                                    the input's order: {"pmid", "relevance", "relevance_reason",
                                    "study_design", "themes": [{"theme", "score", "source"}],
                                    "entities": [{"id", "mentions"}]}; a record whose relevance is
                                    kept (`keep`, default relevant and related) also carries
                                    "record", the parser's whole record dict, which the loader saves
  done/pubmed25n0001.json           the completion note, written last: input name and size, pipeline
                                    version, keep, limit, counts (records, kept, unusable, relevance,
                                    themes), the screened file's size and SHA-256, seconds (wall),
                                    cpu_seconds (of the worker process), worker
  manifest.json                     every file's note (or its error) and the totals, rewritten as
                                    files finish

A file counts as done when its note exists and matches its input's size, the pipeline version,
`keep` and `limit`, and the screened file has the size and SHA-256 the note gives; done files
are skipped, so a killed run loses nothing finished and the next run does the rest. A screened
file is written under a temporary name and renamed when complete. A malformed input file fails
alone with a clear message (nothing is written for it; the other files go on).
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import itertools
import json
import os
import queue
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

FORMAT = 1
KEEP = ("relevant", "related")
SUFFIXES = (".xml.gz", ".xml", ".nbib.gz", ".nbib", ".txt.gz", ".txt", ".gz")
OUTPUT_SUFFIX = ".screened.jsonl.gz"
DONE = "done"
MANIFEST = "manifest.json"
BATCH = 256  # records tagged together: one learned-layer batch (tagger.LEARNED_BATCH) per call
CONNECT_TIMEOUT = 30  # seconds to reach a --scheduler


class ScreenError(ValueError):
    """Screening cannot start: bad options or inputs whose outputs would collide."""


def input_files(patterns: Iterable[str | Path]) -> list[Path]:
    """The files named by `patterns`: a file, a glob pattern, or a folder, of which only PubMed
    XML files (`*.xml`, `*.xml.gz`) are taken, so NLM's `.md5` files beside them are left out.
    Raises FileNotFoundError naming a pattern that matches nothing."""
    from .engine import expand_paths
    return expand_paths(patterns, (".xml", ".xml.gz"), "PubMed XML")


def output_name(path: Path | str) -> str:
    """The stem every output of an input file is named by: its file name without the PubMed
    suffix (`pubmed25n0001.xml.gz` -> `pubmed25n0001`)."""
    name = Path(path).name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def screened_path(out_dir: Path, path: Path | str) -> Path:
    return Path(out_dir) / (output_name(path) + OUTPUT_SUFFIX)


def note_path(out_dir: Path, path: Path | str) -> Path:
    return Path(out_dir) / DONE / (output_name(path) + ".json")


# -- one file -----------------------------------------------------------------------------------

_idle: queue.SimpleQueue = queue.SimpleQueue()  # built pipelines not in use: one per concurrent task at most


def _build() -> tuple:
    """(spaCy pipeline, taxonomy, pipeline version), built from annotations/ (a second or more)."""
    from .nlp.corpus import pipeline_version
    from .nlp.learned import load_default
    from .nlp.pipeline import build_pipeline
    from .nlp.vocab import load_taxonomy
    load_default()  # the learned layer (and its embedding) is loaded once per process, here
    return build_pipeline(), load_taxonomy(), pipeline_version()


@contextmanager
def _tagging():
    """A built pipeline for this task alone (a spaCy pipeline is not shared between threads at
    once); it goes back to the idle ones afterwards, so each worker builds one per thread."""
    try:
        tagging = _idle.get_nowait()
    except queue.Empty:
        tagging = _build()
    try:
        yield tagging
    finally:
        _idle.put(tagging)


def _warm() -> None:
    """Run on every worker as it starts (Client.run): build its first pipeline before any task,
    so a file's time is the file's alone. A worker that joins later builds on its first task."""
    if _idle.empty():
        _idle.put(_build())


def current_version() -> str:
    """The tagger's pipeline version here (harvest.nlp.corpus.pipeline_version)."""
    from .nlp.corpus import pipeline_version
    return pipeline_version()


def screen_file(path: Path | str, out_dir: Path | str, version: str | None = None,
                keep: Iterable[str] = KEEP, limit: int | None = None) -> dict:
    """Screen one input file into `out_dir`; returns its completion note (see the module doc).

    Never raises for a fault of the input: a file that cannot be read or parsed returns
    {"input", "error"} and leaves no output. `version`: the pipeline version the run expects
    (a worker whose annotations or code differ refuses, naming both). `limit`: screen only the
    first `limit` records (a trial run or a test)."""
    path, out_dir, keep = Path(path), Path(out_dir), tuple(keep)
    started = (time.perf_counter(), time.process_time())
    with _tagging() as (nlp, taxonomy, here):
        return _screen_file(path, out_dir, version, keep, limit, nlp, taxonomy, here, started)


def _screen_file(path: Path, out_dir: Path, version, keep, limit, nlp, taxonomy, here, started) -> dict:
    from .formats.pubmed import PubmedParseError, parse_pubmed
    from .nlp.corpus import chunked
    from .nlp.tagger import TextInput, tag_documents
    if version and version != here:
        return {"input": path.name, "error": f"this worker's tagger is version {here}, the run's is {version}: "
                                            "give every worker the same code and annotations"}
    target = screened_path(out_dir, path)
    partial = target.with_name(target.name + f".part-{os.getpid()}-{threading.get_ident()}")
    counts = {"records": 0, "kept": 0, "unusable": 0, "relevance": {}, "themes": {}}
    problems: list[str] = []

    def unusable(error) -> None:
        counts["unusable"] += 1
        if len(problems) < 20:
            problems.append(str(error))

    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        size = path.stat().st_size
        with open(path, "rb") as stream, open(partial, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
            out = io.TextIOWrapper(zipped, encoding="utf-8", newline="\n")
            records = itertools.islice(parse_pubmed(stream, path.name, on_error=unusable, workers=1), limit)
            for batch in chunked(records, BATCH):
                inputs = [TextInput(id=r["pmid"], title=r["title"] or "", abstract=r["abstract"] or "",
                                    kind="paper", publication_types=list(r["publication_types"] or []))
                          for r in batch]
                for record, tags in zip(batch, tag_documents(nlp, taxonomy, inputs, batch_size=BATCH)):
                    out.write(json.dumps(_line(record, tags, keep), ensure_ascii=False, sort_keys=True) + "\n")
                    _count(counts, tags, record["pmid"] and tags["relevance"] in keep)
            out.flush()
            out.detach()
    except (PubmedParseError, OSError, EOFError) as error:
        partial.unlink(missing_ok=True)
        return {"input": path.name, "error": str(error) if str(path.name) in str(error) else f"{path.name}: {error}"}
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    note = {"format": FORMAT, "input": path.name, "input_bytes": size, "pipeline_version": here,
            "keep": list(keep), "limit": limit, **counts, "problems": problems,
            "output": target.name, "output_bytes": target.stat().st_size, "output_sha256": _sha256(target),
            "seconds": round(time.perf_counter() - started[0], 3),
            "cpu_seconds": round(time.process_time() - started[1], 3), "worker": f"{socket.gethostname()}:{os.getpid()}"}
    _write_json(note_path(out_dir, path), note)
    return note


def _line(record: dict, tags: dict, keep: tuple[str, ...]) -> dict:
    line = {"pmid": record["pmid"], "relevance": tags["relevance"], "relevance_reason": tags["relevance_reason"],
            "study_design": tags["study_design"],
            "themes": [{"theme": t["theme"], "score": t["score"], "source": t["source"]} for t in tags["themes"]],
            "entities": [{"id": e["id"], "mentions": e["mentions"]} for e in tags["entities"]]}
    if tags["relevance"] in keep:
        line["record"] = record
    return line


def _count(counts: dict, tags: dict, kept: bool) -> None:
    counts["records"] += 1
    counts["kept"] += bool(kept)
    counts["relevance"][tags["relevance"]] = counts["relevance"].get(tags["relevance"], 0) + 1
    for theme in tags["themes"]:
        counts["themes"][theme["theme"]] = counts["themes"].get(theme["theme"], 0) + 1


def _sha256(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _write_json(path: Path, value) -> None:
    """Write `value` as JSON, atomically (a temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def completed(path: Path | str, out_dir: Path | str, version: str, keep: Iterable[str] = KEEP,
              limit: int | None = None) -> dict | None:
    """The completion note of `path` in `out_dir` if its screening is done and still holds (same
    input size, pipeline version, keep and limit; the screened file whole); None otherwise."""
    path, out_dir = Path(path), Path(out_dir)
    try:
        note = json.loads(note_path(out_dir, path).read_text(encoding="utf-8"))
        target = screened_path(out_dir, path)
        if (note.get("format") != FORMAT or note.get("input_bytes") != path.stat().st_size
                or note.get("pipeline_version") != version or note.get("keep") != list(keep)
                or note.get("limit") != limit or note.get("output_bytes") != target.stat().st_size
                or note.get("output_sha256") != _sha256(target)):
            return None
    except (OSError, ValueError, AttributeError):
        return None
    return note


# -- many files on Dask ---------------------------------------------------------------------------

@dataclass
class ScreenSummary:
    """What a `screen` run did: per input file name, its completion note (`done`: this run,
    `skipped`: an earlier run's) or its error message (`failed`)."""

    out_dir: Path
    pipeline_version: str
    done: dict[str, dict] = field(default_factory=dict)
    skipped: dict[str, dict] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    workers: int = 0
    scheduler: str = ""
    startup_seconds: float = 0.0  # cluster started (or reached) and every worker's pipeline built
    _started: float = field(default_factory=time.perf_counter, repr=False)

    def totals(self) -> dict:
        """Records, kept, unusable, relevance {state: n} and themes {theme: n} over done and skipped files."""
        total = {"records": 0, "kept": 0, "unusable": 0, "relevance": {}, "themes": {}}
        for note in [*self.done.values(), *self.skipped.values()]:
            for key in ("records", "kept", "unusable"):
                total[key] += note.get(key, 0)
            for key in ("relevance", "themes"):
                for name, n in note.get(key, {}).items():
                    total[key][name] = total[key].get(name, 0) + n
        return total

    @property
    def status(self) -> str:
        """ok (every file screened), partial (some failed), failed (every file to do failed)."""
        if not self.failed:
            return "ok"
        return "failed" if not self.done and not self.skipped else "partial"


def screen(paths: Iterable[Path | str], out_dir: Path | str, scheduler: str | None = None,
           workers: int | None = None, keep: Iterable[str] = KEEP, limit: int | None = None,
           processes: bool = True, progress: Callable[[ScreenSummary, int], None] | None = None) -> ScreenSummary:
    """Screen every file of `paths` into `out_dir`, one Dask task per file; returns the summary.

    `scheduler`: a Dask scheduler address (`tcp://host:8786`) whose workers run the tasks; None
    starts a LocalCluster of `workers` worker processes (default: every core; never more than
    there are files to do), one thread each
    (`processes=False`: threads of this process, for tests). Files already done are skipped.
    `progress(summary, to_do)` is called as each file finishes. Raises ScreenError for an
    unknown `keep` state, a `limit` below 1, two inputs whose outputs would share a name,
    another run writing into `out_dir`, or a `scheduler` that cannot be reached."""
    from .nlp.tagger import RELEVANCE_STATES
    paths, out_dir, keep = [Path(p).resolve() for p in paths], Path(out_dir).resolve(), tuple(keep)
    unknown = [k for k in keep if k not in RELEVANCE_STATES]
    if unknown:
        raise ScreenError(f"--keep {','.join(unknown)}: the states are {', '.join(RELEVANCE_STATES)}")
    if limit is not None and limit < 1:
        raise ScreenError("--limit must be at least 1")
    names: dict[str, Path] = {}
    for path in paths:
        other = names.setdefault(output_name(path), path)
        if other != path:
            raise ScreenError(f"{other} and {path} would both be screened into {output_name(path)}{OUTPUT_SUFFIX}; "
                              "screen them into different output folders")
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    summary = ScreenSummary(out_dir=out_dir, pipeline_version=current_version())
    with _locked(out_dir):
        for leftover in out_dir.glob(f"*{OUTPUT_SUFFIX}.part-*"):
            leftover.unlink(missing_ok=True)  # a killed run's unfinished file
        todo = []
        for path in dict.fromkeys(paths):
            note = completed(path, out_dir, summary.pipeline_version, keep, limit)
            if note:
                summary.skipped[path.name] = note
            else:
                todo.append(path)
        if todo:
            _run_on_dask(todo, out_dir, summary, scheduler, workers, keep, limit, processes, progress)
        summary.seconds = round(time.perf_counter() - started, 3)
        write_manifest(summary, keep, limit)
    return summary


@contextmanager
def _locked(out_dir: Path):
    """One screening run at a time per output folder (an advisory lock on OUT/.lock)."""
    with open(out_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ScreenError(f"another `harvest screen` is writing into {out_dir}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_on_dask(todo: list[Path], out_dir: Path, summary: ScreenSummary, scheduler, workers, keep, limit,
                 processes: bool, progress) -> None:
    from distributed import Client, LocalCluster, as_completed
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as error:
            raise ScreenError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
        except ValueError as error:  # "missing port number in address", an unknown protocol
            raise ScreenError(f"--scheduler {scheduler!r} is not a scheduler address ({error}); "
                              "give it as tcp://HOST:PORT") from None
        summary.scheduler = scheduler
    else:
        workers = min(workers or os.cpu_count() or 1, len(todo))  # no idle workers for a few files
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
        summary.scheduler = f"LocalCluster of {workers} worker {'process' if processes else 'thread'}(es)"
    try:
        client.run(_warm)
        summary.startup_seconds = round(time.perf_counter() - summary._started, 3)
        summary.workers = len(client.scheduler_info().get("workers", {})) or (workers or 0)
        futures = {client.submit(screen_file, str(path), str(out_dir), summary.pipeline_version, keep, limit,
                                 pure=False): path for path in todo}
        for future in as_completed(futures):
            path = futures[future]
            try:
                note = future.result()
            except Exception as error:  # a worker lost, or a fault of ours: this file fails alone
                note = {"input": path.name, "error": f"{path.name}: {error.__class__.__name__}: {error}"}
            if "error" in note:
                summary.failed[path.name] = note["error"]
            else:
                summary.done[path.name] = note
            write_manifest(summary, keep, limit)
            if progress:
                progress(summary, len(todo))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def write_manifest(summary: ScreenSummary, keep, limit) -> Path:
    """manifest.json in the output folder: every file's note or error, and the totals."""
    files = {**summary.skipped, **summary.done, **{name: {"input": name, "error": error}
                                                  for name, error in summary.failed.items()}}
    path = summary.out_dir / MANIFEST
    _write_json(path, {"format": FORMAT, "pipeline_version": summary.pipeline_version, "keep": list(keep),
                       "limit": limit, "status": summary.status, "totals": summary.totals(),
                       "files": dict(sorted(files.items()))})
    return path


def report(summary: ScreenSummary) -> list[str]:
    """The one-screen summary of a run, as lines."""
    total = summary.totals()
    seconds = summary.seconds or 0.0
    screened_now = sum(n.get("records", 0) for n in summary.done.values())
    cpu = sum(n.get("cpu_seconds", 0.0) for n in summary.done.values())
    rate = (f"; {screened_now / seconds:,.0f} records/s in all, {screened_now / cpu:,.0f} per worker CPU-second"
            if seconds and cpu and screened_now else "")
    lines = [f"screen: {summary.status}: {len(summary.done)} file(s) screened, {len(summary.skipped)} already done, "
             f"{len(summary.failed)} failed, in {seconds:,.1f} s on {summary.scheduler or 'no workers'}"
             f" (started in {summary.startup_seconds:,.1f} s){rate}",
             f"  records {total['records']:,}, kept {total['kept']:,}, unusable {total['unusable']:,}; "
             + ", ".join(f"{state} {n:,}" for state, n in sorted(total["relevance"].items())),
             "  themes: " + (", ".join(f"{t} {n:,}" for t, n in sorted(total["themes"].items(), key=lambda x: -x[1]))
                             or "none"),
             f"  output: {summary.out_dir} (manifest.json; pipeline {summary.pipeline_version})"]
    if summary.failed:
        lines.append(f"  {len(summary.failed)} file(s) failed (nothing written for them; run again to retry):")
        lines += [f"    - {error}" for error in list(summary.failed.values())[:10]]
        if len(summary.failed) > 10:
            lines.append(f"    ... and {len(summary.failed) - 10} more in manifest.json")
    if total["kept"]:
        lines.append(f"  load the kept records: harvest pubmed DATABASE --load '{summary.out_dir}/*{OUTPUT_SUFFIX}' "
                     "--format screened")
    return lines


# -- loading ------------------------------------------------------------------------------------

def read_screened(body: bytes, name: str = "input", on_error: Callable[[str], None] | None = None) -> Iterator[dict]:
    """The kept records (parser record dicts, with a PMID) of a screened file's bytes (gzipped
    or not), in order. A line that is not a JSON object, or whose record has no PMID, is handed
    to `on_error` with its line number and skipped. Raises ValueError when the bytes are not a
    screened file at all (damaged gzip, not JSON Lines)."""
    from .formats import json_objects
    from .formats.pubmed import RECORD_FIELDS
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as error:
            raise ValueError(f"{name}: damaged gzip data: {error}") from None
    lines = body.decode("utf-8", errors="replace").splitlines()
    first = next((line for line in lines if line.strip()), "")
    if not first.lstrip().startswith("{") or '"pmid"' not in first:
        raise ValueError(f"{name}: not a screened file (`harvest screen` output, JSON Lines with a pmid per line)")
    for number, row, problem in json_objects(lines):
        if problem:
            if on_error:
                on_error(f"{name} line {number}: {problem}; skipped")
            continue
        record = row.get("record")
        if record is None:
            continue
        missing = [f for f in RECORD_FIELDS if f not in record] if isinstance(record, dict) else ["all"]
        if missing or not record.get("pmid"):
            if on_error:
                on_error(f"{name} line {number}: the kept record has no PMID or lacks fields "
                         f"({', '.join(missing[:5]) or 'pmid'}); skipped")
            continue
        yield record
