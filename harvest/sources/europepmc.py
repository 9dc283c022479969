"""Europe PMC: REST search with cursor paging, and JATS full text for open-access articles.

start             the first search request (JSON, resultType=core, cursorMark=*)
ingest            a search page -> documents, and its follow-ups: each open article's full text
                  (fullTextXML), reference list and citing works, and the next page
parse_search      search bytes (JSON, core/lite XML or Dublin Core XML) -> SearchPage
save_results      search results -> documents; save_full_text: JATS -> body and references
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from ..db import transaction
from ..engine import load_files, run_live
from ..identifiers import normalise_doi, normalise_pmcid
from ..formats.jats import JatsParseError, body_text, parse_jats
from ..limits import load_json
from ..runs import Run, settled
from ..store import (DocumentRecord, Provenance, find_document, save_citation, save_document,
                    save_references, set_body)
from ..text import folded, plain
from . import LoadFormat, Plan, Request, Source

API = "https://www.ebi.ac.uk/europepmc/webservices/rest/"
SOURCE = "europepmc"
FULL_TEXT = "europepmc full text"  # references read from the JATS, kept apart from the endpoint's
PAGE_SIZE = 100
DC = "{http://purl.org/dc/elements/1.1/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
DCTERMS = "{http://purl.org/dc/terms/}"


class EuropePmcParseError(ValueError):
    """Not a Europe PMC search response; the message says where."""


@dataclass
class SearchPage:
    hit_count: int
    next_cursor: str | None
    results: list[dict] = field(default_factory=list)


def _clean(value) -> str | None:
    return plain(value) or None


def _listed(data: bytes, name: str, list_key: str, item_key: str) -> list[dict]:
    """The items of a references or citations answer ({hitCount, referenceList: {reference}})."""
    try:
        payload = load_json(data)
        return payload[list_key][item_key] if payload.get("hitCount") else []
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise EuropePmcParseError(f"{name}: not a Europe PMC {list_key}: {exc}") from exc


def parse_references(data: bytes, name: str = "input") -> list[dict]:
    """A `references` endpoint answer: the article's reference list."""
    items = _listed(data, name, "referenceList", "reference")
    return [{"doi": normalise_doi(r.get("doi")), "pmid": r.get("id") if r.get("source") == "MED" else None,
             "title": _clean(r.get("title")), "year": str(r["pubYear"]) if r.get("pubYear") else None}
            for r in items]


def parse_citations(data: bytes, name: str = "input") -> list[dict]:
    """A `citations` endpoint answer: the works that cite an article."""
    items = _listed(data, name, "citationList", "citation")
    return [{"source": c.get("source"), "id": c.get("id"), "title": _clean(c.get("title"))} for c in items]


