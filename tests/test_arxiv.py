"""arXiv: Atom parsing (own samples and the shared ones), and a harvest against a local server."""

import json
from urllib.parse import parse_qs

import pytest

from conftest import FIXTURES, Reply, table_rows
from harvest import db as database
from harvest.sources.arxiv import ArxivParseError, harvest_arxiv, parse_arxiv
from harvest.rebuild import rebuild

EXPECTED = {k.split("/", 1)[1]: v for k, v in json.loads((FIXTURES / "expected" / "apis.json").read_text())["files"].items()
            if k.startswith("arxiv/")} if FIXTURES.is_dir() else {}


def entry(number: int, version: int = 1, updated: str = "2025-06-01T00:00:00Z") -> str:
    return f"""<entry><id>http://arxiv.org/abs/2501.{number:05d}v{version}</id>
<updated>{updated}</updated><published>2025-01-02T10:00:00Z</published>
<title>Chatbots and   loneliness, study {number}</title>
<summary>We study a chatbot for people with depression, number {number}.</summary>
<author><name>Ada Lovelace</name><arxiv:affiliation>Invented Institute</arxiv:affiliation></author>
<author><name>Alan Turing</name></author>
<arxiv:doi>10.1000/journal.{number}</arxiv:doi>
<link title="pdf" href="http://arxiv.org/pdf/2501.{number:05d}v{version}" rel="related" type="application/pdf"/>
<arxiv:primary_category term="cs.CL"/><category term="cs.CL"/><category term="cs.HC"/></entry>"""


def feed(entries: list[str], total: int, start: int = 0) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
 xmlns:arxiv="http://arxiv.org/schemas/atom"><title>arXiv Query</title>
