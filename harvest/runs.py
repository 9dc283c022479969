"""Harvest run bookkeeping: one `harvest_runs` row per run, with counts, cursor and errors."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import logging.handlers
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from .archive import RunArchive, iso, new_run_id, utc_now

EXIT_CODES = {"ok": 0, "partial": 3, "failed": 1}


@dataclass
class Run:
    db: sqlite_utils.Database
    run_id: str
    source: str
    parameters: dict
    started: str
    archive_file: str | None = None
    counts: dict = field(default_factory=lambda: {"found": 0, "added": 0, "updated": 0,
                                                  "unchanged": 0, "failed": 0})
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cursor: dict | None = None
    context: dict = field(default_factory=dict)  # what earlier records of the run tell later ones

    def start(self) -> "Run":
        self.db["harvest_runs"].insert({
            "id": self.run_id, "source": self.source, "started": self.started, "status": "running",
            "parameters": json.dumps(self.parameters, sort_keys=True),
            "archive_file": self.archive_file}, replace=True)
        return self

    def count(self, action: str, n: int = 1) -> None:
        self.counts[action] += n

    def fail(self, message: str, n: int = 1) -> None:
        """Record a failure (n items lost from this run); the run goes on."""
        self.errors.append(message)
        self.counts["failed"] += n

    def note(self, message: str) -> None:
        """Record an outcome worth knowing that is not a failure (a DOI Crossref does not know)."""
        self.notes.append(message)

    @property
    def status(self) -> str:
        if not self.errors:
            return "ok"
        succeeded = self.counts["added"] + self.counts["updated"] + self.counts["unchanged"]
        return "partial" if succeeded else "failed"

    def finish(self, finished: str | None = None) -> str:
        self.db["harvest_runs"].update(self.run_id, {
            **self.counts, "status": self.status, "finished": finished or iso(utc_now()),
            "cursor": json.dumps(self.cursor, sort_keys=True) if self.cursor else None,
            "error": "\n".join(self.errors) or None, "notes": "\n".join(self.notes) or None})
        return self.status


class HarvestBusy(RuntimeError):
    """Another harvest holds the database's lock."""


LOCK_FD_ENV = "HARVEST_LOCK_FD"  # a nightly run hands its held lock to the harvests it starts
LOG_MAX_BYTES, LOG_BACKUPS = 5 * 1024 * 1024, 5


def log_file_handler(archive_dir: Path) -> logging.Handler:
    """`archive/harvest.log`, rotated at 5 MiB with five old files kept (harvest.log.1 ... .5)."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(archive_dir / "harvest.log", maxBytes=LOG_MAX_BYTES,
                                                   backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    return handler


def _inherited_lock(lock_path: Path):
    """The lock file descriptor a parent nightly run passed down, when it is this database's."""
    fd = os.environ.get(LOCK_FD_ENV)
    if not fd or not fd.isdigit() or not lock_path.exists():
        return None
    try:
        held, wanted = os.fstat(int(fd)), lock_path.stat()
    except OSError:
        return None
    return int(fd) if (held.st_dev, held.st_ino) == (wanted.st_dev, wanted.st_ino) else None