def parse_search(data: bytes, name: str = "input") -> SearchPage:
    """A search response in any format the search endpoint answers in: JSON or XML (`format=json`
    or `xml`, result type core, lite or idlist) or Dublin Core (`format=dc`). Anything else is
    an EuropePmcParseError that names what it got."""
    if data.lstrip()[:1] == b"<":
        return _parse_xml(data, name)
    try:
        payload = load_json(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EuropePmcParseError(f"{name}: not JSON: {exc}") from exc
    if not isinstance(payload, dict) or "hitCount" not in payload:
        raise EuropePmcParseError(f"{name}: not a Europe PMC search response (no hitCount)")
    results = [_result(r) for r in (payload.get("resultList") or {}).get("result") or []]
    return SearchPage(hit_count=int(payload["hitCount"]), next_cursor=payload.get("nextCursorMark"),
                      results=results)


def _result(r: dict) -> dict:
    journal_info = r.get("journalInfo") or {}
    journal = journal_info.get("journal") or {}
    authors = []
    for person in (r.get("authorList") or {}).get("author") or []:
        affiliations = [a.get("affiliation") for a in
                        (person.get("authorAffiliationDetailsList") or {}).get("authorAffiliation") or []
                        if a.get("affiliation")]
        orcid = (person.get("authorId") or {})
        authors.append({"last_name": person.get("lastName"), "fore_name": person.get("firstName"),
                        "initials": person.get("initials"), "collective_name": person.get("collectiveName"),
                        "orcid": orcid.get("value") if orcid.get("type") == "ORCID" else None,
                        "affiliations": affiliations})
    published = r.get("firstPublicationDate") or r.get("pubYear")
    return {
        "id": r.get("id"), "source": r.get("source"),
        "pmid": r.get("pmid"), "pmcid": normalise_pmcid(r.get("pmcid")), "doi": normalise_doi(r.get("doi")),
        "title": _clean(r.get("title")), "abstract": _clean(r.get("abstractText")),
        "authors": authors, "author_string": r.get("authorString"),
        "journal": journal.get("title") or r.get("journalTitle"),
        "volume": journal_info.get("volume") or r.get("journalVolume"),
        "issue": journal_info.get("issue") or r.get("issue"), "pages": r.get("pageInfo"),
        "published": published, "year": int(str(published)[:4]) if published and str(published)[:4].isdigit() else None,
        "publication_types": (r.get("pubTypeList") or {}).get("pubType") or ([r["pubType"]] if r.get("pubType") else []),
        "keywords": (r.get("keywordList") or {}).get("keyword") or [],
        "language": r.get("language"), "license": r.get("license"),
        "open_access": r.get("isOpenAccess") == "Y", "in_epmc": r.get("inEPMC") == "Y",
        "has_references": r.get("hasReferences") == "Y",
        "cited_by": int(r.get("citedByCount") or 0),
    }


def _parse_xml(data: bytes, name: str) -> SearchPage:
    """Core/lite/idlist XML (`<responseWrapper><resultList><result>`, the JSON answer's shape in
    elements) or Dublin Core (`<rdf:RDF><rdf:Description>`)."""
    try:
        root = etree.fromstring(data, etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False))
    except etree.XMLSyntaxError as exc:
        raise EuropePmcParseError(f"{name}: malformed XML: {exc}") from exc
    if root.findtext("hitCount") is None:
        message = folded(" ".join(root.itertext()))[:200]
        raise EuropePmcParseError(f"{name}: not a Europe PMC search response: XML <{etree.QName(root).localname}> "
                                  f"without hitCount{': ' + message if message else ''}")
    hit_count, cursor = int(root.findtext("hitCount")), root.findtext("nextCursorMark")
    if root.find("resultList") is not None:
        results = [_result(_as_json(r)) for r in root.find("resultList").iterfind("result")]
        return SearchPage(hit_count=hit_count, next_cursor=cursor, results=results)
    if root.find(f"{RDF}RDF") is not None or hit_count == 0:
        return SearchPage(hit_count=hit_count, next_cursor=cursor,
                          results=[_dublin_core_result(d) for d in root.iter(f"{RDF}Description")])
    raise EuropePmcParseError(f"{name}: a Europe PMC XML answer in a format this harvester does not read "
                              f"(neither <resultList> nor Dublin Core <rdf:RDF>)")


def _as_json(element):
    """A Europe PMC XML element in the shape of its JSON answer: `...List` elements hold lists,
    a leaf with attributes (`<authorId type="ORCID">`) is {attributes..., "value": text}."""
    if len(element) == 0:
        return {**element.attrib, "value": element.text} if element.attrib else element.text
    if etree.QName(element).localname.endswith("List"):
        grouped: dict = {}
        for child in element:
            grouped.setdefault(etree.QName(child).localname, []).append(_as_json(child))
        return grouped
    return {etree.QName(child).localname: _as_json(child) for child in element}


ABOUT = re.compile(r"/(?:abstract|article|articles)/([A-Z]+)/([^/?#]+)$")


def _dublin_core_result(description) -> dict:
    """One <rdf:Description> of a Dublin Core answer as a search result: its Europe PMC address
    gives source and id, dc:identifier the DOI, dc:creator ('Surname, AB') the authors, the
    OpenURL citation the journal, volume, issue and pages."""
    def texts(tag: str) -> list[str]:
        return [folded(e.text) for e in description.iterfind(tag) if e.text and e.text.strip()]

    about = description.get(f"{RDF}about") or ""
    match = ABOUT.search(about)
    source, identifier = (match.group(1), match.group(2)) if match else ("", about)
    identifiers = texts(f"{DC}identifier")
    versions = texts(f"{DCTERMS}isVersionOf")
    pmcid = next((normalise_pmcid(v) for v in identifiers + versions if re.search(r"/PMC\d+$", v)), None)
    authors = []
    for creator in texts(f"{DC}creator"):
        last, comma, initials = creator.partition(",")
        authors.append({"last_name": last.strip() if comma else None, "fore_name": None,
                        "initials": initials.strip() or None if comma else None,
                        "collective_name": None if comma else creator, "orcid": None, "affiliations": []})
    citation = {}
    for text in texts(f"{DCTERMS}bibliographicCitation"):
        if "rft." in text:
            citation = {k: v[0] for k, v in parse_qs(text.lstrip("&")).items()}
    published = next(iter(texts(f"{DC}date")), None)
    return {
        "id": identifier, "source": source, "identifiers": identifiers,
        "pmid": identifier if source == "MED" else None, "pmcid": pmcid,
        "doi": next((normalise_doi(i) for i in identifiers if "doi.org/" in i), None),
        "title": _clean(next(iter(texts(f"{DC}title")), None)),
        "abstract": _clean(next(iter(texts(f"{DCTERMS}abstract")), None)),
        "authors": authors, "author_string": None,
        "journal": citation.get("rft.jtitle"), "volume": citation.get("rft.volume"),
        "issue": citation.get("rft.issue"), "pages": citation.get("rft.pages"),
        "published": published, "year": int(published[:4]) if published and published[:4].isdigit() else None,
        "publication_types": [t.strip() for d in texts(f"{DC}description") for t in d.split(";") if t.strip()],
        "keywords": texts(f"{DC}subject"), "language": next(iter(texts(f"{DC}language")), None), "license": None,
        "open_access": "Open Access" in texts(f"{DCTERMS}accessRights"), "in_epmc": bool(pmcid),
        "has_references": False, "cited_by": 0,
    }


