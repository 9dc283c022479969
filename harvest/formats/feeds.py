"""Feeds of every dialect (RSS 0.9x/1.0/2.0, Atom, CDF, JSON Feed), outline lists and feed discovery.

parse_feed     bytes -> Feed with entries; lenient like feedparser, but every repair it had to make
               is kept as a warning, and something that is not a feed raises FeedError saying what
               it is instead (an HTML page, with the feeds it links to; an OPML list; nothing)
parse_date     a date in any of the dialects feeds use -> UTC datetime, or None when impossible
parse_opml     an OPML subscription list -> its outlines
discover_feeds an HTML page -> the feeds it announces with <link rel="alternate">

JMIR's journal feeds and the news outlets' feeds both come through here; which entries are worth
fetching is the vocabulary's call (harvest.nlp.vocab.first_look).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urljoin

import feedparser
# feedparser's dialect parsers, used one by one in an order that never lets a lenient one
# "repair" an impossible date (feedparser's own chain would read 25:14 as 01:14 the next day).
from feedparser import datetimes as _feed_dates
from lxml import etree, html as lxml_html

from ..limits import load_json, strip_internal_subset
from ..text import folded


class FeedError(ValueError):
    """Something that is not a feed; the message says what it is and what to do."""


@dataclass
class FeedEntry:
    title: str = ""
    link: str = ""
    id: str = ""
    published: str | None = None     # ISO 8601 UTC; the entry's publication (or creation) time
    updated: str | None = None       # ISO 8601 UTC
    authors: list[str] = field(default_factory=list)
    summary: str = ""                # plain text
    summary_html: str = ""           # as the feed gave it (markup in it is data, never rendered)
    content_html: str = ""

    @property
    def text(self) -> str:
        """What an entry says about its page: title and summary."""
        return f"{self.title} {self.summary}"


@dataclass
class Feed:
    format: str                      # rss20, rss10, atom10, cdf, json1, json11, ...
    title: str = ""
    link: str = ""
    language: str = ""
    published: str | None = None
    updated: str | None = None
    encoding: str = ""
    authors: list[str] = field(default_factory=list)
    entries: list[FeedEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)   # what had to be repaired to read it


# -- dates ----------------------------------------------------------------------------------

_YEAR_FIRST = re.compile(r"\d{4}-")


def parse_date(text: str | None) -> datetime | None:
    """A feed date in UTC. W3C-DTF/RFC 3339 strictly (an hour of 25 is no date, not 01:00 the next
    day), then RFC 822 and its common slips, asctime, Perforce, and the Greek, Hungarian and Korean
    dialects; two-digit-year ISO 8601 forms last."""
    text = (text or "").strip()
    if not text:
        return None
    if _YEAR_FIRST.match(text) and text.isascii():
        return _utc(_feed_dates._parse_date_w3dtf(text))
    text = re.sub(r",(?=\S)", ", ", text)  # "Fri,24 Nov 2023"
    for dialect in ("rfc822", "asctime", "perforce", "greek", "hungarian", "nate", "onblog", "w3dtf"):
        try:
            parsed = getattr(_feed_dates, f"_parse_date_{dialect}")(text)
        except (ValueError, KeyError, IndexError, OverflowError):
            parsed = None
        if parsed:
            return _utc(parsed)
    if re.fullmatch(r"[-\d]+", text):  # the truncated ISO 8601:2000 forms: 031231, -0312, 03335
        return _utc(_feed_dates._parse_date_iso8601(text))
    return None


def _utc(parsed) -> datetime | None:
    return datetime(*parsed[:6], tzinfo=timezone.utc) if parsed else None


def iso_utc(text: str | None) -> str | None:
    moment = parse_date(text)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z" if moment else None


# -- feeds ----------------------------------------------------------------------------------

def parse_feed(data: bytes, name: str = "feed", content_type: str | None = None) -> Feed:
    """Any feed dialect -> Feed. Raises FeedError for what is not a feed at all."""
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head:
        raise FeedError(f"{name}: empty document, not a feed")
    if head.startswith(b"{") or (content_type and "json" in content_type):
        return _parse_json_feed(data, name)
    if re.match(rb"(<!--.*?-->\s*)*(<!doctype html|<html|<head|<body)", head, re.S):
        links = discover_feeds(data)
        hint = f"; it links to the feeds {', '.join(links)}" if links else ""
        raise FeedError(f"{name}: an HTML page, not a feed{hint}")
    if b"<opml" in head:
        raise FeedError(f"{name}: an OPML subscription list, not a feed; read it with parse_opml")
    original, data = data, strip_internal_subset(data)  # feedparser expands entities declared there
    parsed = feedparser.parse(data, response_headers={"content-type": content_type} if content_type else None)
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no RSS, Atom or RDF elements"
        raise FeedError(f"{name}: not a feed ({reason})")
    channel = parsed.feed
    feed = Feed(format=parsed.get("version") or "unknown", title=folded(channel.get("title")),
                link=channel.get("link", ""), language=channel.get("language", ""),
                published=iso_utc(_raw(channel, "published")), updated=iso_utc(_raw(channel, "updated")),
                encoding=parsed.get("encoding", ""), authors=_names(channel))
    if len(data) != len(original) and re.search(rb"<!ENTITY\s+[^%\s]", original[:len(original) - len(data) + 4096]):
        feed.warnings.append("entities declared in the DOCTYPE were removed unread (never expanded)")
    if parsed.bozo:
        feed.warnings.append(f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}")
    inherited = feed.authors if feed.format.startswith("atom") else []  # RFC 4287 4.2.1
    for item in parsed.entries:
        content = (item.get("content") or [{}])[0].get("value", "")
        summary_html = item.get("summary", "")
        feed.entries.append(FeedEntry(
            title=folded(item.get("title")), link=_entry_link(item), id=item.get("id", ""),
            published=iso_utc(_raw(item, "published") or _raw(item, "created") or _raw(item, "updated")),
            updated=iso_utc(_raw(item, "updated")), authors=_names(item) or inherited,
            summary=html_text(summary_html or content), summary_html=summary_html, content_html=content))
    return feed


def entry_records(feed: Feed) -> list[dict]:
    """One flat record per entry, as `harvest parse --format feed` prints them."""
    return [{"feed_title": feed.title, "title": e.title, "link": e.link, "id": e.id, "published": e.published,
             "authors": e.authors, "summary": e.summary} for e in feed.entries]


def _raw(item, key: str) -> str:
    """The value as the feed gave it: FeedParserDict.get would answer "updated" with the
    publication date when there is none."""
    return dict.get(item, key) or ""


def _entry_link(item) -> str:
    if item.get("link"):
        return item["link"].strip()
    alternates = [link.get("href", "") for link in item.get("links", []) if link.get("rel") in (None, "alternate")]
    return (alternates or [""])[0]


def _names(item) -> list[str]:
    names = [a.get("name", "").strip() for a in item.get("authors", []) if isinstance(a, dict)]
    names = [n for n in names if n]
    if not names and item.get("author"):
        names = [item["author"].strip()]
    return names


def html_text(markup: str) -> str:
    """Readable text of an HTML fragment; scripts and styles are dropped, never run."""
    if not markup or "<" not in markup:
        return folded(markup)
    try:
        root = lxml_html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return folded(re.sub(r"<[^<>]*>", " ", markup))
    for element in root.xpath(".//script|.//style"):
        element.drop_tree()
    return folded(root.text_content())


def _parse_json_feed(data: bytes, name: str) -> Feed:
    """JSON Feed 1 and 1.1 (jsonfeed.org): feedparser 6.0 does not read them."""
    try:
        document = load_json(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FeedError(f"{name}: not valid JSON ({error}); the feed may be truncated") from error
    version = document.get("version", "") if isinstance(document, dict) else ""
    if "jsonfeed.org/version/" not in version or not isinstance(document.get("items", []), list):
        raise FeedError(f"{name}: JSON, but not a JSON Feed (no jsonfeed.org version and items list)")
    feed = Feed(format="json" + version.rsplit("/", 1)[-1].replace(".", ""),
                title=folded(document.get("title")), link=document.get("home_page_url", ""),
                language=document.get("language", ""), encoding="utf-8",
                authors=_json_authors(document))
    for item in document.get("items", []):
        if not isinstance(item, dict):
            feed.warnings.append(f"an item that is not an object was skipped: {str(item)[:80]}")
            continue
        summary_html = item.get("content_html") or ""
        feed.entries.append(FeedEntry(
            title=folded(item.get("title")), link=item.get("url") or item.get("external_url") or "",
            id=str(item.get("id", "")), published=iso_utc(item.get("date_published") or item.get("date_modified")),
            updated=iso_utc(item.get("date_modified")), authors=_json_authors(item),
            summary=folded(item.get("summary")) or folded(item.get("content_text")) or html_text(summary_html),
            summary_html=summary_html, content_html=summary_html))
    return feed


def _json_authors(obj: dict) -> list[str]:
    authors = obj.get("authors") or ([obj["author"]] if isinstance(obj.get("author"), dict) else [])
    return [a["name"].strip() for a in authors if isinstance(a, dict) and a.get("name")]


# -- outline lists and discovery ------------------------------------------------------------

def parse_opml(data: bytes, name: str = "outline") -> list[dict]:
    """Every outline of an OPML file: title, xml_url (the feed) and html_url (the site)."""
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as error:
        raise FeedError(f"{name}: not well-formed OPML ({error})") from error
    if root.tag != "opml":
        raise FeedError(f"{name}: not OPML (root element <{root.tag}>)")
    return [{"title": o.get("title") or o.get("text") or "", "xml_url": o.get("xmlUrl", ""),
             "html_url": o.get("htmlUrl", "")} for o in root.iter("outline")]


FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/feed+json", "application/json")


def discover_feeds(page: bytes | str, base_url: str = "") -> list[str]:
    """The feeds an HTML page announces, as absolute URLs in page order."""
    try:
        root = lxml_html.fromstring(page)
    except (etree.ParserError, ValueError):
        return []
    base = (root.xpath("//base/@href") or [base_url])[0]
    found = []
    for link in root.xpath("//link[@href]"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in FEED_TYPES:
            url = urljoin(base, link.get("href").strip())
            if url not in found:
                found.append(url)
    return found
