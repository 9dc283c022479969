"""Feeds: every dialect in the shared samples, the date table, outline lists, discovery, bad input."""

import codecs
import gzip
import json
import re
import subprocess
import sys

import pytest

from conftest import FIXTURES, normalised
from harvest.formats.feeds import FeedError, discover_feeds, iso_utc, parse_date, parse_feed, parse_opml

FEEDS = FIXTURES / "feeds"
EXPECTED = (json.loads((FIXTURES / "expected" / "feeds.json").read_text())["files"]
            if FIXTURES.is_dir() else {})
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures not present")

# What the harvester keeps, for each path the feedparser checks name. A check on a field the
# harvester does not keep (dcterms:valid, expirationDate) is left out deliberately.
CHECK_FIELDS = {"feed.title": lambda f: f.title, "feed.updated": lambda f: f.updated,
                "feed.updated_parsed": lambda f: f.updated, "feed.published_parsed": lambda f: f.published,
                "entries[0].title": lambda f: f.entries[0].title, "entries[0].link": lambda f: f.entries[0].link,
                "entries[0].description": lambda f: f.entries[0].summary_html,
                "entries[0].content[0].value": lambda f: f.entries[0].content_html,
                "entries[0].published": lambda f: f.entries[0].published,
                "entries[0].published_parsed": lambda f: f.entries[0].published,
                "entries[0].created_parsed": lambda f: f.entries[0].published,
                "entries[0].updated_parsed": lambda f: f.entries[0].updated}
# Encodings a decoder reads as a superset (WHATWG): Shift_JIS text is read as cp932, and so on.
SUPERSETS = {"shift_jis": "cp932", "gb2312": "gb18030", "euc_kr": "cp949", "latin_1": "cp1252"}
FEED_FILES = sorted(name for name, e in EXPECTED.items()
                    if not e["format"].startswith(("HTML page", "OPML", "JSON object")))


def _encoding(name: str) -> str:
    canonical = codecs.lookup(name).name.replace("-", "_")
    return SUPERSETS.get(canonical, canonical)


@needs_fixtures
@pytest.mark.parametrize("name", FEED_FILES)
def test_every_shared_feed(name):
    expected = EXPECTED[name]
    try:
        feed = parse_feed((FEEDS / name).read_bytes(), name)
    except FeedError as error:
        assert expected.get("expect_error") or expected.get("feedparser_bozo"), f"{name}: {error}"
        return
    if expected.get("expect_error") or expected.get("feedparser_bozo"):
        assert feed.warnings, "a feed read only after repairs must say what was repaired"
    elif expected.get("feedparser_bozo") is False:
        assert not feed.warnings
    if "n_entries" in expected:
        assert len(feed.entries) == expected["n_entries"]
    for key in ("title", "link"):
        if key in expected and not expected["format"].startswith("feedparser"):
            assert normalised(getattr(feed, key)) == normalised(expected[key])
    first = expected.get("first_entry", {})
    if first:
        entry = feed.entries[0]
        for key in ("title", "link", "id"):
            if key in first:
                assert normalised(getattr(entry, key)) == normalised(first[key]), key
        if "date" in first:
            assert entry.published == iso_utc(first["date"])
    for check in expected.get("checks", []):
        if check["path"] in CHECK_FIELDS:
            wanted = check.get("equals", check.get("equals_utc"))
            if check["path"].endswith(("published", "updated")):
                wanted = iso_utc(wanted)  # the harvester keeps dates as UTC instants
            assert CHECK_FIELDS[check["path"]](feed) == wanted
    if expected.get("encoding"):
        assert _encoding(feed.encoding) == _encoding(expected["encoding"])
    if expected.get("n_feed_authors"):
        assert len(feed.authors) == expected["n_feed_authors"]


@needs_fixtures
def test_the_date_table():
    """feedparser's table of date dialects. One case cannot be met by any single parser: '22013'
    must not parse as W3C-DTF, while '03335' (the same YYDDD shape) must parse as ISO 8601."""
    cases = json.loads((FEEDS / "feedparser_date_cases.json").read_text())["cases"]
    misses = [c["input"] for c in cases if iso_utc(c["input"]) != c["expected_utc"]]
    assert misses == ["22013"]


def test_dates_that_are_no_dates():
    for impossible in ("2003-12-31T25:14:55Z", "Sun, 99 Jun 2009 12:00:00 GMT", "2023/11/24", "soon", ""):
        assert parse_date(impossible) is None
    assert iso_utc("Fri,24 Nov 2023 18:28:36 -0500") == "2023-11-24T23:28:36Z"