<opensearch:totalResults>{total}</opensearch:totalResults><opensearch:startIndex>{start}</opensearch:startIndex>
{''.join(entries)}</feed>""".encode()


def test_entries_keep_id_version_authors_and_categories():
    page = parse_arxiv(feed([entry(7, version=3)], total=1))
    record, = page.entries
    assert (record["arxiv_id"], record["version"]) == ("2501.00007", "v3")
    assert record["title"] == "Chatbots and loneliness, study 7"
    assert record["authors"][0] == {"name": "Ada Lovelace", "affiliations": ["Invented Institute"]}
    assert record["categories"] == ["cs.CL", "cs.HC"] and record["primary_category"] == "cs.CL"
    assert record["doi"] == "10.1000/journal.7" and record["pdf_url"].endswith("v3")


def test_error_entries_and_bad_input():
    error = feed(["<entry><id>http://arxiv.org/api/errors#bad</id><title>Error</title>"
                  "<summary>incorrect id format</summary></entry>"], total=1)
    page = parse_arxiv(error, "q")
    assert page.entries == [] and page.errors == ["q: arXiv says: incorrect id format"]
    with pytest.raises(ArxivParseError, match="not an Atom feed"):
        parse_arxiv(b"<html></html>")
    with pytest.raises(ArxivParseError, match="malformed Atom"):
        parse_arxiv(b"<feed")


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures not present")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_arxiv_fixture(name):
    expected = EXPECTED[name]
    page = parse_arxiv((FIXTURES / "apis" / "arxiv" / name).read_bytes(), name)
    assert page.total == expected["total_results"]
    assert len(page.entries) + len(page.errors) == expected["n_entries"]
    first = expected.get("first_entry")
    if not first:
        return
    if "/api/errors" in first["id"]:
        assert page.errors and not page.entries
        return
    record = page.entries[0]
    assert record["id"] == first["id"] and record["title"] == first["title"]
    assert record["published"] == first["published"] and record["updated"] == first["updated"]
    assert [a["name"] for a in record["authors"]] == first["authors"]
    assert len(record["authors"]) == first["n_authors"]
    for field in ("primary_category", "doi", "pdf_url"):
        if field in first:
            assert record[field] == (first[field].lower() if field == "doi" else first[field]), field


def test_harvest_pages_politely_survives_429_and_rebuilds(tmp_path, server, make_client, corpus):
    pages = {0: feed([entry(n) for n in range(0, 100)], total=150, start=0),
             100: feed([entry(n, version=2) for n in range(100, 150)], total=150, start=100)}
    calls = []

    def api(query):
        start = int(parse_qs(query)["start"][0])
        calls.append(start)
        if start == 100 and calls.count(100) == 1:
            return Reply(429, b"slow down", {"Retry-After": "0"})
        return Reply(200, pages[start], {"Content-Type": "application/atom+xml"})
    server.routes["/api/query"] = api
    archive = tmp_path / "archive"
    run = harvest_arxiv(corpus, archive, make_client(), "cat:cs.CL", "2026-01-01T00:00:00Z",
                        base=server.url + "/api/query")
    assert run.status == "ok" and run.counts["added"] == 150 and run.counts["found"] == 150
    assert calls == [0, 100, 100]
    doc = corpus.execute("SELECT d.kind, d.venue, d.title FROM documents d JOIN identifiers i ON i.document_id = d.id "
                         "WHERE i.scheme = 'arxiv' AND i.value = '2501.00120'").fetchone()
    assert doc == ("preprint", "arXiv", "Chatbots and loneliness, study 120")
    versions = corpus.execute("SELECT source_id FROM document_sources WHERE source = 'arxiv' AND source_id LIKE "
                              "'2501.00120%'").fetchall()
    assert versions == [("2501.00120v2",)]
    journal_doi = corpus.execute("SELECT count(*) FROM identifiers WHERE value = '10.1000/journal.5'").fetchone()[0]
    assert journal_doi == 0  # the published version is another document
    names = {r[0] for r in corpus.execute("SELECT name FROM authors")}
    assert names == {"Ada Lovelace", "Alan Turing"}
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt) == table_rows(corpus)


def test_error_response_is_recorded(tmp_path, server, make_client, corpus):
    server.routes["/api/query"] = [Reply(400, feed(["<entry><id>http://arxiv.org/api/errors#x</id>"
                                                    "<summary>bad query</summary></entry>"], total=1))]
    run = harvest_arxiv(corpus, tmp_path / "archive", make_client(), "(((", "2026-01-01T00:00:00Z",
                        base=server.url + "/api/query")
    assert run.status == "failed" and "HTTP 400" in run.errors[0]


def test_preprint_links_to_its_published_version_without_merging(tmp_path, corpus):
    from harvest.sources.arxiv import load_arxiv_file
    from harvest.sources.pubmed import load_pubmed_file
    from conftest import DATA
    atom = tmp_path / "one.xml"
    atom.write_bytes(feed([entry(1).replace("10.1000/journal.1", "10.9999/invented.2023.001")], total=1))
    load_arxiv_file(corpus, tmp_path / "archive", atom)
    link = corpus.execute("SELECT relation, to_doi, to_id FROM document_links").fetchone()
    assert link == ("published-as", "10.9999/invented.2023.001", None)  # not in the corpus yet
    load_pubmed_file(corpus, tmp_path / "archive", DATA / "pubmed_sample.xml")
    journal = corpus.execute("SELECT document_id FROM identifiers WHERE value = '10.9999/invented.2023.001'").fetchone()[0]
    assert corpus.execute("SELECT to_id FROM document_links").fetchone() == (journal,)
    assert corpus.execute("SELECT count(DISTINCT kind) FROM documents").fetchone()[0] == 2  # two documents


def test_an_incremental_run_asks_a_small_first_page_and_stops_when_nothing_is_newer(tmp_path, server, make_client,
                                                                                    corpus):
    """arXiv gives no validators, so the cheapest question is a small first page, newest updates first."""
    newer = {"n": 0}  # entries updated after the first run's end, served on the third run

    def api(query):
        params = parse_qs(query)
        start, size = int(params["start"][0]), int(params["max_results"][0])
        assert params["sortBy"] == ["lastUpdatedDate"] and params["sortOrder"] == ["descending"]
        fresh = [entry(900 + n, updated="2026-02-01T00:00:00Z") for n in range(newer["n"])]
        old = [entry(n) for n in range(0, 30)]
        everything = fresh + old
        return Reply(200, feed(everything[start:start + size], total=len(everything), start=start),
                     {"Content-Type": "application/atom+xml"})
    server.routes["/api/query"] = api
    base = server.url + "/api/query"

    def asked():
        return [(int(parse_qs(q)["start"][0]), int(parse_qs(q)["max_results"][0]))
                for p, q, _ in server.requests if p == "/api/query"]
    first = harvest_arxiv(corpus, tmp_path / "a", make_client(), "cat:cs.CL", "2026-01-01T00:00:00Z", base=base)
    assert first.status == "ok" and first.counts["added"] == 30 and asked() == [(0, 100)]
    server.requests.clear()
    second = harvest_arxiv(corpus, tmp_path / "a", make_client(), "cat:cs.CL", "2026-01-02T00:00:00Z", base=base)
    assert asked() == [(0, 10)], "one small request when nothing was updated since the last run"
    assert second.status == "ok" and second.counts["added"] == second.counts["updated"] == 0
    server.requests.clear()
    newer["n"] = 12
    third = harvest_arxiv(corpus, tmp_path / "a", make_client(), "cat:cs.CL", "2026-03-01T00:00:00Z", base=base)
    assert asked() == [(0, 10), (10, 100)], "newer entries on the small page: full pages follow"
    assert third.counts["added"] == 12
