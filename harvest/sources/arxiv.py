"""arXiv: the Atom API, paged politely; each preprint is one document whatever its version.

start/ingest  export.arxiv.org/api/query, newest updates first, one request every 3 seconds; each
              page answered asks for the next until the run reaches back to the last run's start.
              The API answers no conditional request (no ETag or Last-Modified), so an incremental
              run's first page is small (PROBE_SIZE entries, sorted by lastUpdatedDate descending):
              when its entries are all older than the last run's start, that one small answer is
              the whole run; otherwise full pages follow.
parse_arxiv   Atom bytes -> ArxivPage (total, entries as record dicts, error entries)
save_arxiv    records -> documents (kind preprint), one provenance row per version seen
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from ..db import transaction
from ..engine import load_files, run_live
from ..identifiers import identifier_url, normalise_doi
from ..runs import Run, resume_point, settled
from ..store import DocumentRecord, Provenance, link_documents, save_document
from ..text import folded
from . import LoadFormat, Plan, Request, Source

API = "https://export.arxiv.org/api/query"
SOURCE = "arxiv"
PAGE_SIZE = 100
PROBE_SIZE = 10  # an incremental run's first page: on a night with nothing new, the whole request
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
ABS_ID = re.compile(r"arxiv\.org/abs/(?P<id>.+?)(?P<version>v\d+)?$")


class ArxivParseError(ValueError):
    """Not an arXiv Atom response, or a damaged one."""


@dataclass
class ArxivPage:
    total: int
    start: int
    entries: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_arxiv(data: bytes, name: str = "input") -> ArxivPage:
    """One page of API results. Error entries (arXiv answers a bad query with one) are
    returned as messages, not records."""
    try:
        root = etree.fromstring(data, etree.XMLParser(load_dtd=False, no_network=True,
                                                      resolve_entities=False))
    except etree.XMLSyntaxError as exc:
        raise ArxivParseError(f"{name}: malformed Atom: {exc}") from exc
    if root.tag != f"{ATOM}feed":
        raise ArxivParseError(f"{name}: not an Atom feed (root <{etree.QName(root).localname}>)")
    page = ArxivPage(total=int(root.findtext(f"{OPENSEARCH}totalResults") or 0),
                     start=int(root.findtext(f"{OPENSEARCH}startIndex") or 0))
    for entry in root.iterfind(f"{ATOM}entry"):
        entry_id = (entry.findtext(f"{ATOM}id") or "").strip()
        if "/api/errors" in entry_id:
            page.errors.append(f"{name}: arXiv says: {_clean(entry.findtext(f'{ATOM}summary'))}")
            continue
        match = ABS_ID.search(entry_id)
        if not match:
            page.errors.append(f"{name}: entry with an id that is not an arXiv abstract URL: {entry_id!r}")
            continue
        page.entries.append(_entry(entry, match.group("id"), match.group("version")))
    return page


def _clean(text: str | None) -> str | None:
    return folded(text) or None


def _entry(entry, arxiv_id: str, version: str | None) -> dict:
    primary = entry.find(f"{ARXIV}primary_category")
    pdf = next((link.get("href") for link in entry.iterfind(f"{ATOM}link")
                if link.get("title") == "pdf" or link.get("type") == "application/pdf"), None)
    return {
        "arxiv_id": arxiv_id,
        "version": version,
        "id": (entry.findtext(f"{ATOM}id") or "").strip(),
        "title": _clean(entry.findtext(f"{ATOM}title")),
        "abstract": _clean(entry.findtext(f"{ATOM}summary")),
        "authors": [{"name": _clean(a.findtext(f"{ATOM}name")),
                     "affiliations": [t for t in (_clean(x.text) for x in a.iterfind(f"{ARXIV}affiliation")) if t]}
                    for a in entry.iterfind(f"{ATOM}author")],
        "published": (entry.findtext(f"{ATOM}published") or "").strip() or None,
        "updated": (entry.findtext(f"{ATOM}updated") or "").strip() or None,
        "primary_category": primary.get("term") if primary is not None else None,
        "categories": [c.get("term") for c in entry.iterfind(f"{ATOM}category") if c.get("term")],
        "doi": normalise_doi(entry.findtext(f"{ARXIV}doi")),
        "journal_ref": _clean(entry.findtext(f"{ARXIV}journal_ref")),
        "comment": _clean(entry.findtext(f"{ARXIV}comment")),
        "pdf_url": pdf,
    }


# -- start ----------------------------------------------------------------------------------

def start(db, options: dict) -> Plan:
    """options: query, until (ISO timestamp of now), max_results, page_size, base. Newest
    updates first, back to where the last good run of this query began (`resume_point`); with
    such a point, the first page asks for PROBE_SIZE entries only."""
    query, base = options["query"], options.get("base") or API
    parameters = {"query": query, "since": resume_point(db, SOURCE, query), "until": options["until"]}
    paging = {"base": base, "query": query, "since": parameters["since"],
              "max_results": options.get("max_results") or 2000, "page_size": options.get("page_size") or PAGE_SIZE}
    if parameters["since"]:  # incremental: a small first page, enough when nothing was updated since
        paging["first_page_size"] = min(PROBE_SIZE, paging["page_size"])
    host = urlsplit(base).hostname
    return Plan(parameters=parameters, requests=[_page(paging, 0)], cursor=cursor_for(parameters),
                rate_limits={host: 1 / 3},  # arXiv asks for one request every three seconds
                api_hosts=(host,), state={"paging": paging})


def _page(paging: dict, first: int) -> Request:
    size = paging.get("first_page_size", paging["page_size"]) if first == 0 else paging["page_size"]
    params = {"search_query": paging["query"], "start": first,
              "max_results": min(size, paging["max_results"] - first),
              "sortBy": "lastUpdatedDate", "sortOrder": "descending"}
    return Request(paging["base"], "page", params, context={"start": first})


def _next_page(paging: dict | None, page: ArxivPage, first: int) -> list[Request]:
    """The next page, unless the results ran out, `max_results` were read, or this page
    reached back past the run's `since`."""
    if paging is None or not page.entries or first + len(page.entries) >= page.total:
        return []
    if paging["since"] and all((e["updated"] or "") < paging["since"] for e in page.entries):
        return []
    following = first + len(page.entries)
    return [_page(paging, following)] if following < paging["max_results"] else []


