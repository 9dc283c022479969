"""Crossref: DOI metadata, reference lists, licences, funders, retractions and updates.

start            api.crossref.org/works/{doi} for the corpus's DOIs, politely (mailto, 2/s)
parse_crossref   JSON bytes (a work, a work list, or an error) -> CrossrefResponse
save_crossref    fills documents, marks retractions, records references (citations when they
                 resolve to the corpus)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from ..dates import iso_date
from ..db import transaction
from ..engine import load_files, run_live
from ..identifiers import identifier_url, normalise_doi
from ..limits import load_json
from ..runs import Run, settled
from ..store import (DocumentRecord, Provenance, find_document, link_documents, save_document,
                    save_references)
from ..text import plain
from . import LoadFormat, Plan, Request, Source

API = "https://api.crossref.org/"
SOURCE = "crossref"
KINDS = {"journal-article": "paper", "proceedings-article": "paper", "book-chapter": "paper",
         "posted-content": "preprint", "report": "report", "book": "report", "monograph": "report"}
RETRACTION_TYPES = {"retraction", "removal", "withdrawal"}
NOT_IN_CROSSREF = ("10.48550/",)  # arXiv's DataCite DOIs
LINKED_RELATIONS = {"is-preprint-of": "published-as", "has-preprint": "has-preprint",
                    "is-version-of": "version-of", "has-version": "has-version"}


class CrossrefParseError(ValueError):
    """Not a Crossref API response; the message says where."""


@dataclass
class CrossrefResponse:
    kind: str  # work, work-list, error
    works: list[dict] = field(default_factory=list)
    total: int = 0
    error: str | None = None


def parse_crossref(data: bytes, name: str = "input") -> CrossrefResponse:
    try:
        payload = load_json(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CrossrefParseError(f"{name}: not JSON: {exc}") from exc
    if not isinstance(payload, dict) or "message-type" not in payload:
        raise CrossrefParseError(f"{name}: not a Crossref API response (no message-type)")
    message = payload.get("message")
    if payload.get("status") != "ok":
        problems = message if isinstance(message, list) else [message]
        text = "; ".join(f"{p.get('type')}: {p.get('message')}" if isinstance(p, dict) else str(p)
                         for p in problems)
        return CrossrefResponse(kind="error", error=f"{name}: Crossref says {text}")
    if payload["message-type"] == "work":
        return CrossrefResponse(kind="work", works=[parse_work(message)], total=1)
    if payload["message-type"] == "work-list":
        return CrossrefResponse(kind="work-list", works=[parse_work(w) for w in message.get("items", [])],
                                total=int(message.get("total-results") or 0))
    return CrossrefResponse(kind=payload["message-type"])


def _text(value) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if not value:
        return None
    return plain(value) or None


def _date(work: dict) -> str | None:
    """The first plausible publication date of the work's own (Crossref's `issued` of year 0, or
    a 31st of February, is no date: harvest.dates). `created` (when the DOI was deposited) is not
    a publication date: a work with none has no date (APA's n.d.)."""
    for key in ("published", "published-print", "published-online", "issued", "posted"):
        parts = (work.get(key) or {}).get("date-parts") or [[]]
        parts = [p for p in parts[0] if p is not None] if parts and isinstance(parts[0], list) else []
        found = iso_date(*parts[:3]) if parts else None
        if found:
            return found
    return None


def parse_work(work: dict) -> dict:
    """One Crossref work as a record."""
    published = _date(work)
    authors = []
    for person in work.get("author") or []:
        orcid = person.get("ORCID")
        authors.append({
            "last_name": _text(person.get("family")), "fore_name": _text(person.get("given")),
            "initials": None, "suffix": _text(person.get("suffix")), "collective_name": _text(person.get("name")),
            "orcid": re.sub(r"^https?://orcid\.org/", "", orcid) if orcid else None,
            "affiliations": [a for a in (_text(x.get("name")) for x in person.get("affiliation") or []) if a]})
    references = []
    for reference in work.get("reference") or []:
        year = str(reference.get("year") or "")[:4]
        references.append({"doi": normalise_doi(reference.get("DOI")), "key": reference.get("key"),
                           "title": _text(reference.get("article-title") or reference.get("unstructured")),
                           "year": year if year.isdigit() else None})
    return {
        "doi": normalise_doi(work.get("DOI")),
        "type": work.get("type"),
        "title": _text(work.get("title")),
        "subtitle": _text(work.get("subtitle")),
        "container_title": _text(work.get("container-title")),
        "publisher": _text(work.get("publisher")),
        "authors": authors,
        "published": published,
        "year": int(published[:4]) if published else None,
        "volume": _text(work.get("volume")), "issue": _text(work.get("issue")),
        "pages": _text(work.get("page")),
        "license": next((lic.get("URL") for lic in work.get("license") or [] if lic.get("URL")), None),
        "funders": [f["name"] for f in work.get("funder") or [] if f.get("name")],
        "reference_count": work.get("reference-count", work.get("references-count")),
        "references": references,
        "update_to": [{"doi": normalise_doi(u.get("DOI")), "type": u.get("type")} for u in work.get("update-to") or []],
        "updated_by": [{"doi": normalise_doi(u.get("DOI")), "type": u.get("type")} for u in work.get("updated-by") or []],
        "relation": {kind: [normalise_doi(r.get("id")) or r.get("id") for r in rels]
                     for kind, rels in (work.get("relation") or {}).items()},
    }


# -- fetch ----------------------------------------------------------------------------------

def dois_to_look_up(db, everything: bool = False) -> list[str]:
    """The corpus's DOIs, less those Crossref has already answered for (unless `everything`)."""
    rows = db.execute("SELECT i.value FROM identifiers i WHERE i.scheme = 'doi' ORDER BY i.value").fetchall()
    done = set() if everything else {r[0] for r in db.execute(
        "SELECT source_id FROM document_sources WHERE source = ?", [SOURCE])}
    return [doi for (doi,) in rows if doi not in done and not doi.startswith(NOT_IN_CROSSREF)]


def start(db, options: dict) -> Plan:
    """options: all (ask again for every DOI), dois (ask for these DOIs only, as `harvest resolve`
    does), contact (Crossref's polite pool), base."""
    everything, base, contact = bool(options.get("all")), options.get("base") or API, options.get("contact")
    chosen = options.get("dois")
    dois = dois_to_look_up(db, everything) if chosen is None else [
        d for d in chosen if not d.startswith(NOT_IN_CROSSREF)]
    params = {"mailto": contact} if contact and "@" in contact else None
    host = urlsplit(base).hostname
    return Plan(parameters={"dois": len(dois), "all": everything, **({"chosen": True} if chosen is not None else {})},
                requests=[Request(f"{base}works/{quote(doi, safe='/')}", "work", params) for doi in dois],
                rate_limits={host: 2.0},  # well inside Crossref's public limits
                api_hosts=(host,))


# -- save -----------------------------------------------------------------------------------

def to_document(work: dict) -> DocumentRecord:
    fields = {"kind": KINDS.get(work["type"] or "", "paper"), "title": work["title"],
              "venue": work["container_title"], "publisher": work["publisher"],
              "published": work["published"], "year": work["year"], "volume": work["volume"],
              "issue": work["issue"], "pages": work["pages"], "licence": work["license"],
              "url": identifier_url("doi", work["doi"]),
              "retracted": any(u["type"] in RETRACTION_TYPES for u in work["updated_by"])}
    return DocumentRecord(fields=fields, identifiers=[("doi", work["doi"])], authors=work["authors"])


def save_crossref(db, works: list[dict], provenance: Provenance, run: Run) -> None:
    """Metadata into documents (the written rules in store decide which source wins), then
    references and retraction notices."""
    with transaction(db):
        for work in works:
            if not work["doi"]:
                run.fail("a Crossref work without a DOI", n=1)
                continue
            source = Provenance(**{**provenance.__dict__, "source_id": work["doi"],
                                   "url": identifier_url("doi", work["doi"])})
            document_id, action = save_document(db, to_document(work), source)
            run.count(action)
            save_references(db, document_id, work["references"], SOURCE)
            for relation, targets in work["relation"].items():
                if relation in LINKED_RELATIONS:
                    for target in targets:
                        if target and target.startswith("10."):
                            link_documents(db, document_id, LINKED_RELATIONS[relation], target, SOURCE)
            for update in work["update_to"]:
                if update["type"] in RETRACTION_TYPES and update["doi"]:
                    _mark_retracted(db, update["doi"])


def _mark_retracted(db, doi: str) -> None:
    document_id = find_document(db, "doi", doi)
    if document_id:
        db.execute("UPDATE documents SET retracted = 1 WHERE id = ?", [document_id])


def ingest(db, archived, run: Run) -> list:
    """One archived Crossref response into rows; shared by harvest and rebuild. A work asks
    for nothing more."""
    if archived.type == "failure" and archived.meta.get("final") and archived.meta.get("status") == 404:
        run.note(f"{archived.uri}: Crossref does not know this DOI (404)")
        return []
    if settled(archived, run, lost=1):
        return []
    try:
        response = parse_crossref(archived.body, archived.uri)
    except CrossrefParseError as error:
        run.fail(str(error))
        return []
    if response.error:
        run.fail(response.error)
        return []
    run.count("found", len(response.works))
    provenance = Provenance(source=SOURCE, source_id="", fetched_at=archived.date,
                            archive_file=archived.file, archive_record_id=archived.record_id)
    save_crossref(db, response.works, provenance, run)
    return []


def legacy_role(archived, run: Run) -> tuple[str, dict]:
    return "work", {}


SOURCE_SPEC = Source(name=SOURCE, start=start, ingest=ingest, legacy_role=legacy_role,
                     formats={"crossref": LoadFormat("work", "application/json")})


def harvest_crossref(db, archive_dir, client, everything: bool = False, base: str = API, progress=None) -> Run:
    """Look up the corpus's DOIs that Crossref has not answered for yet (all with `everything`),
    through the engine (for scripts and tests)."""
    return run_live(db, archive_dir, client, SOURCE_SPEC,
                    {"all": everything, "base": base, "contact": client.contact}, progress)


def load_crossref_file(db, archive_dir, path: Path) -> Run:
    """Ingest a saved Crossref response without the network."""
    return load_files(db, archive_dir, SOURCE_SPEC, [path])
