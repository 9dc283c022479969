"""Guidance pages watched for change: what professional bodies and regulators currently advise.

start           each page in annotations/guidance.yaml with a conditional GET (the validators of
                its last answer); the request names the watched page, so an answer that came
                through redirects is known as that page's
ingest          an answer (or a final failure) of a watched page -> a `guidance` document, and a
                new `document_versions` row with a diff only when the normalised text changed;
                304 or an unchanged text writes nothing
parse_page      a page -> (title, normalised text, hash); a PDF is kept as a link with the hash of
                its bytes and, where pypdf can read it, its text

A page that moved is followed and marked `moved`; one that vanished (404/410) is marked `gone`
with every earlier version kept; a consent wall or script-only page is `unreadable` with the
reason, and never replaces a readable version.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from .. import config

from ..db import transaction
from ..formats.extract import parse_article
from ..engine import run_live
from ..identifiers import canonical_url
from ..nlp.vocab import ANNOTATIONS
from ..runs import Run
from ..store import DocumentRecord, Provenance, find_document, save_document
from ..versions import latest_version, normalised, save_version, text_hash
from . import Plan, Request, Source

SOURCE = "guidance"
CONFIG = ANNOTATIONS / "guidance.yaml"
GONE_STATUSES = (404, 410)


def load_watchlist(path: Path = CONFIG) -> list[dict]:
    pages = (config.load(path, "guidance") or {}).get("pages") or []
    return [{"url": p["url"], "organisation": p.get("organisation")} for p in pages]


def parse_page(body: bytes, url: str, content_type: str = "") -> dict:
    """title, text (normalised), hash, status (extracted, link-only, pdf) and reason."""
    if "pdf" in content_type.lower() or body[:5] == b"%PDF-":
        text = _pdf_text(body)  # its text decides when there is one: a re-saved PDF is not new guidance
        return {"title": None, "text": text, "hash": text_hash(text) if text else hashlib.sha256(body).hexdigest(),
                "status": "pdf",
                "reason": "" if text else "PDF kept as a link: no text could be read from it"}
    article = parse_article(body, url, content_type)
    text = normalised(article["text"])
    return {"title": article["title"], "text": text, "hash": text_hash(text), "status": article["status"],
            "reason": article["reason"], "published": article["published"]}


def _pdf_text(body: bytes) -> str | None:
    try:
        from pypdf import PdfReader
        reader = PdfReader(io.BytesIO(body))
        return normalised("\n".join(page.extract_text() or "" for page in reader.pages)) or None
    except Exception:  # a damaged or encrypted PDF is still kept, by its hash
        return None


# -- start ----------------------------------------------------------------------------------

def start(db, options: dict) -> Plan:
    """options: pages ([{url, organisation}]; default: annotations/guidance.yaml)."""
    pages = options.get("pages") or load_watchlist()
    requests = []
    for page in pages:
        known = db.execute("SELECT etag, last_modified FROM watched_pages WHERE url = ?", [page["url"]]).fetchone()
        requests.append(Request(page["url"], "page", context={"page": page["url"]},
                                etag=known[0] if known else None, last_modified=known[1] if known else None))
    return Plan(parameters={"pages": pages}, requests=requests)


# -- save -----------------------------------------------------------------------------------

def ingest(db, archived, run: Run) -> list:
    """The answer (or final failure) of a watched page into rows; shared by harvest and rebuild.
    A page asks for nothing more."""
    pages = {p["url"]: p for p in run.parameters.get("pages", [])}
    origin = archived.context.get("page")
    if archived.role != "page" or origin not in pages:
        return []
    page = pages[origin]
    if archived.type == "failure":
        if not archived.meta.get("final"):
            return []
        if archived.meta.get("status") in GONE_STATUSES:
            _mark_gone(db, page, archived, run)
        else:
            run.fail(f"{origin}: {archived.meta.get('message')}")
        return []
    if archived.status != 200:
        if archived.status == 304:
            run.count("unchanged")
        return []  # an error status is followed by its failure record
    run.count("found")
    parsed = parse_page(archived.body, archived.uri, archived.headers.get("content-type", ""))
    with transaction(db):
        _save(db, page, parsed, archived, origin, run)
    return []


def legacy_role(archived, run: Run) -> tuple[str, dict]:
    """The role of a record archived before roles were: the page first asked for (found by
    following the redirect hops back) when it is a watched one."""
    return "page", {"page": archived.context.get("requested", archived.uri)}


def _save(db, page: dict, parsed: dict, archived, origin: str, run: Run) -> None:
    """A new version when the text changed; in every case the page's status and validators."""
    key = canonical_url(origin)
    document_id = find_document(db, "url", key)
    moved = archived.uri != origin
    previous = latest_version(db, document_id) if document_id else None
    if parsed["status"] == "link-only":
        run.note(f"{origin}: unreadable ({parsed['reason']}); earlier versions stand")
    elif previous and previous["content_hash"] == parsed["hash"]:
        run.count("unchanged")
    else:
        record = DocumentRecord(
            fields={"kind": "guidance", "title": parsed["title"] or origin, "body": parsed["text"], "url": key,
                    "venue": page["organisation"], "publisher": page["organisation"], "published": parsed.get("published"),
                    "extraction_status": "extracted" if parsed["text"] else "link-only",
                    "extraction_reason": parsed["reason"] or None},
            identifiers=[("url", key)] + ([("url", canonical_url(archived.uri))] if moved else []))
        provenance = Provenance(source=SOURCE, source_id=key, fetched_at=archived.date, url=archived.uri,
                                archive_file=archived.file, archive_record_id=archived.record_id)
        document_id, action = save_document(db, record, provenance)
        save_version(db, document_id, parsed["text"], parsed["hash"], archived)
        run.count(action if previous is None else "updated")
        if previous:
            run.note(f"{origin}: changed (version {previous['version'] + 1})")
    if document_id:
        _set_status(db, document_id, *_page_status(parsed, moved))
    db["watched_pages"].upsert({"url": origin, "organisation": page["organisation"], "document_id": document_id,
                                "etag": archived.headers.get("etag"), "last_modified": archived.headers.get("last-modified"),
                                "final_url": archived.uri if moved else None}, pk="url")


def _page_status(parsed: dict, moved: bool) -> tuple[str, str | None]:
    if parsed["status"] == "link-only":
        return "unreadable", parsed["reason"]
    return ("moved", None) if moved else ("current", None)


def _mark_gone(db, page: dict, archived, run: Run) -> None:
    document_id = find_document(db, "url", canonical_url(page["url"]))
    message = f"gone (HTTP {archived.meta.get('status')})"
    run.note(f"{page['url']}: {message}; every earlier version is kept")
    if document_id is None:
        return
    with transaction(db):
        if save_version(db, document_id, None, f"gone:{archived.meta.get('status')}", archived, change=message):
            run.count("updated")
        _set_status(db, document_id, "gone", message)


def _set_status(db, document_id: str, status: str, reason: str | None) -> None:
    current = db.execute("SELECT page_status, page_status_reason FROM documents WHERE id = ?", [document_id]).fetchone()
    if current and tuple(current) != (status, reason):
        db.execute("UPDATE documents SET page_status = ?, page_status_reason = ? WHERE id = ?",
                   [status, reason, document_id])


SOURCE_SPEC = Source(name=SOURCE, start=start, ingest=ingest, legacy_role=legacy_role)


def harvest_guidance(db, archive_dir, client, pages: list[dict] | None = None, progress=None) -> Run:
    """Every watched page through the engine (for scripts and tests)."""
    return run_live(db, archive_dir, client, SOURCE_SPEC, {"pages": pages}, progress)
