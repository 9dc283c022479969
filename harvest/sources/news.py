"""News reports: outlets' feeds and GDELT DOC 2.0 article lists, then each article page.

start         every feed and GDELT query in annotations/news.yaml
ingest        a feed or GDELT answer -> requests for the pages it lists that were not harvested
              before (feed entries only when they speak of AI and mental health), each carrying
              what the listing said of it; a page -> a `news` document identified by its
              canonical URL (a page with no readable article is kept as a link-only record that
              says why, one whose text may be only part of the article as a `partial` record that
              says why)
parse_gdelt   a GDELT artlist JSON answer -> articles (url, title, seen date, domain, language)

Pages are extracted by harvest/formats/extract.py; wire copies are grouped after every run by
harvest/stories.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .. import config as annotations

from .. import stories
from ..db import transaction
from ..formats.extract import parse_article
from ..formats.feeds import FeedError, iso_utc, parse_feed
from ..engine import load_files, run_live
from ..identifiers import canonical_url
from ..limits import load_json
from ..nlp.vocab import ANNOTATIONS, first_look
from ..runs import Run, settled
from ..store import DocumentRecord, Provenance, save_document
from . import LoadFormat, Plan, Request, Source, feed_request, remember_validators, unchanged_feed

SOURCE = "news"
CONFIG = ANNOTATIONS / "news.yaml"
GDELT_API = "https://api.gdeltproject.org/api/v2/doc/doc"
SUMMARY_CHARS = 600
GDELT_REQUESTS_PER_SECOND = 0.2  # GDELT asks for no more than one request every 5 seconds


class GdeltError(ValueError):
    """GDELT answered with something other than an article list (it explains errors in plain text)."""


def load_config(path: Path = CONFIG) -> dict:
    config = annotations.load(path, "news") or {}
    feeds = [f if isinstance(f, dict) else {"url": f} for f in config.get("feeds") or []]
    return {"feeds": feeds, "gdelt": config.get("gdelt") or {}}


def gdelt_url(query: str, timespan: str = "1w", max_records: int = 250, base: str = GDELT_API) -> str:
    return base + "?" + urlencode({"query": query, "mode": "artlist", "format": "json",
                                   "maxrecords": max_records, "timespan": timespan, "sort": "datedesc"})


def parse_gdelt(data: bytes, name: str = "gdelt") -> list[dict]:
    """Articles of an artlist answer. GDELT answers `{}` when nothing matched, and a sentence of
    plain text when the query is malformed (too short, unbalanced parentheses, ...)."""
    try:
        answer = load_json(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        message = data[:200].decode("utf-8", "replace").strip()
        raise GdeltError(f"{name}: GDELT did not answer with JSON: {message!r}") from None
    if not isinstance(answer, dict):
        raise GdeltError(f"{name}: unexpected GDELT answer (not a JSON object)")
    articles = []
    for item in answer.get("articles") or []:
        if isinstance(item, dict) and str(item.get("url", "")).startswith(("http://", "https://")):
            seen = str(item.get("seendate") or "")
            articles.append({"url": item["url"], "title": (item.get("title") or "").strip(),
                             "seen": iso_utc(f"{seen[:4]}-{seen[4:6]}-{seen[6:8]}T{seen[9:11]}:{seen[11:13]}:"
                                             f"{seen[13:15]}Z") if len(seen) == 16 else None,
                             "domain": item.get("domain") or urlsplit(item["url"]).hostname,
                             "language": item.get("language") or ""})
    return articles


# -- start ----------------------------------------------------------------------------------

def start(db, options: dict) -> Plan:
    """options: feeds ([{url, all}]), gdelt ({queries, timespan, max_records}) (default both:
    annotations/news.yaml), gdelt_api. Pages harvested before are not fetched again."""
    config = load_config() if options.get("feeds") is None and options.get("gdelt") is None else options
    gdelt_api = options.get("gdelt_api") or GDELT_API
    gdelt = config.get("gdelt") or {}
    queries = [gdelt_url(q, gdelt.get("timespan", "1w"), gdelt.get("max_records", 250), gdelt_api)
               for q in gdelt.get("queries") or []]
    feeds = config.get("feeds") or []
    seen = {canonical_url(r[0]) for r in db.execute(
        "SELECT value FROM identifiers WHERE scheme = 'url' AND document_id IN "
        "(SELECT document_id FROM document_sources WHERE source = ?)", [SOURCE])}
    host = urlsplit(gdelt_api).hostname
    return Plan(parameters={"feeds": [f["url"] for f in feeds], "gdelt": queries, "gdelt_api": gdelt_api},
                requests=[feed_request(db, f["url"], context={"all": bool(f.get("all"))}) for f in feeds]
                + [Request(url, "gdelt") for url in queries],
                rate_limits={host: GDELT_REQUESTS_PER_SECOND}, api_hosts=(host,), state={"seen": seen})


def _pages(run: Run, listed: list[tuple[str, dict]]) -> list[Request]:
    """Requests for the listed pages not seen before (by canonical URL), each with what its
    listing said about it."""
    seen = run.context.setdefault("seen", set())
    wanted = []
    for url, hint in listed:
        key = canonical_url(url)
        if key and key not in seen:
            seen.add(key)
            wanted.append(Request(url, "page", context={"listed": hint, "listed_as": key}))
    return wanted


# -- save -----------------------------------------------------------------------------------

def to_document(article: dict, listed: dict | None = None) -> DocumentRecord:
    """`listed` is what a feed or GDELT said about the page: it fills what the page did not say."""
    listed = listed or {}
    text = article["text"]
    lead = text[:SUMMARY_CHARS].rsplit(" ", 1)[0] if len(text) > SUMMARY_CHARS else text
    summary = listed.get("summary") or lead
    published = article["published"] or (listed.get("published") or "")[:10] or None  # a day, like the rest
    return DocumentRecord(
        fields={"kind": "news", "title": article["title"] or listed.get("title") or article["canonical_url"],
                "abstract": summary or None, "body": text or None, "url": article["canonical_url"],
                "venue": article["site_name"] or listed.get("outlet") or urlsplit(article["url"]).hostname,
                "published": published, "year": int(published[:4]) if published else None,
                "language": article["language"] or listed.get("language") or None,
                "extraction_status": article["status"], "extraction_reason": article["reason"] or None},
        identifiers=[("url", article["canonical_url"])] + (
            [("url", canonical_url(article["url"]))] if canonical_url(article["url"]) != article["canonical_url"] else []),
        authors=[{"name": name} for name in article["authors"]])


def ingest(db, archived, run: Run) -> list[Request]:
    """One archived feed, GDELT answer or article page into rows; shared by harvest and rebuild.
    A feed or GDELT answer asks for the pages it lists, with what it says about each."""
    kind = archived.role
    if unchanged_feed(archived, run):
        return []
    if settled(archived, run, lost=1 if kind == "page" else 0, label=archived.uri):
        return []
    if kind == "gdelt":
        try:
            articles = parse_gdelt(archived.body, archived.uri)
        except GdeltError as error:
            run.fail(str(error), n=0)
            return []
        run.note(f"GDELT {archived.uri}: {len(articles)} articles")
        return _pages(run, [(a["url"], {"title": a["title"], "published": a["seen"], "outlet": a["domain"]})
                            for a in articles])
    if kind == "feed":
        try:
            feed = parse_feed(archived.body, archived.uri, archived.headers.get("content-type"))
        except FeedError as error:
            run.fail(str(error), n=0)
            return []
        remember_validators(db, archived)
        repaired = f" (read despite: {feed.warnings[0]})" if feed.warnings else ""
        run.note(f"{archived.uri}: {len(feed.entries)} entries{repaired}")
        return _pages(run, [(e.link, {"title": e.title, "published": e.published, "summary": e.summary,
                                      "outlet": feed.title})
                            for e in feed.entries if e.link and (archived.context.get("all") or first_look(e.text))])
    if kind == "page":
        _save_page(db, archived, run, archived.context)
    return []


def legacy_role(archived, run: Run) -> tuple[str, dict]:
    """The role of a record archived before roles were: gdelt or feed (named so in the run's
    parameters, or served as a feed type), else page. (What a listing said of a page comes
    from the listing's follow-up requests, which rebuild matches to the pages.)"""
    if archived.uri in run.parameters.get("gdelt", []):
        return "gdelt", {}
    content_type = archived.headers.get("content-type", "").lower()
    if archived.uri in run.parameters.get("feeds", []) or any(
            t in content_type for t in ("rss", "atom", "feed+json", "rdf+xml")) or \
            content_type.startswith(("text/xml", "application/xml")):
        return "feed", {"all": True}
    return "page", {}


def _save_page(db, archived, run: Run, listing: dict) -> None:
    """The page as a document; what its listing said fills gaps when the page is the one
    listed (not one a listed address redirected to)."""
    run.count("found")
    article = parse_article(archived.body, archived.uri, archived.headers.get("content-type"))
    if article["status"] == "link-only":
        run.note(f"{archived.uri}: kept as a link only ({article['reason']})")
    elif article["status"] == "partial":
        run.note(f"{archived.uri}: extracted in part ({article['reason']})")
    same = listing.get("listed_as") in (article["canonical_url"], canonical_url(archived.uri))
    hint = listing.get("listed") if same else None
    source = Provenance(source=SOURCE, source_id=article["canonical_url"], fetched_at=archived.date,
                        url=archived.uri, archive_file=archived.file, archive_record_id=archived.record_id)
    with transaction(db):
        _, action = save_document(db, to_document(article, hint), source)
    run.count(action)


def after_run(db) -> None:
    """What follows every news run, live or rebuilt: wire copies grouped into stories."""
    stories.group_stories(db)


SOURCE_SPEC = Source(name=SOURCE, start=start, ingest=ingest, legacy_role=legacy_role, after_run=after_run,
                     formats={"html": LoadFormat("page", "text/html", needs_url=True),
                              "feed": LoadFormat("feed", "application/xml"),
                              "gdelt": LoadFormat("gdelt", "application/json")})


def harvest_news(db, archive_dir, client, config: dict | None = None, gdelt_api: str = GDELT_API,
                 progress=None) -> Run:
    """Every configured feed and GDELT query through the engine (for scripts and tests)."""
    return run_live(db, archive_dir, client, SOURCE_SPEC, {**(config or {}), "gdelt_api": gdelt_api}, progress)


def load_news_file(db, archive_dir, path: Path, url: str) -> Run:
    """Ingest a saved article page as if fetched from `url` (no network)."""
    return load_files(db, archive_dir, SOURCE_SPEC, [path], "html", url=url)