@needs_fixtures
@pytest.mark.parametrize("name", ["rsparser_Subs.opml", "rsparser_SubsNoTitleAttributes.opml"])
def test_outline_lists(name):
    outlines = parse_opml((FEEDS / name).read_bytes(), name)
    assert len(outlines) == EXPECTED[name]["n_outlines"]
    assert all(o["xml_url"].startswith("http") for o in outlines if o["xml_url"])
    with pytest.raises(FeedError, match="OPML subscription list"):
        parse_feed((FEEDS / name).read_bytes(), name)


@needs_fixtures
@pytest.mark.parametrize("name", ["rsparser_furbo.html", "rsparser_inessential.html", "rsparser_sixcolors.html"])
def test_feed_discovery_and_html_served_as_a_feed(name):
    page = (FEEDS / name).read_bytes()
    assert discover_feeds(page) == EXPECTED[name]["feed_links"]
    with pytest.raises(FeedError, match=re.escape(EXPECTED[name]["feed_links"][0])):
        parse_feed(page, name)


def test_discovery_resolves_relative_links():
    page = b'<html><head><link rel="alternate" type="application/atom+xml" href="/news/atom.xml">' \
           b'<link rel="stylesheet" href="/s.css"></head></html>'
    assert discover_feeds(page, "https://example.org/section/") == ["https://example.org/news/atom.xml"]


def test_json_feed_and_its_failures():
    feed = parse_feed(json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": "Clinic news", "authors": [{"name": "Desk"}],
        "items": [{"id": 7, "url": "https://example.org/a", "title": " Chatbot  pulled ",
                   "content_html": "<p>Text</p><script>alert(1)</script>", "date_published": "2025-02-01T10:00:00+01:00"},
                  "junk"]}).encode())
    entry = feed.entries[0]
    assert (feed.format, feed.title, feed.authors) == ("json11", "Clinic news", ["Desk"])
    assert (entry.id, entry.title, entry.summary, entry.published) == ("7", "Chatbot pulled", "Text", "2025-02-01T09:00:00Z")
    assert "not an object" in feed.warnings[0]
    with pytest.raises(FeedError, match="truncated"):
        parse_feed(b'{"version": "https://jsonfeed.org/version/1", "items": [{"id"')
    with pytest.raises(FeedError, match="not a JSON Feed"):
        parse_feed(b'{"results": []}')


@pytest.mark.parametrize("data, reason", [
    (b"", "empty document"), (b"   \n", "empty document"),
    (b"<!DOCTYPE html><html><body>Moved</body></html>", "an HTML page"),
    (b"<?xml version='1.0'?><note><to>x</to></note>", "not a feed"),
])
def test_what_is_not_a_feed_says_what_it_is(data, reason):
    with pytest.raises(FeedError, match=reason):
        parse_feed(data, "input")


def test_broken_feed_is_read_with_a_warning():
    feed = parse_feed(b"<rss version='2.0'><channel><title>T</title><item><title>One & two</title>"
                      b"<link>https://example.org/1</link></item>")
    assert [e.title for e in feed.entries] == ["One & two"] and feed.warnings


def test_parse_command_prints_entries_of_plain_and_gzipped_feeds(tmp_path):
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>Desk</title><author><name>Ann Lee</name></author>'
            b'<entry><title>Lawsuit filed</title><link href="https://example.org/a"/><id>urn:a</id>'
            b'<updated>2025-01-02T03:04:05+02:00</updated><summary>A &lt;b&gt;family&lt;/b&gt; sues.</summary></entry></feed>')
    plain, packed, broken = tmp_path / "a.atom", tmp_path / "a.atom.gz", tmp_path / "b.xml"
    plain.write_bytes(atom)
    packed.write_bytes(gzip.compress(atom))
    broken.write_bytes(b"<html><body>Moved</body></html>")
    run = subprocess.run([sys.executable, "-m", "harvest", "parse", "--format", "feed", str(plain), str(packed), str(broken)],
                         capture_output=True, text=True)
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines[0] == lines[1] == {"feed_title": "Desk", "title": "Lawsuit filed", "link": "https://example.org/a",
                                    "id": "urn:a", "published": "2025-01-02T01:04:05Z", "authors": ["Ann Lee"],
                                    "summary": "A family sues."}
    assert run.returncode == 1 and "b.xml: an HTML page, not a feed" in run.stderr


def test_an_entity_bomb_is_refused_not_expanded():
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel><title>&i;</title>'
            f'<item><title>x</title></item></channel></rss>').encode()
    feed = parse_feed(bomb, "bomb")
    assert len(feed.title) < 1000 and "removed unread" in feed.warnings[0]
