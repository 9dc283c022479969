"""JMIR journals: their RSS/Atom feeds, then each relevant article's JATS XML.

fetch_jmir   every feed in annotations/jmir.yaml, then `<article url>/XML` for entries that
             speak of AI and of mental health (the tagger decides relevance for good later)
(the feeds themselves are read by harvest/feeds.py)
save_jmir    JATS records -> documents with body text when the licence is open, and references
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from . import config

from .db import transaction
from .feeds import FeedError, parse_feed
from .http import Client, HttpError, Response
from .jats import JatsParseError, body_text, parse_jats
from .nlp.vocab import ANNOTATIONS, first_look
from .runs import Run, load_saved, recorded_run, settled
from .store import DocumentRecord, Provenance, save_document, save_references

SOURCE = "jmir"
CONFIG = ANNOTATIONS / "jmir.yaml"
OPEN_LICENCES = ("creativecommons.org",)


def article_xml_url(link: str) -> str:
    return link.rstrip("/") + "/XML"


# -- fetch ----------------------------------------------------------------------------------

def fetch_jmir(client: Client, feeds: list[str], seen: set[str]) -> Iterator[Response | HttpError]:
    """Each feed, then the XML of each relevant entry not `seen` before."""
    for feed in feeds:
        try:
            response = client.get(feed)
        except HttpError as error:
            yield error
            continue
        yield response
        try:
            entries = parse_feed(response.body, feed, response.headers.get("content-type")).entries
        except FeedError:
            continue  # ingest records it from the archived response
        for entry in entries:
            if entry.link and first_look(entry.text) and entry.link not in seen:
                try:
                    yield client.get(article_xml_url(entry.link))
                except HttpError as error:
                    yield error


# -- save -----------------------------------------------------------------------------------

def to_document(article: dict, url: str) -> DocumentRecord:
    open_licence = bool(article["license"]) and any(host in article["license"] for host in OPEN_LICENCES)
    body = body_text(article) if open_licence else None
    identifiers = [(s, article[s]) for s in ("doi", "pmid", "pmcid") if article.get(s)] or [("url", url)]
    return DocumentRecord(
        fields={"kind": "paper", "title": article["title"], "abstract": article["abstract"], "body": body or None,
                "venue": article["journal"], "publisher": article["publisher"], "volume": article["volume"],
                "issue": article["issue"], "pages": article["pages"], "published": article["published"],
                "year": article["year"], "licence": article["license"], "keywords": article["keywords"] or None,
                "publication_types": [article["article_type"]] if article.get("article_type") else None,
                "url": url},
        identifiers=identifiers, authors=article["authors"])


def ingest(db, archived, run: Run) -> None:
    """One archived feed or article XML into rows; shared by harvest and rebuild."""
    if settled(archived, run, lost=1 if archived.uri.endswith("/XML") else 0):
        return
    if not archived.uri.endswith("/XML"):
        try:
            feed = parse_feed(archived.body, archived.uri, archived.headers.get("content-type"))
        except FeedError as error:
            run.fail(str(error), n=0)
            return
        relevant = sum(first_look(e.text) for e in feed.entries)
        run.count("found", relevant)
        repaired = f" (read despite: {feed.warnings[0]})" if feed.warnings else ""
        run.note(f"{archived.uri}: {len(feed.entries)} entries, {relevant} about AI and mental health{repaired}")
        return
    try:
        articles = list(parse_jats(archived.body, archived.uri))
    except JatsParseError as error:
        run.fail(str(error))
        return
    url = archived.uri[: -len("/XML")]
    with transaction(db):
        for article in articles:
            source = Provenance(source=SOURCE, source_id=article["doi"] or url, fetched_at=archived.date,
                                url=url, archive_file=archived.file, archive_record_id=archived.record_id)
            document_id, action = save_document(db, to_document(article, url), source)
            save_references(db, document_id, article["references"], SOURCE)
            run.count(action)


def harvest_jmir(db, archive_dir, client: Client, feeds: list[str] | None = None) -> Run:
    """All configured feeds; articles already harvested are not fetched again."""
    feeds = feeds or config.load(CONFIG, "jmir")["feeds"]
    seen = {r[0] for r in db.execute("SELECT url FROM document_sources WHERE source = ?", [SOURCE])}
    with recorded_run(db, archive_dir, SOURCE, {"feeds": feeds}) as (run, archive):
        client.archive = archive
        for item in fetch_jmir(client, feeds, seen):
            ingest(db, item.archived, run)
    return run


def load_jmir_file(db, archive_dir, path: Path, url: str) -> Run:
    """Ingest a saved article XML as if fetched from `url` (no network)."""
    return load_saved(db, archive_dir, SOURCE, ingest, path, "application/xml", uri=article_xml_url(url))