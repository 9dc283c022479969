"""JMIR: feeds, the relevance first look, article XML, and one document per work across sources."""

import json

import pytest

from conftest import DATA, Reply, table_rows
from harvest import db as database
from harvest.sources.crossref import load_crossref_file
from harvest.formats.feeds import FeedError, parse_feed
from harvest.sources.jmir import harvest_jmir, load_jmir_file
from harvest.nlp.vocab import first_look
from harvest.sources.pubmed import load_pubmed_file
from harvest.rebuild import rebuild

JATS = (DATA / "jats_sample.xml").read_bytes()
ARTICLE = "https://mental.jmir.org/2024/1/e12345"


def atom(base: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>JMIR Mental Health</title><id>urn:x</id>
<updated>2024-03-05T00:00:00Z</updated>
<entry><title>A chatbot for low mood: a pilot</title><link href="{base}/2024/1/e12345"/>
<id>urn:a</id><updated>2024-03-05T00:00:00Z</updated><summary>A generative AI chatbot for depression.</summary></entry>
<entry><title>Step counts in older adults</title><link href="{base}/2024/1/e99999"/>
<id>urn:b</id><updated>2024-03-04T00:00:00Z</updated><summary>Wearables and walking.</summary></entry>
</feed>""".encode()


def test_feed_entries_and_first_look():
    entries = parse_feed(atom("https://mental.jmir.org")).entries
    assert [e.title for e in entries] == ["A chatbot for low mood: a pilot", "Step counts in older adults"]
    assert [first_look(e.text) for e in entries] == [True, False]
    with pytest.raises(FeedError, match="an HTML page, not a feed"):
        parse_feed(b"<html><head><title>Sign in</title></head><body><p>Please log in</p></body></html>", "page")


def test_harvest_reads_feeds_and_relevant_articles_only(tmp_path, server, make_client, corpus):
    server.routes["/feed/atom"] = [Reply(200, atom(server.url), {"Content-Type": "application/atom+xml"})]
    server.routes["/2024/1/e12345/XML"] = [Reply(200, JATS, {"Content-Type": "application/xml"})]
    server.routes["/broken/feed"] = [Reply(200, b"<html><body>maintenance</body></html>")]
    archive = tmp_path / "archive"
    run = harvest_jmir(corpus, archive, make_client(), [server.url + "/feed/atom", server.url + "/broken/feed"])
    assert run.counts["added"] == 1 and run.status == "partial"
    assert "an HTML page, not a feed" in run.errors[0]
    assert not any(p.endswith("e99999/XML") for p, _, _ in server.requests)
    doc = corpus.execute("SELECT title, body, licence, field_sources, publication_types FROM documents").fetchone()
    assert json.loads(doc[4]) == ["research-article"]
    assert doc[0] == "A chatbot for low mood: a pilot" and doc[1].startswith("Introduction")
    assert "creativecommons" in doc[2] and json.loads(doc[3])["body"] == "jmir"
    again = harvest_jmir(corpus, archive, make_client(), [server.url + "/feed/atom"])
    assert again.counts["added"] == 0 and [p for p, _, _ in server.requests].count("/2024/1/e12345/XML") == 1
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt) == table_rows(corpus)


PUBMED_TWIN = b"""<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>39000001</PMID><Article>
<Journal><Title>JMIR mental health</Title></Journal><ArticleTitle>A chatbot for low mood: a pilot.</ArticleTitle>
<Language>eng</Language></Article></MedlineCitation><PubmedData><ArticleIdList>
<ArticleId IdType="doi">10.2196/12345</ArticleId></ArticleIdList></PubmedData></PubmedArticle></PubmedArticleSet>"""
CROSSREF_TWIN = json.dumps({"status": "ok", "message-type": "work", "message": {
    "DOI": "10.2196/12345", "type": "journal-article", "title": ["A chatbot for low mood"],
    "license": [{"URL": "https://creativecommons.org/licenses/by/4.0/"}]}}).encode()


@pytest.mark.parametrize("order", [("jmir", "pubmed", "crossref"), ("crossref", "pubmed", "jmir"),
                                   ("pubmed", "crossref", "jmir")])
def test_the_same_work_from_three_sources_is_one_document(tmp_path, corpus, order):
    files = {"pubmed": tmp_path / "twin.xml", "crossref": tmp_path / "twin.json"}
    files["pubmed"].write_bytes(PUBMED_TWIN)
    files["crossref"].write_bytes(CROSSREF_TWIN)
    archive = tmp_path / "archive"
    loaders = {"jmir": lambda: load_jmir_file(corpus, archive, DATA / "jats_sample.xml", ARTICLE),
               "pubmed": lambda: load_pubmed_file(corpus, archive, files["pubmed"]),
               "crossref": lambda: load_crossref_file(corpus, archive, files["crossref"])}
    for source in order:
        loaders[source]()
    for source in order:  # re-running changes nothing
        assert loaders[source]().counts["added"] == 0
    assert corpus["documents"].count == 1
    sources = sorted(r[0] for r in corpus.execute("SELECT source FROM document_sources"))
    assert sources == ["crossref", "jmir", "pubmed"]
    title, field_sources = corpus.execute("SELECT title, field_sources FROM documents").fetchone()
    assert title == "A chatbot for low mood: a pilot." and json.loads(field_sources)["title"] == "pubmed"
