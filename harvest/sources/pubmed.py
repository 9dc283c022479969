"""PubMed through E-utilities: esearch (usehistory) over a date window, then efetch XML in batches.

start       the run's window (incremental: `resume_point`), its first esearch request, NCBI's rate
            limit (3 requests/s, 10 with an API key)
ingest      an esearch answer -> the efetch batches it calls for, or two half windows when it has
            more results than E-utilities pages through; an efetch batch (or a loaded efetch XML
            or MEDLINE file, or the kept records of a `harvest screen` output file) -> documents,
            identifiers, authors, MeSH, provenance
save_pubmed records -> documents, in one transaction per batch

Records are parsed by harvest/formats/pubmed.py. The API key is a request parameter only: it
never reaches the archive, the run row or a record's context.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Iterable
from urllib.parse import parse_qs, urlsplit

from ..db import transaction
from ..engine import load_files, run_live
from ..formats.pubmed import PubmedParseError, parse_esearch, parse_pubmed
from ..identifiers import identifier_url
from ..runs import Run, resume_point, settled
from ..store import DocumentRecord, Provenance, save_document
from . import LoadFormat, Plan, Request, Source

EUTILS = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
BATCH_SIZE = 200
MAX_RESULTS = 9999  # E-utilities pages through no more of one PubMed search
EARLIEST = "1900-01-01"
SOURCE = "pubmed"


def start(db, options: dict) -> Plan:
    """options: query, since, until (YYYY-MM-DD; default: where the last run ended, and today),
    start (a first run's since), api_key, contact, base (E-utilities address)."""
    query, base = options["query"], options.get("base") or EUTILS
    until = options.get("until") or date.today().isoformat()
    since = options.get("since") or resume_point(db, SOURCE, query) or options.get("start")
    common = {"db": "pubmed", "tool": "llm-mh-evidence"}
    contact, api_key = options.get("contact"), options.get("api_key")
    if contact and "@" in contact:
        common["email"] = contact
    if api_key:
        common["api_key"] = api_key
    parameters = {"query": query, "since": since, "until": until}
    window = (date.fromisoformat(since or EARLIEST), date.fromisoformat(until))
    eutils = {"base": base, "common": common, "query": query}
    host = urlsplit(base).hostname
    return Plan(parameters=parameters, requests=[_esearch(eutils, window)], cursor=cursor_for(parameters),
                rate_limits={host: 10.0 if api_key else 3.0},  # NCBI's published limits
                api_hosts=(host,),  # E-utilities' usage policy, not robots.txt, governs it
                state={"eutils": eutils})


def _esearch(eutils: dict, window: tuple[date, date]) -> Request:
    params = {**eutils["common"], "term": eutils["query"], "usehistory": "y", "retmax": 0, "datetype": "edat",
              "mindate": window[0].strftime("%Y/%m/%d"), "maxdate": window[1].strftime("%Y/%m/%d")}
    return Request(eutils["base"] + "esearch.fcgi", "esearch", params,
                   context={"window": [window[0].isoformat(), window[1].isoformat()]})


def split_window(window: tuple[date, date], count: int) -> tuple | None:
    """Two halves of a date window whose results E-utilities would not page through in full."""
    first, last = window
    if count <= MAX_RESULTS or first >= last:
        return None
    middle = first + (last - first) // 2
    return (first, middle), (middle + timedelta(days=1), last)


# -- save -----------------------------------------------------------------------------------

def to_document(record: dict) -> DocumentRecord:
    """A parsed PubMed record as the store's document."""
    identifiers = [("pmid", record["pmid"])]
    if record["doi"]:
        identifiers.append(("doi", record["doi"]))
    if record["pmcid"]:
        identifiers.append(("pmcid", record["pmcid"]))
    kind = "paper"
    # A dated chapter of a dated book is cited by the chapter's own date (a GeneReviews chapter
    # of 2006 in a book dated 1993-2025 is "2006"), the book's when the chapter has none.
    published = record.get("contribution_date") or record["published"]
    fields = {
        "kind": kind, "title": record["title"], "abstract": record["abstract"],
        "url": identifier_url("doi", record["doi"]) or identifier_url("pmid", record["pmid"]),
        "venue": record["journal"] or record["book_title"], "venue_abbrev": record["journal_abbrev"],
        "volume": record["volume"], "issue": record["issue"], "pages": record["pages"],
        "publisher": record["publisher"], "published": published, "year": int(published[:4]) if published else None,
        "language": record["language"], "publication_types": record["publication_types"],
        "keywords": record["keywords"], "retracted": record["retracted"],
    }
    return DocumentRecord(fields=fields, identifiers=identifiers, authors=record["authors"],
                          editors=record["editors"], mesh=record["mesh"])


def save_pubmed(db, records: Iterable[dict], provenance: Provenance, run: Run) -> None:
    """Save a batch of records in one transaction: all land, or (on error) none do."""
    with transaction(db):
        for record in records:
            source = Provenance(**{**provenance.__dict__, "source_id": record["pmid"],
                                   "url": identifier_url("pmid", record["pmid"])})
            _, action = save_document(db, to_document(record), source)
            run.count(action)


def ingest(db, archived, run: Run) -> list[Request]:
    """One archived esearch answer, efetch batch or loaded file into rows; the follow-up
    requests an esearch answer calls for (made only in a live run, which has `eutils` state)."""
    batch = archived.context.get("batch")
    label = f"efetch batch of records {batch[0] + 1}-{batch[0] + batch[1]}" if batch else None
    if settled(archived, run, lost=batch[1] if batch else 0, label=label):
        return []
    if archived.role == "esearch":
        return _searched(archived, run)
    if archived.role == "screened":
        return _screened(db, archived, run)
    if archived.role not in ("efetch", "records"):
        return []
    provenance = Provenance(source=SOURCE, source_id="", fetched_at=archived.date,
                            archive_file=archived.file, archive_record_id=archived.record_id)
    records: list[dict] = []
    name = f"{label} ({archived.uri})" if label else archived.uri
    try:
        for record in parse_pubmed(archived.body, name, on_error=lambda error: run.fail(str(error)),
                                   workers=None):
            records.append(record)
            if len(records) == BATCH_SIZE:
                _save_batch(db, records, provenance, run, archived)
                records = []
    except PubmedParseError as error:
        run.fail(str(error), n=batch[1] if batch else 1)
        return []
    if records:
        _save_batch(db, records, provenance, run, archived)
    return []


def _screened(db, archived, run: Run) -> list[Request]:
    """A loaded `harvest screen` output file: its kept records (harvest.screen.read_screened)."""
    from ..screen import read_screened
    provenance = Provenance(source=SOURCE, source_id="", fetched_at=archived.date,
                            archive_file=archived.file, archive_record_id=archived.record_id)
    records: list[dict] = []
    try:
        for record in read_screened(archived.body, archived.uri, on_error=run.fail):
            records.append(record)
            if len(records) == BATCH_SIZE:
                _save_batch(db, records, provenance, run, archived)
                records = []
    except ValueError as error:
        run.fail(str(error))
        return []
    if records:
        _save_batch(db, records, provenance, run, archived)
    return []


def _searched(archived, run: Run) -> list[Request]:
    try:
        result = parse_esearch(archived.body, archived.uri)
    except PubmedParseError as error:
        run.fail(str(error))
        return []
    window = tuple(date.fromisoformat(d) for d in archived.context["window"])
    halves = split_window(window, result.count)
    if not halves:
        run.count("found", result.count)  # a split window is counted by its halves
    eutils = run.context.get("eutils")
    if eutils is None:
        return []
    if halves:
        return [_esearch(eutils, half) for half in halves]
    return [Request(eutils["base"] + "efetch.fcgi", "efetch",
                    {**eutils["common"], "query_key": result.query_key, "WebEnv": result.webenv,
                     "retstart": first, "retmax": BATCH_SIZE, "retmode": "xml"},
                    context={"batch": [first, BATCH_SIZE]})
            for first in range(0, min(result.count, MAX_RESULTS), BATCH_SIZE)]


def _save_batch(db, batch, provenance, run, archived) -> None:
    if archived.type == "resource":
        run.count("found", len(batch))
    save_pubmed(db, batch, provenance, run)


def cursor_for(parameters: dict) -> dict | None:
    """Where the next incremental run starts: the end of this run's date window."""
    return {"until": parameters["until"]} if parameters.get("until") else None


def legacy_role(archived, run: Run) -> tuple[str, dict]:
    """The role of a record archived before roles were: read from its URL."""
    query = parse_qs(urlsplit(archived.uri).query)
    if "esearch.fcgi" in archived.uri:
        try:
            window = [datetime.strptime(query[k][0], "%Y/%m/%d").date().isoformat() for k in ("mindate", "maxdate")]
        except (KeyError, ValueError):
            window = [EARLIEST, EARLIEST]
        return "esearch", {"window": window}
    match = re.search(r"retstart=(\d+).*?retmax=(\d+)", archived.uri)
    if "efetch.fcgi" in archived.uri and match:
        return "efetch", {"batch": [int(match.group(1)), int(match.group(2))]}
    return ("records" if archived.type == "resource" else "other"), {}


SOURCE_SPEC = Source(name=SOURCE, start=start, ingest=ingest, legacy_role=legacy_role, cursor_for=cursor_for,
                     formats={"pubmed": LoadFormat("records", "application/xml"),
                              "screened": LoadFormat("screened", "application/x-ndjson", suffixes=(".screened.jsonl.gz",))})


def harvest_pubmed(db, archive_dir, client, query: str, since: str | None = None, until: str | None = None,
                   api_key: str | None = None, base: str = EUTILS, start: str | None = None, progress=None) -> Run:
    """One live PubMed run through the engine (for scripts and tests)."""
    options = {"query": query, "since": since, "until": until, "api_key": api_key, "base": base,
               "start": start, "contact": client.contact}
    return run_live(db, archive_dir, client, SOURCE_SPEC, options, progress)


def load_pubmed_file(db, archive_dir, path: Path) -> Run:
    """Ingest a saved efetch XML (or MEDLINE) file without the network."""
    return load_files(db, archive_dir, SOURCE_SPEC, [path])