@contextmanager
def harvest_lock(db_path: Path):
    """One harvest at a time per database: an advisory lock (flock) on a file beside it, which
    the kernel releases when the holding process ends, however it ends, so a crash never leaves
    a stale lock behind and runs still marked 'running' while we hold it are known to be dead.
    A harvest started by a nightly run shares the nightly's lock (its descriptor is inherited)."""
    lock_path = Path(f"{db_path}.lock")
    inherited = _inherited_lock(lock_path)
    if inherited is not None:
        fcntl.flock(inherited, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the same open file: already ours
        yield
        return
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "?"
            raise HarvestBusy(f"another harvest (pid {pid}) is writing {db_path}, so this one stops "
                              f"without touching it. The lock is released by the system the moment that "
                              f"process ends, even if it crashes, so there is nothing to delete: wait for it "
                              f"(`ps -p {pid}` shows it) and run this again") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def mark_interrupted(db: sqlite_utils.Database) -> int:
    """Runs left 'running' by a crash are marked 'interrupted' so nobody mistakes them for live.
    Call only while holding `harvest_lock`."""
    cursor = db.execute("UPDATE harvest_runs SET status = 'interrupted' WHERE status = 'running'")
    return cursor.rowcount


def settled(archived, run: Run, lost: int = 0, label: str | None = None) -> bool:
    """True when an archived record holds nothing to parse: a failure (recorded on the run when
    it was final, as `lost` items named by `label`) or an HTTP error response, whose failure
    record follows it. Every source's `ingest` starts here."""
    if archived.type == "failure":
        if archived.meta.get("final"):
            message = archived.meta.get("message")
            run.fail(f"{label}: {message}" if label else message, n=lost)
        return True
    return archived.type == "response" and archived.status != 200


def resume_point(db: sqlite_utils.Database, source: str, query: str) -> str | None:
    """Where an incremental run of `query` starts: the end of the last successful run, or the
    start of any later run that did not succeed, whichever is earlier, so nothing is skipped.
    None means from the very beginning."""
    pending: list[str | None] = []
    # `started` has whole seconds; runs in one second keep their order by insertion (rowid)
    for row in db.execute("SELECT parameters, cursor, status FROM harvest_runs WHERE source = ? "
                          "ORDER BY started DESC, rowid DESC", [source]):
        parameters = json.loads(row[0] or "{}")
        if parameters.get("query") != query:
            continue
        if row[2] == "ok" and row[1]:
            pending.append(json.loads(row[1]).get("until"))
            break
        pending.append(parameters.get("since"))
    if not pending or None in pending:
        return None
    return min(pending)


@contextmanager
def recorded_run(db: sqlite_utils.Database, archive_dir: Path, source: str, parameters: dict,
                 cursor: dict | None = None):
    """A run with its WARC file and its `harvest_runs` row, closed properly whatever happens:
    an exception is recorded as the run's last error before it propagates."""
    run_id, started = new_run_id(), utc_now()
    archive = RunArchive(archive_dir, source, run_id, parameters, started)
    run = Run(db, run_id, source, parameters, iso(started), archive.path.name, cursor=cursor).start()
    try:
        yield run, archive
    except BaseException as exc:
        run.fail(f"run stopped: {exc.__class__.__name__}: {exc}", n=0)
        run.finish()
        raise
    else:
        run.finish()
    finally:
        archive.close()


# -- change markers: what a derivation (tag, incidents, graph) was last computed from ----------

def change_counters(db: sqlite_utils.Database) -> dict[str, int]:
    """{documents, links, vocabulary, incidents} -> the counters the triggers of migration 11 move on
    every write to what they name (harvest.db.DERIVE_COLUMNS, COUNTED_TABLES). Four rows: O(1)."""
    return {name: value for name, value in db.execute("SELECT name, value FROM derive_counters")}


def files_digest(*paths: Path) -> str:
    """sha256 (16 hex digits) over the named files' names and bytes; an absent file counts as absent."""
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"(absent)")
    return digest.hexdigest()[:16]


def read_marker(db: sqlite_utils.Database, step: str) -> dict | None:
    """The inputs `step` was last computed from (a dict), or None when it never was."""
    row = db.execute("SELECT inputs FROM derive_markers WHERE step = ?", [step]).fetchone()
    return json.loads(row[0]) if row else None


def save_marker(db: sqlite_utils.Database, step: str, inputs: dict) -> None:
    """Record what `step` was computed from; call inside the transaction that wrote its results."""
    db.execute("INSERT INTO derive_markers (step, inputs, computed) VALUES (?, ?, ?) ON CONFLICT(step) "
               "DO UPDATE SET inputs = excluded.inputs, computed = excluded.computed",
               [step, json.dumps(inputs, sort_keys=True), iso(utc_now())])
