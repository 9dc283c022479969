"""Landing pages: a paper known only by its URL, read from the page's citation meta tags.

start   options {"urls": [...]} -> one `page` request per address (`harvest resolve` asks for the
        corpus's URL-only papers)
ingest  an archived page -> the document, from its Highwire `citation_*` and Dublin Core meta
        tags (`harvest.formats.citations.parse_landing_page`), the way reference managers
        capture a page; the address the corpus knew it by stays one of its identifiers

Provenance is the source "landing" with the page's address as its source id.
"""

from __future__ import annotations

from ..db import transaction
from ..formats.citations import finish_item, parse_landing_page
from ..identifiers import canonical_url
from ..runs import Run, settled
from ..store import Provenance, save_document
from . import Plan, Request, Source
from .imports import to_document

SOURCE = "landing"
ROLE = "page"


def start(db, options: dict) -> Plan:
    """options: urls (the pages to read)."""
    urls = list(options.get("urls") or [])
    return Plan(parameters={"urls": len(urls)}, requests=[Request(url, ROLE, context={"page": url}) for url in urls])


def ingest(db, archived, run: Run) -> list:
    """One archived landing page into its document (shared by the live run and rebuild); a
    page asks for nothing more."""
    if (archived.type == "response" and archived.status == 200) or (
            archived.type == "failure" and archived.meta.get("final")):
        run.count("found")  # once per page: an error answer is followed by its final failure
    if settled(archived, run, lost=1, label=archived.uri) or archived.type != "response":
        return []
    item = finish_item(parse_landing_page(archived.body, archived.uri))
    if not item["title"]:
        run.fail(f"{archived.uri}: the page has no citation_title, DC.title or <title>")
        return []
    record = to_document(item)
    asked = canonical_url(archived.context.get("page") or archived.uri)
    if asked and ("url", asked) not in record.identifiers:
        record.identifiers.append(("url", asked))  # the address the corpus knew it by
    provenance = Provenance(source=SOURCE, source_id=archived.uri, fetched_at=archived.date, url=archived.uri,
                            archive_file=archived.file, archive_record_id=archived.record_id)
    with transaction(db):
        _, action = save_document(db, record, provenance)
    run.count(action)
    return []


def legacy_role(archived, run: Run) -> tuple[str, dict]:
    return ROLE, {}


SOURCE_SPEC = Source(name=SOURCE, start=start, ingest=ingest, legacy_role=legacy_role)
