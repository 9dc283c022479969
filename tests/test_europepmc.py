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


CORE_XML = b"""<?xml version="1.0" encoding="UTF-8"?><responseWrapper><version>6.9</version><hitCount>2</hitCount>
<nextCursorMark>AoE=</nextCursorMark><request><queryString>chatbot</queryString></request><resultList>
<result><id>39000001</id><source>MED</source><pmid>39000001</pmid><pmcid>PMC11000001</pmcid><doi>10.2196/12341</doi>
<title>Chatbot study 1</title><authorString>Nakamura A, Lee K.</authorString>
<authorList><author><fullName>Nakamura A</fullName><firstName>Aiko</firstName><lastName>Nakamura</lastName><initials>A</initials>
<authorId type="ORCID">0000-0002-1825-0097</authorId><authorAffiliationDetailsList><authorAffiliation>
<affiliation>Invented University</affiliation></authorAffiliation></authorAffiliationDetailsList></author>
<author><fullName>Lee K</fullName><firstName>Kim</firstName><lastName>Lee</lastName><initials>K</initials></author></authorList>
<journalInfo><issue>2</issue><volume>11</volume><journal><title>JMIR Mental Health</title></journal></journalInfo>
<pubYear>2024</pubYear><pageInfo>e12341</pageInfo><abstractText>An &lt;i&gt;abstract&lt;/i&gt;.</abstractText>
<language>eng</language><pubTypeList><pubType>Journal Article</pubType><pubType>Randomized Controlled Trial</pubType></pubTypeList>
<keywordList><keyword>chatbot</keyword></keywordList><isOpenAccess>N</isOpenAccess><inEPMC>N</inEPMC>
<hasReferences>N</hasReferences><citedByCount>3</citedByCount><firstPublicationDate>2024-03-05</firstPublicationDate></result>
<result><id>PPR800001</id><source>PPR</source><title>A lone preprint</title><pubYear>2025</pubYear></result>
</resultList></responseWrapper>"""

DUBLIN_CORE = b"""<?xml version="1.0" encoding="UTF-8"?><responseWrapper xmlns:dcterms="http://purl.org/dc/terms/"
xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dc="http://purl.org/dc/elements/1.1/"><version>6.9</version>
<hitCount>1</hitCount><nextCursorMark>AoF=</nextCursorMark><rdf:RDF>
<rdf:Description rdf:about="http://europepmc.org/abstract/MED/39000002"><dc:title>Chatbot study 2</dc:title>
<dc:creator>Rivera, AM</dc:creator><dc:creator>Chatbot Safety Consortium</dc:creator>
<dc:description>Review; Journal Article</dc:description><dc:date>2024-05-06</dc:date>
<dc:identifier>http://europepmc.org/abstract/MED/39000002</dc:identifier><dc:identifier>https://doi.org/10.2196/12342</dc:identifier>
<dc:language>eng</dc:language><dc:subject>Mental Health</dc:subject><dcterms:abstract>Short abstract.</dcterms:abstract>
<dcterms:bibliographicCitation>&amp;ctx_ver=Z39.88-2004&amp;rft.jtitle=JMIR%20Mental%20Health&amp;rft.volume=11&amp;rft.issue=3&amp;rft.pages=e12342</dcterms:bibliographicCitation>
<dcterms:isVersionOf>http://europepmc.org/articles/PMC11000002</dcterms:isVersionOf><dcterms:accessRights>Open Access</dcterms:accessRights>
</rdf:Description></rdf:RDF></responseWrapper>"""


def test_core_xml_answers_read_like_json_ones():
    parsed = parse_search(CORE_XML)
    assert (parsed.hit_count, parsed.next_cursor, len(parsed.results)) == (2, "AoE=", 2)
    record, preprint = parsed.results
    from_json = parse_search(page([result(1, pmcid="PMC11000001", pageInfo="e12341")], 2, "AoE=")).results[0]
    for field in ("id", "source", "pmid", "pmcid", "doi", "title", "journal", "volume", "published", "year"):
        assert record[field] == from_json[field], field
    assert record["authors"][0] == {"last_name": "Nakamura", "fore_name": "Aiko", "initials": "A", "collective_name": None,
                                    "orcid": "0000-0002-1825-0097", "affiliations": ["Invented University"]}
    assert record["publication_types"] == ["Journal Article", "Randomized Controlled Trial"]
    assert record["keywords"] == ["chatbot"] and record["cited_by"] == 3 and record["abstract"] == "An abstract."
    assert (preprint["source"], preprint["id"], preprint["title"], preprint["authors"]) == ("PPR", "PPR800001", "A lone preprint", [])


def test_dublin_core_answers_are_read():
    record, = parse_search(DUBLIN_CORE).results
    assert (record["source"], record["id"], record["pmid"], record["pmcid"], record["doi"]) == (
        "MED", "39000002", "39000002", "PMC11000002", "10.2196/12342")
    assert (record["journal"], record["volume"], record["issue"], record["pages"]) == ("JMIR Mental Health", "11", "3", "e12342")
    assert record["authors"][0]["last_name"] == "Rivera" and record["authors"][0]["initials"] == "AM"
    assert record["authors"][1]["collective_name"] == "Chatbot Safety Consortium"
    assert record["publication_types"] == ["Review", "Journal Article"] and record["published"] == "2024-05-06"


@pytest.mark.parametrize("data, message", [
    (b"<responseWrapper><version>6.9</version><hitCount>3</hitCount><other/></responseWrapper>",
     "format this harvester does not read"),
    (b"<errorResponse><message>Invalid query</message></errorResponse>", "XML <errorResponse> without hitCount: Invalid query"),
    (b"<responseWrapper><hitCount>1", "malformed XML"),
])
def test_an_xml_answer_not_read_is_a_clear_error(data, message):
    with pytest.raises(EuropePmcParseError, match=message):
        parse_search(data, "answer.xml")


@pytest.mark.parametrize("answer, titles", [(CORE_XML, ["A lone preprint", "Chatbot study 1"]),
                                            (DUBLIN_CORE, ["Chatbot study 2"])])
def test_load_reads_xml_answers_without_a_traceback(tmp_path, answer, titles):
    import subprocess
    import sys
    saved = tmp_path / "answer.xml"
    saved.write_bytes(answer)
    run = subprocess.run([sys.executable, "-m", "harvest", "europepmc", str(tmp_path / "c.db"), "--load", str(saved)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    db = database.connect(tmp_path / "c.db")
    assert [r[0] for r in db.execute("SELECT title FROM documents ORDER BY title")] == titles
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<responseWrapper><hitCount>3</hitCount><other/></responseWrapper>")
    failed = subprocess.run([sys.executable, "-m", "harvest", "europepmc", str(tmp_path / "c.db"), "--load", str(bad)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "format this harvester does not read" in failed.stdout + failed.stderr
