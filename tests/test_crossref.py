"""Crossref: JSON parsing (own and shared samples), and a harvest that fills the corpus's DOIs."""

import html
import json
import re

import pytest

from conftest import DATA, FIXTURES, Reply, table_rows
from harvest import db as database
from harvest.sources.crossref import CrossrefParseError, harvest_crossref, parse_crossref
from harvest.sources.pubmed import load_pubmed_file
from harvest.rebuild import rebuild
from harvest.sources.seed import load_seed

EXPECTED = {k.split("/", 1)[1]: v for k, v in json.loads((FIXTURES / "expected" / "apis.json").read_text())["files"].items()
            if k.startswith("crossref/") and k.endswith(".json")} if FIXTURES.is_dir() else {}


def work(doi, title="A title", **extra):
    return {"DOI": doi, "type": "journal-article", "title": [title], "container-title": ["J Invented"],
            "publisher": "Invented Press", "author": [{"given": "Ana", "family": "Rivera",
                                                        "ORCID": "https://orcid.org/0000-0002-1825-0097",
                                                        "affiliation": [{"name": "Invented University"}]}],
            "published": {"date-parts": [[2023, 1, 15]]}, "license": [{"URL": "https://creativecommons.org/licenses/by/4.0/"}],
            **extra}


def answer(message) -> bytes:
    return json.dumps({"status": "ok", "message-type": "work", "message": message}).encode()


def test_work_fields_references_and_updates():
    parsed = parse_crossref(answer(work("10.1000/ABC", "Chatbots <i>and</i>\n  &amp; loneliness",
                                        reference=[{"key": "r1", "DOI": "10.9999/X", "year": "2020"},
                                                   {"key": "r2", "unstructured": "A book, 2019"}],
                                        **{"updated-by": [{"DOI": "10.1000/notice", "type": "retraction"}]})))
    record, = parsed.works
    assert record["doi"] == "10.1000/abc" and record["title"] == "Chatbots and & loneliness"
    assert record["published"] == "2023-01-15" and record["year"] == 2023
    assert record["authors"][0]["orcid"] == "0000-0002-1825-0097"
    assert record["references"][0] == {"doi": "10.9999/x", "key": "r1", "title": None, "year": "2020"}
    assert record["updated_by"] == [{"doi": "10.1000/notice", "type": "retraction"}]


def test_errors_and_bad_input():
    failed = parse_crossref(json.dumps({"status": "failed", "message-type": "validation-failure",
                                        "message": [{"type": "bad", "message": "no such filter"}]}).encode(), "q")
    assert failed.kind == "error" and "q: Crossref says bad: no such filter" == failed.error
    with pytest.raises(CrossrefParseError, match="not JSON"):
        parse_crossref(b"Resource not found.")
    with pytest.raises(CrossrefParseError, match="no message-type"):
        parse_crossref(b"{}")


def clean(value):
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^<>]+>", "", value))).strip() if isinstance(value, str) else value


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures not present")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_crossref_fixture(name):
    expected = EXPECTED[name]
    data = (FIXTURES / "apis" / "crossref" / name).read_bytes()
    try:
        parsed = parse_crossref(data, name)
    except CrossrefParseError:
        assert expected.get("http_status", 200) != 200 or expected.get("expect_error")
        return
    if expected.get("status") == "failed":
        assert parsed.kind == "error" and expected["error_message"].split(".")[0] in parsed.error
        return
    if expected.get("message_type") == "work-list":
        assert parsed.total == expected["total_results"] and len(parsed.works) == expected["n_items"]
        if "first_item" in expected:
            assert parsed.works[0]["doi"] == expected["first_item"]["doi"].lower()
            assert parsed.works[0]["title"] == clean(expected["first_item"]["title"])
    elif expected.get("message_type") == "work":
        record, = parsed.works
        checks = {"doi": record["doi"], "type": record["type"], "title": record["title"],
                  "container_title": record["container_title"], "publisher": record["publisher"],
                  "n_authors": len(record["authors"]), "year": record["year"],
                  "first_author_family": record["authors"][0]["last_name"] if record["authors"] else None,
                  "reference_count": record["reference_count"]}
        for field, got in checks.items():
            if field in expected:
                want = expected[field].lower() if field == "doi" else clean(expected[field])
                assert got == want, field


def test_harvest_fills_dois_merges_references_and_retractions(tmp_path, server, make_client, corpus):
    archive = tmp_path / "archive"
    load_seed(corpus, archive)
    load_pubmed_file(corpus, archive, DATA / "pubmed_sample.xml")  # holds DOI 10.9999/invented.2023.001
    lawrence_doi, pubmed_doi = "10.2196/59479", "10.9999/invented.2023.001"
    replies = {
        lawrence_doi: [Reply(429, b"", {"Retry-After": "0"}),
                       Reply(200, answer(work(lawrence_doi, "The real Lawrence title",
                                              reference=[{"key": "a", "DOI": pubmed_doi}, {"key": "b", "DOI": "10.5555/outside"}])))],
        pubmed_doi: [Reply(200, answer(work(pubmed_doi, "Crossref's spelling of the title")))],
        "10.2196/58493": [Reply(200, answer(work("10.2196/58493", "A retraction notice",
                                                 **{"update-to": [{"DOI": lawrence_doi, "type": "retraction"}]})))],
    }

    def route(path):
        doi = path.split("/works/", 1)[1]
        return replies.get(doi) or [Reply(404, b"Resource not found.")]

    class Router(dict):
        def get(self, path, default=None):
            return route(path) if path.startswith("/works/") else super().get(path, default)
    server.routes = Router(server.routes)
    run = harvest_crossref(corpus, archive, make_client(), base=server.url + "/")
    assert run.status == "ok", run.errors
    assert run.counts["found"] == 3 and any("does not know this DOI" in n for n in run.notes)
    lawrence = corpus.execute("SELECT d.id, d.title, d.unverified_fields, d.retracted, d.field_sources FROM documents d "
                              "JOIN identifiers i ON i.document_id = d.id WHERE i.value = ?", [lawrence_doi]).fetchone()
    assert lawrence[1] == "The real Lawrence title" and lawrence[2] is None  # the seed placeholder is replaced
    assert lawrence[3] == 1  # retracted by the notice
    assert json.loads(lawrence[4])["title"] == "crossref"
    pubmed_doc = corpus.execute("SELECT d.id, d.title, d.licence FROM documents d JOIN identifiers i ON "
                                "i.document_id = d.id WHERE i.value = ?", [pubmed_doi]).fetchone()
    assert pubmed_doc[1].startswith("Chatbot companions")  # PubMed's title outranks Crossref's
    assert pubmed_doc[2] == "https://creativecommons.org/licenses/by/4.0/"  # Crossref's licence is taken
    sources = {r[0] for r in corpus.execute("SELECT source FROM document_sources WHERE document_id = ?", [pubmed_doc[0]])}
    assert sources == {"pubmed", "crossref"}
    refs = corpus.execute("SELECT doi, cited_id FROM work_references WHERE citing_id = ? ORDER BY position",
                          [lawrence[0]]).fetchall()
    assert refs == [(pubmed_doi, pubmed_doc[0]), ("10.5555/outside", None)]
    assert corpus.execute("SELECT method FROM citations WHERE citing_id = ? AND cited_id = ?",
                          [lawrence[0], pubmed_doc[0]]).fetchone() == ("crossref reference list",)
    again = harvest_crossref(corpus, archive, make_client(), base=server.url + "/")
    assert again.counts["found"] == 0  # answered DOIs are not asked again
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt) == table_rows(corpus)
