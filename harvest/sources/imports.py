"""`harvest import`: the reference libraries users already hold, as corpus documents.

A registered source (`import`) that is only ever loaded, never fetched: `load_import` hands each
file to `harvest.engine.load_files`, which archives it whole as a WARC resource record with the
role `citations` (so `harvest rebuild` replays it through the same `ingest`), one run per file.
`ingest` parses it with `harvest.formats.citations` (BibTeX, RIS, CSL-JSON/YAML, identifier
lists) or `harvest.formats.pubmed` (MEDLINE/.nbib, PubMed XML), and saves every entry through
`store.save_document`, so the corpus's identity rules decide: a DOI, PMID, PMC id or arXiv id
already in the corpus is the same work. Provenance is the source "import" with the source id
`<file name>#<entry key>`; importing the same file again changes nothing.

Each entry's outcome is one of `new`, `merged` (joined a document already in the corpus),
`unchanged` (this file's entry was imported before), `updated` (it was, and has changed) or
`refused` (with the reason); `Run.context["outcomes"]` lists them as `Outcome`s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..db import transaction
from ..engine import load_files
from ..formats import pubmed
from ..identifiers import identifier_url
from ..formats.citations import CitationParseError, identifiers_of, parse_citations
from ..runs import Run
from ..store import DocumentRecord, Provenance, current_id, resolve, save_document
from . import LoadFormat, Plan, Source
from .pubmed import to_document as pubmed_document

SOURCE = "import"
ROLE = "citations"
# --format names (what the content type of the archived record says); the parser tells the
# formats apart by their content, so the name only chooses the content type archived
FORMATS = {"citations": "text/plain", "bibtex": "application/x-bibtex", "ris": "application/x-research-info-systems",
           "csl-json": "application/vnd.citationstyles.csl+json", "csl-yaml": "application/yaml",
           "pubmed": "application/xml", "medline": "application/x-medline"}
SUFFIXES = {".bib": "bibtex", ".ris": "ris", ".json": "csl-json", ".yaml": "csl-yaml", ".yml": "csl-yaml",
            ".xml": "pubmed", ".nbib": "medline", ".txt": "citations"}


@dataclass
class Outcome:
    entry: str
    outcome: str  # new | merged | updated | unchanged | refused
    document_id: str | None = None
    reason: str | None = None


def title_key(title: str, year: int | None) -> str:
    """The identity of a work known by nothing but its title and year: lower-cased words."""
    words = re.findall(r"[^\W_]+", title.lower())
    return " ".join(words) + (f"|{year}" if year else "")


def to_document(item: dict) -> DocumentRecord:
    """A citation item as the store's document. A work with no DOI, PMID, PMC id, arXiv id or
    URL is identified by its title and year (identifier scheme `title`)."""
    identifiers = identifiers_of(item)
    if not identifiers:
        identifiers = [("title", title_key(item["title"], item["year"]))]
    url = item["url"] or next((identifier_url(scheme, item[scheme]) for scheme in ("doi", "arxiv", "pmid")
                               if item[scheme]), None)
    fields = {"kind": item["kind"], "title": item["title"], "venue": item["venue"],
              "published": item["published"], "year": item["year"], "volume": item["volume"],
              "issue": item["issue"], "pages": item["pages"], "publisher": item["publisher"],
              "url": url, "keywords": item["keywords"]}
    if item.get("abstract"):  # a list's abstract fills the document's; none leaves what a harvest found
        fields["abstract"] = item["abstract"]
    return DocumentRecord(fields=fields, identifiers=identifiers, authors=item["authors"])


def save_entry(db, record: DocumentRecord, entry: str, provenance: Provenance, run: Run,
               where: str | None = None) -> Outcome:
    """Save one entry (its key in the file: `entry`; named for people: `where`) and say what
    became of it."""
    where = where or entry
    before = [current_id(db, d) for d in resolve(db, record.identifiers)]
    source_id = f"{Path(provenance.source_id).name}#{entry}"
    seen_here = before and db.execute(
        "SELECT 1 FROM document_sources WHERE source = ? AND source_id = ?", [SOURCE, source_id]).fetchone()
    document_id, action = save_document(db, record, Provenance(**{
        **provenance.__dict__, "source_id": source_id, "url": record.fields.get("url")}))
    run.count(action)
    if action == "added":
        return Outcome(where, "new", document_id)
    if seen_here and len(set(before)) == 1:
        return Outcome(where, action, document_id)
    matched = [f"{s}:{v}" for s, v in record.identifiers
               if db.execute("SELECT 1 FROM identifiers WHERE scheme = ? AND value = ?", [s, v]).fetchone()]
    reason = f"same work as {before[0]} ({', '.join(matched[:3])})"
    if len(set(before)) > 1:
        reason += f"; joined {len(set(before))} documents the entry shows to be one"
    return Outcome(where, "merged", document_id, reason)


def ingest(db, archived, run: Run) -> list:
    """One archived citation file into documents (shared by `harvest import` and rebuild); a
    file asks for nothing more."""
    if archived.type != "resource":
        return []
    name = archived.uri.rsplit(":", 1)[-1]
    outcomes: list[Outcome] = run.context.setdefault("outcomes", [])
    provenance = Provenance(source=SOURCE, source_id=name, fetched_at=archived.date,
                            archive_file=archived.file, archive_record_id=archived.record_id)
    try:
        parsed = parse_citations(archived.body, name)
    except CitationParseError as error:
        run.fail(str(error))
        return []
    if parsed.format == "pubmed":
        _ingest_pubmed(db, archived.body, name, provenance, run, outcomes)
        return []
    run.count("found", len(parsed.items) + len(parsed.refused))
    with transaction(db):
        for item in parsed.items:
            record = to_document(item)
            outcomes.append(save_entry(db, record, item["entry"] or record.identifiers[0][1], provenance, run,
                                       where=item["where"]))
    for refused in parsed.refused:
        outcomes.append(Outcome(refused.entry, "refused", reason=refused.reason))
        run.fail(f"{refused.entry}: refused: {refused.reason}")
    return []


def _ingest_pubmed(db, body: bytes, name: str, provenance: Provenance, run: Run, outcomes) -> None:
    def refuse(error):
        outcomes.append(Outcome(name, "refused", reason=str(error)))
        run.fail(f"refused: {error}")

    try:
        records = list(pubmed.parse_pubmed(body, name, on_error=refuse))
    except pubmed.PubmedParseError as error:
        refuse(error)
        return
    run.count("found", len(records))
    with transaction(db):
        for record in records:
            outcomes.append(save_entry(db, pubmed_document(record), f"PMID {record['pmid']}", provenance, run,
                                       where=f"{name} PMID {record['pmid']}"))


def start(db, options: dict) -> Plan:
    """Imports are files the user holds, never fetched: `harvest import` loads them."""
    raise ValueError("imports are loaded from files, not harvested: use `harvest import`")


def legacy_role(archived, run: Run) -> tuple[str, dict]:
    return ROLE, {}


SOURCE_SPEC = Source(name=SOURCE, start=start, ingest=ingest, legacy_role=legacy_role,
                     formats={name: LoadFormat(ROLE, kind) for name, kind in FORMATS.items()})


def load_import(db, archive_dir: Path, path: Path, fmt: str | None = None, progress=None) -> Run:
    """`harvest import` of one file, through the engine: archive it, then save its entries.
    `fmt` (a key of FORMATS) defaults to the one its suffix names."""
    return load_files(db, archive_dir, SOURCE_SPEC, [path], fmt or SUFFIXES.get(Path(path).suffix.lower(), "citations"),
                      progress=progress)


def summary_lines(run: Run, name: str, limit: int = 20) -> list[str]:
    """What became of the file's entries, for the terminal."""
    outcomes = run.context.get("outcomes", [])
    counts = {k: sum(o.outcome == k for o in outcomes) for k in ("new", "merged", "updated", "unchanged", "refused")}
    lines = [f"{name}: " + ", ".join(f"{n} {k}" for k, n in counts.items())]
    shown = [o for o in outcomes if o.outcome in ("merged", "refused")]
    for o in shown[:limit]:
        lines.append(f"  {o.outcome}: {o.entry}" + (f" -> {o.document_id}" if o.document_id else "")
                     + (f": {o.reason}" if o.reason else ""))
    if len(shown) > limit:
        lines.append(f"  ... and {len(shown) - limit} more")
    return lines
