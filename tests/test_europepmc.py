"""Europe PMC: search parsing (own and shared samples), cursor paging, open-access full text,
and one document per work when PubMed and Crossref saw it too."""

import json
from urllib.parse import parse_qs

import pytest

from conftest import DATA, FIXTURES, Reply, table_rows
from harvest import db as database
from harvest.sources.europepmc import EuropePmcParseError, harvest_europepmc, parse_search
from harvest.rebuild import rebuild

EXPECTED = {k.split("/", 1)[1]: v for k, v in json.loads((FIXTURES / "expected" / "apis.json").read_text())["files"].items()
            if k.startswith("europepmc/")} if FIXTURES.is_dir() else {}
JATS = (DATA / "jats_sample.xml").read_bytes()


def result(number, **extra):
    return {"id": str(39000000 + number), "source": "MED", "pmid": str(39000000 + number),
            "doi": f"10.2196/{12340 + number}", "title": f"Chatbot study {number}", "abstractText": "An <i>abstract</i>.",
            "authorList": {"author": [{"firstName": "Aiko", "lastName": "Nakamura", "initials": "A",
                                       "authorId": {"type": "ORCID", "value": "0000-0002-1825-0097"}}]},
            "journalInfo": {"volume": "11", "journal": {"title": "JMIR Mental Health"}},
            "firstPublicationDate": "2024-03-05", "pubTypeList": {"pubType": ["Journal Article"]},
            "isOpenAccess": "N", "inEPMC": "N", **extra}


def page(results, total, cursor):
    return json.dumps({"hitCount": total, "nextCursorMark": cursor, "resultList": {"result": results}}).encode()


def test_search_results_are_parsed():
    parsed = parse_search(page([result(1)], total=1, cursor="AB"))
    record, = parsed.results
    assert (record["pmid"], record["doi"], record["title"]) == ("39000001", "10.2196/12341", "Chatbot study 1")
    assert record["abstract"] == "An abstract ." or record["abstract"].startswith("An abstract")
    assert record["authors"][0]["orcid"] == "0000-0002-1825-0097"
    assert parsed.next_cursor == "AB" and parsed.hit_count == 1
    with pytest.raises(EuropePmcParseError, match="no hitCount"):
        parse_search(b"{}")


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures not present")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_europepmc_fixture(name):
    expected = EXPECTED[name]
    parsed = parse_search((FIXTURES / "apis" / "europepmc" / name).read_bytes(), name)
    assert parsed.hit_count == expected["hit_count"] and len(parsed.results) == expected["n_results"]
    assert parsed.next_cursor == expected.get("next_cursor_mark", parsed.next_cursor)
    first = expected.get("first_result")
    if first:
        record = parsed.results[0]
        for field in ("pmid", "doi", "title", "id", "identifiers"):
            if field in first and not (field == "id" and name.endswith(".xml")):
                assert record[field] == (first[field].lower() if field == "doi" else first[field]), field


def test_harvest_pages_by_cursor_fetches_open_full_text_and_keeps_one_record_per_work(
        tmp_path, server, make_client, corpus):
    open_one = result(5, pmcid="PMC11000001", pmid="39000001", doi="10.2196/12345", isOpenAccess="Y", inEPMC="Y",
                      hasReferences="Y", id="39000001", citedByCount=2)
    server.routes["/rest/MED/39000001/citations"] = [Reply(200, json.dumps({"hitCount": 2, "citationList": {
        "citation": [{"id": "39000003", "source": "MED", "title": "Chatbot study 3"},
                     {"id": "PPR1", "source": "PPR", "title": "Not in the corpus"}]}}).encode())]
    server.routes["/rest/MED/39000001/references"] = [Reply(200, json.dumps({"hitCount": 2, "referenceList": {
        "reference": [{"id": "39000002", "source": "MED", "title": "Chatbot study 2", "pubYear": 2024},
                      {"doi": "10.5555/elsewhere", "title": "Elsewhere"}]}}).encode())]

    def search(query):
        params = parse_qs(query)
        if params["cursorMark"] == ["*"]:
            return Reply(200, page([result(2), open_one], total=3, cursor="NEXT"))
        return Reply(200, page([result(3)], total=3, cursor="NEXT"))  # the same cursor back: the end
    server.routes["/rest/search"] = search
    server.routes["/rest/PMC11000001/fullTextXML"] = [Reply(200, JATS, {"Content-Type": "application/xml"})]
    archive = tmp_path / "archive"
    run = harvest_europepmc(corpus, archive, make_client(), "chatbot", base=server.url + "/rest/")
    assert run.status == "ok", run.errors
    assert run.counts["found"] == 3 and run.counts["added"] == 3
    doc = corpus.execute("SELECT d.id, d.body FROM documents d JOIN identifiers i ON i.document_id = d.id "
                         "WHERE i.scheme = 'pmcid' AND i.value = 'PMC11000001'").fetchone()
    assert doc[1].startswith("Introduction\nIntro text.")
    refs = corpus.execute("SELECT source, doi, cited_id FROM work_references WHERE citing_id = ? ORDER BY source, "
                          "position", [doc[0]]).fetchall()
    cited = corpus.execute("SELECT document_id FROM identifiers WHERE value = '39000002'").fetchone()[0]
    assert refs == [("europepmc", "10.2196/12342", cited), ("europepmc", "10.5555/elsewhere", None),
                    ("europepmc full text", "10.1000/earlier", None), ("europepmc full text", None, None)]
    assert corpus.execute("SELECT count(*) FROM citations WHERE citing_id = ? AND cited_id = ?",
                          [doc[0], cited]).fetchone()[0] == 1
    citing = corpus.execute("SELECT document_id FROM identifiers WHERE value = '39000003'").fetchone()[0]
    assert corpus.execute("SELECT method FROM citations WHERE citing_id = ? AND cited_id = ?",
                          [citing, doc[0]]).fetchone() == ("europepmc citations",)
    sources = {r[0] for r in corpus.execute("SELECT source_id FROM document_sources WHERE document_id = ?", [doc[0]])}
    assert sources == {"MED:39000001", "fulltext:PMC11000001"}
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt) == table_rows(corpus)
