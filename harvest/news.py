"""News reports: outlets' feeds and GDELT DOC 2.0 article lists, then each article page.

fetch_news    every feed and GDELT query in annotations/news.yaml, then the pages they list that
              were not harvested before (feed entries only when they speak of AI and mental health)
parse_gdelt   a GDELT artlist JSON answer -> articles (url, title, seen date, domain, language)
save_article  an extracted page -> a `news` document identified by its canonical URL; a page with
              no readable article is kept as a link-only record that says why

Pages are extracted by harvest/extract.py; wire copies are grouped afterwards by harvest/stories.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode, urlsplit

from . import config as annotations

from . import stories
from .db import transaction
from .extract import parse_article
from .feeds import FeedError, iso_utc, parse_feed
from .http import Client, HttpError, Response
from .identifiers import canonical_url
from .limits import load_json
from .nlp.vocab import ANNOTATIONS, first_look
from .runs import Run, load_saved, recorded_run, settled
from .store import DocumentRecord, Provenance, save_document

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


# -- fetch ----------------------------------------------------------------------------------

def fetch_news(client: Client, feeds: list[dict], queries: list[str], seen: set[str]) -> Iterator[Response | HttpError]:
    """Each feed and GDELT query, then every page they list that is not in `seen` (canonical URLs)."""
    wanted: list[str] = []

    def want(url: str) -> None:
        key = canonical_url(url)
        if key and key not in seen:
            seen.add(key)
            wanted.append(url)

    for feed in feeds:
        try:
            response = client.get(feed["url"])
        except HttpError as error:
            yield error
            continue
        yield response
        try:
            entries = parse_feed(response.body, feed["url"], response.headers.get("content-type")).entries
        except FeedError:
            continue  # ingest records it from the archived response
        for entry in entries:
            if entry.link and (feed.get("all") or first_look(entry.text)):
                want(entry.link)
    for url in queries:
        try:
            response = client.get(url)
        except HttpError as error:
            yield error
            continue
        yield response
        try:
            for article in parse_gdelt(response.body, url):
                want(article["url"])
        except GdeltError:
            continue
    for url in wanted:
        try:
            yield client.get(url)
        except HttpError as error:
            yield error


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


def ingest(db, archived, run: Run) -> None:
    """One archived feed, GDELT answer or article page into rows; shared by harvest and rebuild.
    What a feed or GDELT says about a page is remembered for the page, which comes later in
    the same run."""
    kind = _kind_of(archived, run)
    if settled(archived, run, lost=1 if kind == "page" else 0, label=archived.uri):
        return
    listed = run.context.setdefault("listed", {})
    if kind == "gdelt":
        try:
            articles = parse_gdelt(archived.body, archived.uri)
        except GdeltError as error:
            run.fail(str(error), n=0)
            return
        for article in articles:
            listed.setdefault(canonical_url(article["url"]), {"title": article["title"], "published": article["seen"],
                                                             "outlet": article["domain"]})
        run.note(f"GDELT {archived.uri}: {len(articles)} articles")
    elif kind == "feed":
        try:
            feed = parse_feed(archived.body, archived.uri, archived.headers.get("content-type"))
        except FeedError as error:
            run.fail(str(error), n=0)
            return
        for entry in feed.entries:
            if entry.link:
                listed.setdefault(canonical_url(entry.link), {"title": entry.title, "published": entry.published,
                                                              "summary": entry.summary, "outlet": feed.title})
        repaired = f" (read despite: {feed.warnings[0]})" if feed.warnings else ""
        run.note(f"{archived.uri}: {len(feed.entries)} entries{repaired}")
    else:
        _save_page(db, archived, run, listed)


def _kind_of(archived, run: Run) -> str:
    """gdelt or feed (named so in the run's parameters, or served as a feed type), else page."""
    if archived.uri in run.parameters.get("gdelt", []):
        return "gdelt"
    content_type = archived.headers.get("content-type", "").lower()
    if archived.uri in run.parameters.get("feeds", []) or any(
            t in content_type for t in ("rss", "atom", "feed+json", "rdf+xml")) or \
            content_type.startswith(("text/xml", "application/xml")):
        return "feed"
    return "page"


def _save_page(db, archived, run: Run, listed: dict) -> None:
    run.count("found")
    article = parse_article(archived.body, archived.uri, archived.headers.get("content-type"))
    if article["status"] != "extracted":
        run.note(f"{archived.uri}: kept as a link only ({article['reason']})")
    hint = listed.get(article["canonical_url"]) or listed.get(canonical_url(archived.uri))
    source = Provenance(source=SOURCE, source_id=article["canonical_url"], fetched_at=archived.date,
                        url=archived.uri, archive_file=archived.file, archive_record_id=archived.record_id)
    with transaction(db):
        _, action = save_document(db, to_document(article, hint), source)
    run.count(action)


def after_run(db) -> None:
    """What follows every news run, live or rebuilt: wire copies grouped into stories."""
    stories.group_stories(db)


def harvest_news(db, archive_dir, client: Client, config: dict | None = None, gdelt_api: str = GDELT_API,
                 progress=None) -> Run:
    """Every configured feed and GDELT query; pages harvested before are not fetched again."""
    config = config or load_config()
    options = config.get("gdelt") or {}
    queries = [gdelt_url(q, options.get("timespan", "1w"), options.get("max_records", 250), gdelt_api)
               for q in options.get("queries") or []]
    feeds = config.get("feeds") or []
    seen = {canonical_url(r[0]) for r in db.execute(
        "SELECT value FROM identifiers WHERE scheme = 'url' AND document_id IN "
        "(SELECT document_id FROM document_sources WHERE source = ?)", [SOURCE])}
    parameters = {"feeds": [f["url"] for f in feeds], "gdelt": queries, "gdelt_api": gdelt_api}
    with recorded_run(db, archive_dir, SOURCE, parameters) as (run, archive):
        client.archive = archive
        client.treat_as_api(urlsplit(gdelt_api).hostname)
        client.default_rate_limit(urlsplit(gdelt_api).hostname, GDELT_REQUESTS_PER_SECOND)
        for item in fetch_news(client, feeds, queries, seen):
            ingest(db, item.archived, run)
            if progress:
                progress(run)
        after_run(db)
    return run


def load_news_file(db, archive_dir, path: Path, url: str) -> Run:
    """Ingest a saved article page as if fetched from `url` (no network)."""
    run = load_saved(db, archive_dir, SOURCE, ingest, path, "text/html", uri=url)
    after_run(db)
    return run