# -- start ----------------------------------------------------------------------------------

def start(db, options: dict) -> Plan:
    """options: query, max_results, page_size, base. Search pages by cursor; after each page,
    the full text and reference list of its open-access articles; citing works last."""
    query, base = options["query"], options.get("base") or API
    max_results = options.get("max_results") or 5000
    paging = {"base": base, "query": query, "max_results": max_results,
              "page_size": options.get("page_size") or PAGE_SIZE}
    host = urlsplit(base).hostname
    return Plan(parameters={"query": query, "max": max_results}, requests=[_search(paging, "*", 0)],
                rate_limits={host: 5.0}, api_hosts=(host,), state={"paging": paging})


def _search(paging: dict, cursor: str, read: int) -> Request:
    params = {"query": paging["query"], "format": "json", "resultType": "core", "pageSize": paging["page_size"],
              "cursorMark": cursor}
    return Request(paging["base"] + "search", "search", params, context={"cursor": cursor, "read": read})


def _follow_ups(paging: dict | None, page: SearchPage, context: dict) -> list[Request]:
    """What a search page calls for: each open-access article's full text and reference list,
    the works citing each (asked for last, when every article of the run is in the corpus),
    and the next page."""
    if paging is None:
        return []
    base, wanted = paging["base"], []
    for result in page.results:
        article = f"{result['source']}:{result['id']}"
        if result["open_access"] and result["in_epmc"] and result["pmcid"]:
            wanted.append(Request(f"{base}{result['pmcid']}/fullTextXML", "full-text"))
        if result["has_references"]:
            wanted.append(Request(f"{base}{result['source']}/{result['id']}/references", "references",
                                  {"format": "json", "pageSize": 1000}, context={"article": article}))
        if result["cited_by"]:
            wanted.append(Request(f"{base}{result['source']}/{result['id']}/citations", "citations",
                                  {"format": "json", "pageSize": 1000}, context={"article": article}, last=True))
    read = context["read"] + len(page.results)
    if page.results and page.next_cursor and page.next_cursor != context["cursor"] and read < paging["max_results"]:
        wanted.append(_search(paging, page.next_cursor, read))
    return wanted


# -- save -----------------------------------------------------------------------------------

def to_document(result: dict) -> DocumentRecord:
    identifiers = [(s, result[s]) for s in ("pmid", "doi", "pmcid") if result.get(s)]
    if not identifiers:
        identifiers = [("europepmc", f"{result['source']}:{result['id']}")]
    kind = "preprint" if result.get("source") == "PPR" else "paper"
    return DocumentRecord(
        fields={"kind": kind, "title": result["title"], "abstract": result["abstract"],
                "venue": result["journal"], "volume": result["volume"], "issue": result["issue"],
                "pages": result["pages"], "published": result["published"], "year": result["year"],
                "language": result["language"], "licence": result["license"],
                "publication_types": result["publication_types"] or None,
                "keywords": result["keywords"] or None,
                "url": f"https://europepmc.org/article/{result['source']}/{result['id']}"},
        identifiers=identifiers, authors=result["authors"])


def save_results(db, results: list[dict], provenance: Provenance, run: Run) -> None:
    with transaction(db):
        for result in results:
            source = Provenance(**{**provenance.__dict__, "source_id": f"{result['source']}:{result['id']}",
                                   "url": f"https://europepmc.org/article/{result['source']}/{result['id']}"})
            _, action = save_document(db, to_document(result), source)
            run.count(action)


def save_full_text(db, article: dict, provenance: Provenance, run: Run) -> None:
    """Body text and references of an open-access article, onto the document it belongs to."""
    identifiers = [(s, article[s]) for s in ("pmcid", "pmid", "doi") if article.get(s)]
    document_id = next(filter(None, (find_document(db, *i) for i in identifiers)), None)
    if document_id is None:
        run.fail(f"full text for {identifiers} matches no document", n=0)
        return
    body = body_text(article)
    with transaction(db):
        if body:
            set_body(db, document_id, body, SOURCE)
        save_references(db, document_id, _resolve_pmids(db, article["references"]), FULL_TEXT)
        db["document_sources"].insert({
            "document_id": document_id, "source": SOURCE, "source_id": f"fulltext:{article['pmcid']}",
            "url": provenance.url, "first_fetched": provenance.fetched_at, "last_fetched": provenance.fetched_at,
            "archive_file": provenance.archive_file, "archive_record_id": provenance.archive_record_id},
            replace=True)


