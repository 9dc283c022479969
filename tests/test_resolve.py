"""`harvest resolve` against a local server playing Europe PMC, E-utilities, Crossref and a
publisher's landing page; and the "Is this already here?" lookup."""

import json
import sqlite3
from urllib.parse import parse_qs

import pytest

from conftest import Reply, table_rows
from harvest import db as database
from harvest.sources.imports import load_import
from harvest.lookup import LookupInputError, lookup
from harvest.rebuild import rebuild
from harvest.resolve import europepmc_query, pending, resolve

LIBRARY = [
    {"id": "a", "type": "article-journal", "title": "placeholder a", "DOI": "10.5555/abc"},
    {"id": "b", "type": "article-journal", "title": "placeholder b", "PMID": "40000001"},
    {"id": "c", "type": "article-journal", "title": "placeholder c", "URL": "{base}/article/7?utm_source=feed"},
]


def pubmed_article(pmid: str, title: str, doi: str | None = None) -> str:
    ids = f'<ArticleId IdType="pubmed">{pmid}</ArticleId>' + (f'<ArticleId IdType="doi">{doi}</ArticleId>' if doi else "")
    return f"""<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">{pmid}</PMID>
<Article><Journal><JournalIssue><PubDate><Year>2024</Year></PubDate></JournalIssue><Title>Test Journal</Title></Journal>
<ArticleTitle>{title}</ArticleTitle><Abstract><AbstractText>An abstract of {pmid}.</AbstractText></Abstract>
<AuthorList><Author><LastName>Okafor</LastName><ForeName>Ngozi</ForeName></Author></AuthorList>
<Language>eng</Language></Article></MedlineCitation>
<PubmedData><ArticleIdList>{ids}</ArticleIdList></PubmedData></PubmedArticle>"""


LANDING = b"""<html><head><meta name="citation_title" content="A Landing Page Study of Chatbots">
<meta name="citation_author" content="Berg, Lena"><meta name="citation_publication_date" content="2023/09/01">
<meta name="citation_journal_title" content="Journal of Pages"></head><body>text</body></html>"""


@pytest.fixture
def sources(server):
    asked = {"epmc": [], "esearch": []}

    def search(query):
        asked["epmc"].append(parse_qs(query)["query"][0])
        result = {"id": "39000001", "source": "MED", "pmid": "39000001", "doi": "10.5555/abc",
                  "title": "Europe PMC title for abc", "abstractText": "Abstract from Europe PMC.",
                  "firstPublicationDate": "2024-01-02", "isOpenAccess": "N", "inEPMC": "N"}
        return Reply(200, json.dumps({"hitCount": 1, "nextCursorMark": "*", "resultList": {"result": [result]}}).encode())

    def esearch(query):
        asked["esearch"].append(parse_qs(query)["term"][0])
        return Reply(200, b"<eSearchResult><Count>2</Count><RetMax>0</RetMax><RetStart>0</RetStart>"
                          b"<QueryKey>1</QueryKey><WebEnv>W</WebEnv><IdList/></eSearchResult>")

    def efetch(query):
        body = "<PubmedArticleSet>" + pubmed_article("39000001", "PubMed title for abc", "10.5555/abc") + \
            pubmed_article("40000001", "PubMed title for b") + "</PubmedArticleSet>"
        return Reply(200, body.encode(), {"Content-Type": "text/xml"})
    server.routes["/rest/search"] = search
    server.routes["/eutils/esearch.fcgi"] = esearch
    server.routes["/eutils/efetch.fcgi"] = efetch
    server.routes["/works/10.5555/abc"] = [Reply(200, json.dumps({"status": "ok", "message-type": "work", "message": {
        "DOI": "10.5555/abc", "type": "journal-article", "title": ["Crossref title for abc"],
        "container-title": ["J Crossref"], "publisher": "Invented Press", "published": {"date-parts": [[2024, 1, 2]]},
        "license": [{"URL": "https://creativecommons.org/licenses/by/4.0/"}]}}).encode())]
    server.routes["/article/7"] = [Reply(200, LANDING, {"Content-Type": "text/html; charset=utf-8"})]
    return asked


