"""JMIR journals: their RSS/Atom feeds, then each relevant article's JATS XML.

start        every feed in annotations/jmir.yaml
ingest       a feed -> `<article url>/XML` requests for entries that speak of AI and of mental
             health and were not harvested before (the tagger decides relevance for good later);
             an article's JATS -> a document with body text when the licence is open, and references
(feeds are read by harvest/formats/feeds.py, JATS by harvest/formats/jats.py)
"""

from __future__ import annotations

from pathlib import Path


from .. import config
from ..db import transaction
from ..formats.feeds import FeedError, parse_feed
from ..engine import load_files, run_live
from ..formats.jats import JatsParseError, body_text, parse_jats
from ..nlp.vocab import ANNOTATIONS, first_look
from ..runs import Run, settled
from ..store import DocumentRecord, Provenance, save_document, save_references
from . import LoadFormat, Plan, Request, Source, feed_request, remember_validators, unchanged_feed

SOURCE = "jmir"
CONFIG = ANNOTATIONS / "jmir.yaml"
OPEN_LICENCES = ("creativecommons.org",)


def article_xml_url(link: str) -> str:
    return link.rstrip("/") + "/XML"


# -- start ----------------------------------------------------------------------------------

def start(db, options: dict) -> Plan:
    """options: feeds (default: annotations/jmir.yaml). Articles harvested before are not
    fetched again."""
    feeds = options.get("feeds") or config.load(CONFIG, "jmir")["feeds"]
    seen = {r[0] for r in db.execute("SELECT url FROM document_sources WHERE source = ?", [SOURCE])}
    return Plan(parameters={"feeds": feeds}, requests=[feed_request(db, feed) for feed in feeds],
                state={"seen": seen})


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


def ingest(db, archived, run: Run) -> list[Request]:
    """One archived feed or article XML into rows; shared by harvest and rebuild. A feed asks
    for the XML of its relevant entries not seen before."""
    if unchanged_feed(archived, run):
        return []
    if settled(archived, run, lost=1 if archived.role == "article" else 0):
        return []
    if archived.role == "feed":
        try:
            feed = parse_feed(archived.body, archived.uri, archived.headers.get("content-type"))
        except FeedError as error:
            run.fail(str(error), n=0)
            return []
        remember_validators(db, archived)
        relevant = [e for e in feed.entries if first_look(e.text)]
        run.count("found", len(relevant))
        repaired = f" (read despite: {feed.warnings[0]})" if feed.warnings else ""
        run.note(f"{archived.uri}: {len(feed.entries)} entries, {len(relevant)} about AI and mental health{repaired}")
        seen = run.context.setdefault("seen", set())
        wanted = []
        for entry in relevant:
            if entry.link and entry.link not in seen:
                seen.add(entry.link)
                wanted.append(Request(article_xml_url(entry.link), "article"))
        return wanted
    if archived.role != "article":
        return []
    try:
        articles = list(parse_jats(archived.body, archived.uri))
    except JatsParseError as error:
        run.fail(str(error))
        return []
    url = archived.uri[: -len("/XML")] if archived.uri.endswith("/XML") else archived.uri
    with transaction(db):
        for article in articles:
            source = Provenance(source=SOURCE, source_id=article["doi"] or url, fetched_at=archived.date,
                                url=url, archive_file=archived.file, archive_record_id=archived.record_id)
            document_id, action = save_document(db, to_document(article, url), source)
            save_references(db, document_id, article["references"], SOURCE)
            run.count(action)
    return []


def legacy_role(archived, run: Run) -> tuple[str, dict]:
    """The role of a record archived before roles were: an article's address ends in /XML."""
    return ("article" if archived.uri.endswith("/XML") else "feed"), {}


SOURCE_SPEC = Source(name=SOURCE, start=start, ingest=ingest, legacy_role=legacy_role,
                     formats={"jats": LoadFormat("article", "application/xml", needs_url=True),
                              "feed": LoadFormat("feed", "application/xml")})


def harvest_jmir(db, archive_dir, client, feeds: list[str] | None = None, progress=None) -> Run:
    """All configured feeds through the engine (for scripts and tests)."""
    return run_live(db, archive_dir, client, SOURCE_SPEC, {"feeds": feeds}, progress)


def load_jmir_file(db, archive_dir, path: Path, url: str) -> Run:
    """Ingest a saved article XML as if fetched from `url` (no network)."""
    return load_files(db, archive_dir, SOURCE_SPEC, [path], "jats", url=article_xml_url(url))
