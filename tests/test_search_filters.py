"""Filters in an address filter or say why not, never silently nothing: the search page's `year=`
and the documents table's names for its filters, what it cannot apply listed on the page (and a
400 from its exports and feeds); the documents table's `_theme=`/`_product=` by id, label or alias
in any case, an unknown one named with the known ones; and the incidents a search finds, with
their linked documents, dates and latest report. In-process (`Datasette(...).client`) on the
people corpus (tests/people_corpus.py)."""

import asyncio
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml
from datasette.app import Datasette

from harvest.search import YEAR, SearchRequest
from harvest.serve import PLUGINS_DIR, SETTINGS

import people_corpus

NAME = "evidence-2026"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(the corpus served under NAME, the ids people_corpus names)."""
    folder = tmp_path_factory.mktemp("filters")
    ids = people_corpus.build(folder)
    return Path(shutil.move(folder / "corpus.db", folder / f"{NAME}.db")), ids


@pytest.fixture(scope="module")
def site(built):
    metadata = yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text())
    return Datasette([str(built[0])], metadata=metadata, plugins_dir=str(PLUGINS_DIR),
                     template_dir=str(PLUGINS_DIR / "templates"), settings=SETTINGS)


def answer(datasette, path):
    async def fetch():
        return await datasette.client.get(path)
    return asyncio.run(fetch())


def get(datasette, path):
    response = answer(datasette, path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return response


def count(path, sql, params=()):
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchone()[0]


def total(page: str) -> int:
    return int(re.search(r"<strong>([\d,]+)</strong> documents? match|<strong>([\d,]+)</strong> document", page)
               .group(0).split("<strong>")[1].split("</strong>")[0].replace(",", ""))


def test_a_year_in_the_address_filters_the_search_page(site, built):
    path, ids = built
    in_2024 = count(path, f"SELECT count(*) FROM documents d WHERE {YEAR} = 2024")
    assert 0 < in_2024 < ids["total"]
    page = get(site, "/-/search?year=2024&scope=all").text
    assert total(page) == in_2024 == total(get(site, "/-/search?year_from=2024&year_to=2024&scope=all").text)
    assert 'href="/-/search?scope=all" title="remove this filter">year: 2024 ✕</a>' in page, "shown, with a way to remove it"
    assert 'name="year_from" min="1900" max="2100" value="2024"' in page, "the form shows the year it applies"
    assert "Not applied" not in page
    since = count(path, f"SELECT count(*) FROM documents d WHERE {YEAR} >= 2023")
    assert total(get(site, "/-/search?year__gte=2023&scope=all").text) == since, "the table's year filter reads the same"


def test_the_documents_tables_names_for_filters_work_on_the_search_page(site):
    own = get(site, "/-/search?theme=safety&kind=news&outlet=Example+News&scope=all").text
    table = get(site, "/-/search?_theme=Safety&kind=news&venue=Example+News&_relevance=all").text
    assert total(own) == total(table) > 0
    assert "theme: Safety ✕" in table and "outlet: Example News ✕" in table and "Not applied" not in table
    facet = get(site, "/-/search?theme=SAFETY").text
    assert re.search(r'<li class="selected"><a href="[^"]*">Safety and quality of responses</a>', facet), \
        "a theme asked in another case shows as the chosen facet value"


def test_what_cannot_be_applied_is_listed_and_the_rest_applies(site, built):
    path, ids = built
    page = get(site, "/-/search?kind=news&year=20x4&colour=red&scope=all").text
    assert total(page) == count(path, "SELECT count(*) FROM documents WHERE kind = 'news'"), "kind=news still applies"
    notice = page[page.index('class="refused"'):page.index("</div>", page.index('class="refused"'))]
    assert "<code>year=20x4</code>: not a year (four digits, e.g. 2024)" in notice
    assert "<code>colour=red</code>: the search page has no filter colour" in notice
    assert 'href="/-/search?kind=news&amp;scope=all">This search without them</a>' in notice
    for export in ("/-/search.csv?year_from=abc", "/-/search.atom?q=psychosis&colour=red", "/-/search.bib?sort=sideways"):
        refused = answer(site, export)
        assert refused.status_code == 400 and "Not applied, so nothing was exported" in refused.text, export
    assert get(site, "/-/search.csv?kind=news&_bom=1&scope=all").text.startswith("\ufeff"), "an export's own switch is no filter"
    shared = answer(site, "/-/search.atom?q=psychosis&utm_source=newsletter&utm_medium=email&fbclid=x1&_=1733")
    assert shared.status_code == 200, "tracking tags a shared link collects are no filter"


def test_a_request_says_what_it_refuses():
    asked = SearchRequest.from_args({"year": ["2024"], "year_from": ["2020"], "product": ["Replika", "ChatGPT"],
                                     "scope": ["everything"], "sort": ["newest"], "_col": ["title"], "page": ["2"]})
    assert (asked.year_from, asked.year_to, asked.product, asked.scope, asked.sort, asked.page) == \
        (2024, 2024, "ChatGPT", "relevant", "newest", 2)
    assert sorted(asked.refused) == [("product", "Replika", "one product at a time: ChatGPT is applied"),
                                     ("scope", "everything", "not a scope (relevant, related or all): relevant documents are shown"),
                                     ("year_from", "2020", "year=2024 is asked too, and applied")]
    assert asked.active_filters() == [("year", "2024", {"year_from": None, "year_to": None}),
                                      ("product", "ChatGPT", {"product": ""})]
    assert SearchRequest.from_args({"year__gt": ["2023"], "year__lt": ["2026"]}).args() == \
        [("year_from", "2024"), ("year_to", "2025")]
    assert SearchRequest.from_args({"q": ["psychosis"], "kind": ["news"]}).refused == []


def _rows(datasette, query):
    return get(datasette, f"/{NAME}/documents.json?_relevance=all&_size=0&{query}").json()


def test_theme_and_product_filters_take_any_case_label_or_alias(site, built):
    path, _ = built
    safety = count(path, "SELECT count(DISTINCT document_id) FROM document_themes WHERE theme = 'safety'")
    for asked in ("safety", "Safety", "SAFETY", "safety+and+quality+of+responses", "+Safety+"):
        found = _rows(site, f"_theme={asked}")
        assert found["filtered_table_rows_count"] == safety > 0, asked
        assert "theme is Safety and quality of responses" in found["human_description_en"]
    chatgpt = count(path, "SELECT count(DISTINCT l.document_id) FROM document_entities l JOIN entities e ON e.id = l.entity_id "
                          "WHERE e.name = 'ChatGPT'")
    in_scope = count(path, "SELECT count(DISTINCT l.document_id) FROM document_entities l JOIN entities e ON e.id = l.entity_id "
                           "WHERE e.name = 'ChatGPT'")
    for asked in ("ChatGPT", "chatgpt", "chat+gpt", "GPT-4o", "product:chatgpt"):
        assert _rows(site, f"_product={asked}")["filtered_table_rows_count"] == chatgpt > 0, asked
        for name in ("product", "_product"):  # the search page reads them the same way
            assert total(get(site, f"/-/search?{name}={asked}&scope=all").text) == in_scope, (name, asked)
    facets = _rows(site, "_theme=SAFETY&_facet_linked=themes")["facet_results"]["themes"]["results"]
    chosen = next(v for v in facets if v["value"] == "safety")
    assert chosen["selected"] and chosen["count"] == safety and "_theme" not in chosen["toggle_url"], \
        "the facet shows the theme chosen, and its link removes the filter as it was typed"
    page = get(site, f"/{NAME}/documents?_theme=Safety&_relevance=all").text
    assert f"<h3>{safety:,} rows" in page and "unknown-filter" not in page


def test_an_unknown_theme_or_product_is_named_with_the_known_ones(site):
    page = get(site, f"/{NAME}/documents?_theme=saftey&kind=news").text
    notice = page[page.index('class="nothing unknown-filter"'):]
    notice = notice[:notice.index("</div>")]
    assert "No theme is called <q>saftey</q>, so no row matches it. The themes are:" in notice
    assert re.search(r'<a href="[^"]*kind=news[^"]*_theme=safety">Safety and quality of responses</a>', notice), \
        "each known theme links to this page with it instead, the other filters kept"
    assert notice.count("<a ") == 11 and "<h3>0 rows" in page
    found = _rows(site, "_theme=saftey")
    assert found["filtered_table_rows_count"] == 0 and "(no such theme)" in found["human_description_en"]
    product = get(site, f"/{NAME}/documents?_product=%3Cb%3EBot%3C%2Fb%3E").text
    assert "No product is called <q>&lt;b&gt;Bot&lt;/b&gt;</q>" in product and ">Character.AI</a>" in product


def test_a_matched_incident_brings_its_reports(site, built):
    path, _ = built
    page = get(site, "/-/search?q=Character.AI+teen+lawsuit").text
    block = page[page.index('class="incidents"'):page.index("</section>", page.index('class="incidents"'))]
    linked = count(path, "SELECT count(*) FROM incident_documents WHERE incident_id = 'teen-companion-suicide-lawsuit'")
    first, last, latest = sqlite3.connect(path).execute(
        "SELECT min(d.published), max(d.published), (SELECT d2.id FROM incident_documents l2 JOIN documents d2 ON "
        "d2.id = l2.document_id WHERE l2.incident_id = l.incident_id ORDER BY d2.published DESC LIMIT 1) "
        "FROM incident_documents l JOIN documents d ON d.id = l.document_id "
        "WHERE l.incident_id = 'teen-companion-suicide-lawsuit'").fetchone()
    assert f'href="/{NAME}/incidents/teen-companion-suicide-lawsuit#timeline">{linked} linked documents</a>' in block
    assert "(2 reports, 1 follow-up)" in block and "1 undated" in block
    assert f'first <time datetime="{first}">{first}</time>, latest <time datetime="{last}">{last}</time>' in block
    assert f'Latest: <a href="/{NAME}/documents/{latest}">' in block
    incident = get(site, f"/{NAME}/incidents/teen-companion-suicide-lawsuit").text
    assert '<h2 id="timeline">Timeline</h2>' in incident, "the link lands on the timeline"


def test_a_product_whose_aliases_are_not_a_list_is_still_known_by_name(built, tmp_path):
    copy = tmp_path / f"{NAME}.db"
    shutil.copy(built[0], copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE entities SET aliases = 'Replika, replika.ai' WHERE name = 'Replika'")
    datasette = Datasette([str(copy)], plugins_dir=str(PLUGINS_DIR), template_dir=str(PLUGINS_DIR / "templates"),
                          settings=SETTINGS)
    replika = count(copy, "SELECT count(DISTINCT l.document_id) FROM document_entities l JOIN entities e ON "
                          "e.id = l.entity_id WHERE e.name = 'Replika'")
    assert _rows(datasette, "_product=REPLIKA")["filtered_table_rows_count"] == replika > 0
    assert _rows(datasette, "_product=chat+gpt")["filtered_table_rows_count"] > 0, "the others keep their aliases"


def test_the_incidents_block_says_how_many_match_and_links_to_them_all(built, tmp_path):
    copy = tmp_path / f"{NAME}.db"
    shutil.copy(built[0], copy)
    conn = sqlite3.connect(copy)
    conn.executemany("INSERT INTO incidents (id, title, summary, status, method) VALUES (?, ?, ?, 'reported', 'curated')",
                     [(f"extra-{n}", f"Companion chatbot harm number {n}", "A companion chatbot harmed a user.")
                      for n in range(7)])
    conn.commit()
    matching = conn.execute("SELECT count(*) FROM incidents_fts WHERE incidents_fts MATCH 'companion'").fetchone()[0]
    conn.close()
    assert matching >= 7
    metadata = yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text())
    datasette = Datasette([str(copy)], metadata=metadata, plugins_dir=str(PLUGINS_DIR),
                          template_dir=str(PLUGINS_DIR / "templates"), settings=SETTINGS)
    page = get(datasette, "/-/search?q=companion").text
    block = page[page.index('class="incidents"'):page.index("</section>", page.index('class="incidents"'))]
    assert block.count('<li class="hit">') == 5
    assert f'<a href="/-/incidents?q=companion">All {matching} incidents matching <q>companion</q></a>' in block


def test_an_unknown_theme_or_product_on_the_search_page_is_named_with_the_known_ones(site):
    page = get(site, "/-/search?q=chatbot&theme=saftey&product=nosuchbot").text
    assert "No theme is called <q>saftey</q>, so nothing matches it." in page
    assert "No product is called <q>nosuchbot</q>, so nothing matches it." in page
    assert '?q=chatbot&amp;theme=Safety+and+quality+of+responses">Safety and quality of responses</a>' in page
    assert ">Character.AI</a>" in page
    known = get(site, "/-/search?q=chatbot&theme=SAFETY&product=chat+gpt").text
    assert "is called" not in known, "an id, label or alias in any case is known"