def test_resolve_completes_starter_records_from_each_source(tmp_path, server, make_client, corpus, sources):
    archive = tmp_path / "archive"
    library = tmp_path / "library.json"
    library.write_text(json.dumps(LIBRARY).replace("{base}", server.url))
    load_import(corpus, archive, library)
    assert len(pending(corpus, 10)) == 3
    steps = []
    runs = resolve(corpus, archive, make_client(), limit=10, progress=lambda step, run: steps.append(step),
                   europepmc_api=server.url + "/rest/", eutils=server.url + "/eutils/", crossref_api=server.url + "/")
    assert steps == ["europepmc", "pubmed", "crossref", "landing"]
    assert all(run.status == "ok" for run in runs), [run.errors for run in runs]
    assert sources["epmc"] == ['DOI:"10.5555/abc" OR (EXT_ID:40000001 AND SRC:MED)']
    assert sources["esearch"] == ["39000001[uid] OR 40000001[uid]"]
    titles = {r[0]: r[1] for r in corpus.execute(
        "SELECT i.value, d.title FROM identifiers i JOIN documents d ON d.id = i.document_id WHERE i.scheme IN ('doi', 'pmid')")}
    assert titles["10.5555/abc"] == "PubMed title for abc" and titles["40000001"] == "PubMed title for b"
    landing = corpus.execute("SELECT title, venue, published FROM documents WHERE title LIKE 'A Landing%'").fetchone()
    assert landing == ("A Landing Page Study of Chatbots", "Journal of Pages", "2023-09-01")
    assert corpus.execute("SELECT count(*) FROM documents").fetchone()[0] == 3
    assert pending(corpus, 10) == [corpus.execute("SELECT document_id FROM identifiers WHERE scheme = 'url' "
                                                  "AND value LIKE '%/article/7'").fetchone()[0]]  # a page is no bibliographic source
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt, skip=("harvest_runs", "_schema")) == table_rows(corpus, skip=("harvest_runs", "_schema"))


def test_europepmc_query_names_each_identifier():
    assert europepmc_query(["10.1/x"], ["123"], ["PMC9"]) == 'DOI:"10.1/x" OR (EXT_ID:123 AND SRC:MED) OR PMCID:PMC9'


def test_lookup_follows_identifiers_urls_and_merges(tmp_path, corpus):
    library = tmp_path / "lib.json"
    library.write_text(json.dumps([
        {"id": "a", "type": "article-journal", "title": "Work A", "DOI": "10.5555/A"},
        {"id": "b", "type": "article-journal", "title": "Work B", "PMID": "35000001",
         "URL": "https://www.example.org/b/"},
        {"id": "c", "type": "article-journal", "title": "Work C", "URL": "https://arxiv.org/abs/2401.00002v2"}]))
    load_import(corpus, tmp_path / "archive", library)
    both = tmp_path / "both.json"  # one entry showing A and B are one work: they merge
    both.write_text(json.dumps([{"id": "ab", "type": "article-journal", "title": "Work AB", "DOI": "10.5555/a",
                                 "PMID": "35000001"}]))
    load_import(corpus, tmp_path / "archive", both)
    conn = sqlite3.connect(tmp_path / "corpus.db")
    a = lookup(conn, "https://doi.org/10.5555/A")
    assert a["found"] and a["matched"] == "doi:10.5555/a" and a["document"]["title"] == "Work AB"
    b = lookup(conn, "PMID: 35000001")
    assert b["document"]["id"] == a["document"]["id"]
    by_url = lookup(conn, "http://example.org/b?utm_source=x")
    assert by_url["found"] and by_url["document"]["id"] == a["document"]["id"]
    merged_away = conn.execute("SELECT old_id FROM redirects").fetchone()[0]
    old = lookup(conn, merged_away)
    assert old["redirected_from"] == merged_away and old["document"]["id"] == a["document"]["id"]
    assert lookup(conn, "arXiv:2401.00002")["document"]["title"] == "Work C"
    missing = lookup(conn, "10.5555/nowhere")
    assert not missing["found"] and "Not in the corpus" in missing["message"]
    for bad in ("", "hello world"):
        with pytest.raises(LookupInputError):
            lookup(conn, bad)


def test_corpus_origin_says_offline_until_a_source_is_reached(tmp_path, corpus):
    from harvest.resolve import corpus_origin
    library = tmp_path / "ids.txt"
    library.write_text("10.5555/one\n")
    load_import(corpus, tmp_path / "archive", library)
    conn = sqlite3.connect(tmp_path / "corpus.db")
    assert corpus_origin(conn)["offline"] is True
    corpus["harvest_runs"].insert({"id": "r1", "source": "pubmed", "started": "2025-01-01T00:00:00Z", "status": "ok",
                                   "parameters": json.dumps({"load": "saved.xml"}), "finished": "2025-01-01T00:01:00Z"})
    assert corpus_origin(conn)["offline"] is True  # a loaded file is no network
    corpus["harvest_runs"].insert({"id": "r2", "source": "crossref", "started": "2025-01-02T00:00:00Z", "status": "ok",
                                   "parameters": json.dumps({"dois": 1}), "finished": "2025-01-02T00:01:00Z"})
    origin = corpus_origin(conn)
    assert origin["offline"] is False and origin["networked"] == {"crossref": "2025-01-02T00:01:00Z"}
    assert origin["documents"] == 1