def _save_cited_by(db, cited: str, citing_works: list[dict]) -> None:
    """Citation edges from corpus documents that cite `cited` (a source:id Europe PMC saw)."""
    row = db.execute("SELECT document_id FROM document_sources WHERE source = ? AND source_id = ?",
                     [SOURCE, cited]).fetchone()
    if not row:
        return
    for work in citing_works:
        scheme = "pmid" if work["source"] == "MED" else "europepmc"
        value = work["id"] if scheme == "pmid" else f"{work['source']}:{work['id']}"
        citing = find_document(db, scheme, value)
        if citing and citing != row[0]:
            save_citation(db, citing, row[0], method=f"{SOURCE} citations")


def _resolve_pmids(db, references: list[dict]) -> list[dict]:
    """References with a PMID but no DOI get the DOI of the corpus document with that PMID."""
    resolved = []
    for reference in references:
        if not reference["doi"] and reference.get("pmid"):
            row = db.execute("SELECT i2.value FROM identifiers i JOIN identifiers i2 ON i2.document_id = "
                             "i.document_id AND i2.scheme = 'doi' WHERE i.scheme = 'pmid' AND i.value = ?",
                             [reference["pmid"]]).fetchone()
            reference = {**reference, "doi": row[0] if row else None}
        resolved.append(reference)
    return resolved


def ingest(db, archived, run: Run) -> list[Request]:
    """One archived Europe PMC answer (a search page, a full text, a reference list or the
    works citing an article) into rows; a search page's follow-up requests."""
    if settled(archived, run):
        return []
    role = archived.role
    if role == "citations":
        try:
            citing_works = parse_citations(archived.body, archived.uri)
        except EuropePmcParseError as error:
            run.fail(str(error), n=0)
            return []
        with transaction(db):
            _save_cited_by(db, archived.context["article"], citing_works)
        return []
    if role == "references":
        try:
            references = parse_references(archived.body, archived.uri)
        except EuropePmcParseError as error:
            run.fail(str(error), n=0)
            return []
        row = db.execute("SELECT document_id FROM document_sources WHERE source = ? AND source_id = ?",
                         [SOURCE, archived.context["article"]]).fetchone()
        if row:
            with transaction(db):
                save_references(db, row[0], _resolve_pmids(db, references), SOURCE)
        return []
    provenance = Provenance(source=SOURCE, source_id="", fetched_at=archived.date, url=archived.uri,
                            archive_file=archived.file, archive_record_id=archived.record_id)
    if role == "full-text":
        try:
            for article in parse_jats(archived.body, archived.uri):
                save_full_text(db, article, provenance, run)
        except JatsParseError as error:
            run.fail(str(error), n=0)
        return []
    try:
        page = parse_search(archived.body, archived.uri)
    except EuropePmcParseError as error:
        run.fail(str(error), n=0)
        return []
    if archived.context.get("cursor", "*") == "*":
        run.count("found", page.hit_count)
    save_results(db, page.results, provenance, run)
    return _follow_ups(run.context.get("paging"), page, archived.context) if "read" in archived.context else []


def legacy_role(archived, run: Run) -> tuple[str, dict]:
    """The role of a record archived before roles were: read from its URL's path and query."""
    path = urlsplit(archived.uri).path
    if path.endswith(("/citations", "/references")):
        return path.rsplit("/", 1)[1], {"article": ":".join(path.rsplit("/", 3)[-3:-1])}
    if path.endswith("/fullTextXML"):
        return "full-text", {}
    return "search", {"cursor": parse_qs(urlsplit(archived.uri).query).get("cursorMark", ["*"])[0]}


SOURCE_SPEC = Source(name=SOURCE, start=start, ingest=ingest, legacy_role=legacy_role,
                     formats={"search": LoadFormat("search", "application/json"),
                              "jats": LoadFormat("full-text", "application/xml")})


def harvest_europepmc(db, archive_dir, client, query: str, max_results: int = 5000, base: str = API,
                      progress=None) -> Run:
    """One live Europe PMC run through the engine (for scripts and tests)."""
    return run_live(db, archive_dir, client, SOURCE_SPEC,
                    {"query": query, "max_results": max_results, "base": base}, progress)


def load_europepmc_file(db, archive_dir, path: Path, fmt: str | None = None) -> Run:
    """Ingest a saved search answer (or, with fmt "jats", a full text) without the network."""
    return load_files(db, archive_dir, SOURCE_SPEC, [path], fmt)