# -- save -----------------------------------------------------------------------------------

def to_document(record: dict) -> DocumentRecord:
    """The preprint as a document. Its journal DOI (if any) names the published version, a
    different document, so only arXiv's own DataCite DOI joins the identifiers."""
    published = (record["published"] or "")[:10] or None
    return DocumentRecord(
        fields={"kind": "preprint", "title": record["title"], "abstract": record["abstract"],
                "url": identifier_url("arxiv", record["arxiv_id"]), "venue": "arXiv",
                "published": published, "year": int(published[:4]) if published else None,
                "keywords": record["categories"] or None, "language": "eng"},
        identifiers=[("arxiv", record["arxiv_id"]),
                     ("doi", f"10.48550/arxiv.{record['arxiv_id']}".lower())],
        authors=[{"name": a["name"], "affiliations": a["affiliations"]} for a in record["authors"] if a["name"]])


def save_arxiv(db, records: list[dict], provenance: Provenance, run: Run) -> None:
    with transaction(db):
        for record in records:
            version_id = f"{record['arxiv_id']}{record['version'] or ''}"
            source = Provenance(**{**provenance.__dict__, "source_id": version_id, "url": record["id"]})
            document_id, action = save_document(db, to_document(record), source)
            if record["doi"]:
                link_documents(db, document_id, "published-as", record["doi"], SOURCE)
            run.count(action)


def ingest(db, archived, run: Run) -> list[Request]:
    """One archived arXiv answer (or loaded file) into rows, and the next page it calls for;
    shared by harvest and rebuild."""
    if settled(archived, run):
        return []
    try:
        page = parse_arxiv(archived.body, archived.uri)
    except ArxivParseError as error:
        run.fail(str(error), n=0)
        return []
    for message in page.errors:
        run.fail(message, n=0)
    first = archived.context.get("start")
    if first == 0:
        run.count("found", page.total)
    elif archived.type == "resource":
        run.count("found", len(page.entries))
    provenance = Provenance(source=SOURCE, source_id="", fetched_at=archived.date,
                            archive_file=archived.file, archive_record_id=archived.record_id)
    save_arxiv(db, page.entries, provenance, run)
    return _next_page(run.context.get("paging"), page, first) if first is not None else []


def legacy_role(archived, run: Run) -> tuple[str, dict]:
    """The role of a record archived before roles were: an API page, its start read from the URL."""
    query = parse_qs(urlsplit(archived.uri).query)
    if "search_query" in query:
        return "page", {"start": int(query.get("start", ["0"])[0])}
    return "page", {}


def cursor_for(parameters: dict) -> dict | None:
    return {"until": parameters["until"]} if parameters.get("until") else None


SOURCE_SPEC = Source(name=SOURCE, start=start, ingest=ingest, legacy_role=legacy_role, cursor_for=cursor_for,
                     formats={"arxiv": LoadFormat("page", "application/atom+xml")})


def harvest_arxiv(db, archive_dir, client, query: str, until: str, max_results: int = 2000,
                  base: str = API, progress=None) -> Run:
    """One live arXiv run through the engine (for scripts and tests)."""
    return run_live(db, archive_dir, client, SOURCE_SPEC,
                    {"query": query, "until": until, "max_results": max_results, "base": base}, progress)


def load_arxiv_file(db, archive_dir, path: Path) -> Run:
    """Ingest a saved API response without the network."""
    return load_files(db, archive_dir, SOURCE_SPEC, [path])
