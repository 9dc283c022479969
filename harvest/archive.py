"""The raw archive: one WARC file per run and source, holding every response and failure.

`harvest rebuild` replays these files, so the corpus can always be re-derived from the exact
bytes that were fetched, with no network. Each record names its role in WARC extension headers
(`WARC-Harvest-Role`, and what the request knew as JSON in `WARC-Harvest-Context`): a source's
role (`esearch`, `feed`, `page`, ...) or the client's own traffic (`robots`, `redirect`,
`retry`), which no source ingests. Archives written before roles have records without them.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from . import __version__

FAILURE_TYPE = "application/vnd.harvest.failure+json"
END_TYPE = "application/vnd.harvest.end+json"  # the last record of a closed file: how many came before
ROLE_HEADER = "WARC-Harvest-Role"  # why the record was fetched: a source's role, or the client's own
CONTEXT_HEADER = "WARC-Harvest-Context"  # what the request knew, as a JSON object
OWN_TRAFFIC = frozenset({"robots", "redirect", "retry"})  # the client's own records: never ingested
DROPPED_HEADERS = ("content-encoding", "transfer-encoding", "content-length")


@dataclass
class ArchivedRecord:
    """One record read back from the archive, with what a parser needs."""

    file: str
    record_id: str
    type: str  # response, resource, failure
    uri: str
    date: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    meta: dict | None = None  # warcinfo fields, or what a failure record says
    role: str | None = None  # None in archives written before records carried roles
    context: dict = field(default_factory=dict)


@dataclass
class RunInfo:
    run_id: str
    source: str
    started: str
    parameters: dict
    file: str


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class RunArchive:
    """Appends WARC records for one run; each record is its own gzip member, flushed at once,
    so a crash loses at most the record being written."""

    def __init__(self, directory: Path, source: str, run_id: str, parameters: dict,
                 started: datetime | None = None):
        started = started or utc_now()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{started:%Y%m%dT%H%M%S%f}Z-{source}-{run_id}.warc.gz"
        self._file = open(self.path, "ab")
        self._writer = WARCWriter(self._file, gzip=True)
        info = {"software": f"llm-mh-evidence harvest {__version__}",
                "run-id": run_id, "source": source, "started": iso(started),
                "parameters": json.dumps(parameters, sort_keys=True), "end-record": "yes"}
        self._records = 0
        self._write(self._writer.create_warcinfo_record(self.path.name, info))

    def _write(self, record) -> str:
        self._writer.write_record(record)
        self._file.flush()
        self._records += 1
        return record.rec_headers.get_header("WARC-Record-ID")

    def _archived(self, record_id: str, kind: str, uri: str, date: str, role: dict | None,
                  **rest) -> ArchivedRecord:
        name, context = _role_parts(role)
        return ArchivedRecord(file=self.path.name, record_id=record_id, type=kind, uri=uri, date=date,
                              role=name, context=context, **rest)

    def write_response(self, url: str, status: int, reason: str, headers: dict, body: bytes,
                       fetched_at: str, role: dict | None = None) -> ArchivedRecord:
        """Archive a response; the body is stored decoded, so encoding headers are dropped.
        `role` is `{"name": ..., **context}`: why it was fetched (see `role_headers`)."""
        http_headers = [(k, v) for k, v in headers.items() if k.lower() not in DROPPED_HEADERS]
        http_headers.append(("Content-Length", str(len(body))))
        status_line = f"{status} {reason}".strip()
        record = self._writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), length=len(body),
            warc_headers_dict={"WARC-Date": fetched_at, **role_headers(role)},
            http_headers=StatusAndHeaders(status_line, http_headers, protocol="HTTP/1.1"))
        return self._archived(self._write(record), "response", url, fetched_at, role, status=status,
                              headers={k.lower(): v for k, v in http_headers}, body=body)

    def write_failure(self, url: str, kind: str, message: str, at: str, status: int | None = None,
                      final: bool = True, role: dict | None = None) -> ArchivedRecord:
        meta = {"kind": kind, "message": message, "status": status, "final": final}
        payload = json.dumps(meta).encode()
        record = self._writer.create_warc_record(
            url, "metadata", payload=io.BytesIO(payload), length=len(payload),
            warc_content_type=FAILURE_TYPE, warc_headers_dict={"WARC-Date": at, **role_headers(role)})
        return self._archived(self._write(record), "failure", url, at, role, meta=meta)

    def write_resource(self, uri: str, content_type: str, body: bytes, role: dict | None = None) -> ArchivedRecord:
        """Archive bytes that did not come over HTTP (a loaded file, the seed list)."""
        at = iso(utc_now())
        record = self._writer.create_warc_record(
            uri, "resource", payload=io.BytesIO(body), length=len(body),
            warc_content_type=content_type, warc_headers_dict={"WARC-Date": at, **role_headers(role)})
        return self._archived(self._write(record), "resource", uri, at, role,
                              headers={"content-type": content_type}, body=body)

    def close(self) -> None:
        """Write the end record (so a reader can tell a whole file from one cut at a record's
        boundary) and close the file; closing twice does nothing."""
        if self._file.closed:
            return
        payload = json.dumps({"records": self._records}).encode()
        self._writer.write_record(self._writer.create_warc_record(
            f"urn:harvest:end:{self.path.name}", "metadata", payload=io.BytesIO(payload),
            length=len(payload), warc_content_type=END_TYPE, warc_headers_dict={"WARC-Date": iso(utc_now())}))
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _role_parts(role: dict | None) -> tuple[str | None, dict]:
    if not role:
        return None, {}
    context = {k: v for k, v in role.items() if k != "name"}
    return role["name"], json.loads(json.dumps(context))  # as it reads back from the archive


def role_headers(role: dict | None) -> dict[str, str]:
    """WARC header fields (extension fields, WARC 1.1 section 5) naming a record's role: its
    name in `WARC-Harvest-Role`, what the request knew as JSON in `WARC-Harvest-Context`."""
    name, context = _role_parts(role)
    if name is None:
        return {}
    headers = {ROLE_HEADER: name}
    if context:
        headers[CONTEXT_HEADER] = json.dumps(context, sort_keys=True, ensure_ascii=True)
    return headers


class ArchiveDamaged(Exception):
    """The end of an archive file is damaged (a crash mid-write); earlier records were read."""


def archive_files(directory: Path) -> list[Path]:
    """The run files in replay order (their names start with the run's start time)."""
    return sorted(Path(directory).glob("*.warc.gz"))


FILE_NAME = re.compile(r"(?P<started>\d{8}T\d{6})\d*Z-(?P<source>[a-z0-9_]+)-(?P<run_id>[0-9a-f]+)\.warc\.gz")


def read_run(path: Path) -> tuple[RunInfo | None, Iterator[ArchivedRecord]]:
    """The run's metadata and an iterator over its records. The iterator raises ArchiveDamaged
    at a damaged part after yielding every complete record before it. When the warcinfo record
    itself is damaged, the run is still named, from the file name, and its iterator raises at
    once; only a file that is no run of ours at all gives None."""
    path = Path(path)
    complete, damage = check_members(path)
    records = _iter_records(path, complete, damage)
    try:
        first = next(records, None)
    except ArchiveDamaged as error:
        return _named_by_file(path), _raising(error)
    if first is None or first.type != "warcinfo":
        named = _named_by_file(path)
        if named is None:
            return None, iter(())
        return named, _raising(ArchiveDamaged(damage or f"{path.name}: no warcinfo record at its start"))
    info = first.meta or {}
    run = RunInfo(run_id=info.get("run-id", ""), source=info.get("source", ""),
                  started=info.get("started", first.date),
                  parameters=json.loads(info.get("parameters") or "{}"), file=path.name)
    return run, records


def _named_by_file(path: Path) -> RunInfo | None:
    match = FILE_NAME.fullmatch(path.name)
    if not match:
        return None
    started = datetime.strptime(match["started"], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    return RunInfo(run_id=match["run_id"], source=match["source"], started=iso(started), parameters={},
                   file=path.name)


def _raising(error: Exception) -> Iterator[ArchivedRecord]:
    raise error
    yield  # a generator that raises when first asked


def check_members(path: Path) -> tuple[int, str | None]:
    """How many complete gzip members (one per record) the file holds, and what is wrong after
    them, if anything: a member cut short (a crash, a truncated copy) or bytes that are no gzip.
    warcio alone reads some cut files as complete files with fewer records."""
    complete, offset, decoder, started = 0, 0, None, 0
    with open(path, "rb") as stream:
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            while chunk:
                if decoder is None:
                    decoder, started = zlib.decompressobj(31), offset
                try:
                    decoder.decompress(chunk)
                except zlib.error as exc:
                    return complete, (f"{path.name}: damaged: record {complete + 1} (at byte {started}) "
                                      f"is not readable gzip ({exc}); {complete} complete record(s) before it")
                if decoder.eof:
                    complete += 1
                    rest = decoder.unused_data
                    offset += len(chunk) - len(rest)
                    decoder, chunk = None, rest
                else:
                    offset += len(chunk)
                    chunk = b""
    if decoder is not None:
        return complete, (f"{path.name}: damaged: record {complete + 1} (at byte {started}) is cut short; "
                          f"{complete} complete record(s) before it")
    return complete, None


def _iter_records(path: Path, complete: int, damage: str | None) -> Iterator[ArchivedRecord]:
    read, expects_end, ended = 0, False, False
    with open(path, "rb") as stream:
        try:
            for record in ArchiveIterator(stream, check_digests="raise"):
                if damage and read >= complete:
                    break
                if record.rec_headers.get_header("Content-Type") == END_TYPE:
                    said = json.loads(record.content_stream().read()).get("records")
                    if said != read:
                        raise ArchiveDamaged(f"{path.name}: damaged: its end record counts {said} records, "
                                             f"{read} were read")
                    ended = True
                    continue
                converted = _convert(record, path.name)
                if converted.type == "warcinfo" and read == 0:
                    expects_end = (converted.meta or {}).get("end-record") == "yes"
                if record.digest_checker.passed is not True:
                    raise ArchiveDamaged(f"{path.name}: damaged: record {converted.record_id} is cut short "
                                         f"({read} complete record(s) before it)")
                read += 1
                yield converted
        except ArchiveDamaged:
            raise
        except Exception as exc:  # any fault reading the file (warcio can fail in many ways) is damage
            raise ArchiveDamaged(damage or f"{path.name}: damaged after record {read} ({exc})") from exc
    if damage:
        raise ArchiveDamaged(damage)
    if expects_end and not ended:
        raise ArchiveDamaged(f"{path.name}: cut short: no end record after its {read} record(s) (the run "
                             "was killed, or the file lost its end)")
    if read + ended < complete:
        raise ArchiveDamaged(f"{path.name}: damaged: {complete} records stored, only {read} readable")


def _convert(record, file_name: str) -> ArchivedRecord:
    headers = record.rec_headers
    kind = record.rec_type
    body = record.content_stream().read()
    result = ArchivedRecord(file=file_name, record_id=headers.get_header("WARC-Record-ID"),
                            type=kind, uri=headers.get_header("WARC-Target-URI") or "",
                            date=headers.get_header("WARC-Date") or "",
                            role=headers.get_header(ROLE_HEADER),
                            context=json.loads(headers.get_header(CONTEXT_HEADER) or "{}"))
    if kind == "warcinfo":
        result.meta = dict(line.split(": ", 1) for line in body.decode().splitlines() if ": " in line)
    elif kind == "response":
        result.status = int(record.http_headers.get_statuscode())
        result.headers = {k.lower(): v for k, v in record.http_headers.headers}
        result.body = body
    elif kind == "metadata" and headers.get_header("Content-Type") == FAILURE_TYPE:
        result.type = "failure"
        result.meta = json.loads(body)
    else:
        result.headers = {"content-type": headers.get_header("Content-Type") or ""}
        result.body = body
    return result
