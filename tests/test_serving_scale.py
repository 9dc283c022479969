"""Serving at scale, checked for sameness on a small synthetic corpus: the documents table's linked
facets (search index or link tables) count what SQL over the link tables counts, the charts and
evidence map count what a GROUP BY counts, and ranked search gives the same first page however its
candidates are bounded. Speed is measured in benchmarks/bench_serve.py, not here."""

import asyncio
import sqlite3
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from datasette.app import Datasette

from benchmarks.synthetic_search import make_corpus
from harvest.search import SearchIndex, scope_clause
from harvest.serve import PLUGINS_DIR, SETTINGS

NAME = "scale"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = make_corpus(tmp_path_factory.mktemp("scale") / f"{NAME}.db", 600)
    with sqlite3.connect(path) as conn:  # the states a real corpus also has: untagged, undated
        conn.execute("UPDATE documents SET relevance = NULL WHERE rowid % 17 = 0")
        conn.execute("UPDATE documents SET year = NULL, published = NULL WHERE rowid % 23 = 0")
    return path


@pytest.fixture(scope="module")
def site(corpus):
    return Datasette([str(corpus)], metadata=yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text()),
                     plugins_dir=str(PLUGINS_DIR), template_dir=str(PLUGINS_DIR / "templates"), settings=SETTINGS)


def get(datasette, path):
    async def fetch():
        return await datasette.client.get(path)
    response = asyncio.run(fetch())
    assert response.status_code == 200, (path, response.text[:300])
    return response


LINKS = {"themes": "SELECT document_id, theme AS value FROM document_themes",
         "products": "SELECT l.document_id, e.name AS value FROM document_entities l JOIN entities e ON e.id = l.entity_id "
                     "WHERE e.type = 'product'"}


def expected(corpus, column, where, params):
    """Counts by plain SQL: list columns through their link tables, others by GROUP BY."""
    with sqlite3.connect(corpus) as conn:
        if column in LINKS:
            sql = (f"SELECT l.value, count(*) FROM ({LINKS[column]}) l JOIN documents d ON d.id = l.document_id "
                   f"WHERE {where} GROUP BY l.value")
        else:
            sql = f"SELECT d.{column}, count(*) FROM documents d WHERE {where} GROUP BY d.{column}"
        return dict(conn.execute(sql, params).fetchall())


RELEVANT = scope_clause("relevant", "d.relevance")
CASES = [  # (query string, the same filter in SQL, its parameters)
    ("", RELEVANT, []),
    ("_relevance=all", "1", []),
    ("_relevance=related&kind=paper", scope_clause("related", "d.relevance") + " AND d.kind = 'paper'", []),
    ("_theme=safety", RELEVANT + " AND d.id IN (SELECT document_id FROM document_themes WHERE theme = 'safety')", []),
    ("_theme=safety&_theme=privacy&year=2024", RELEVANT + " AND d.year = 2024 AND d.id IN (SELECT document_id FROM "
     "document_themes WHERE theme = 'safety') AND d.id IN (SELECT document_id FROM document_themes WHERE theme = 'privacy')", []),
    ("_product=ChatGPT&study_design=rct", RELEVANT + " AND d.study_design = 'rct' AND d.id IN (SELECT l.document_id FROM "
     "document_entities l WHERE l.entity_id = 'product:chatgpt')", []),
    ("relevance=off-topic", "d.relevance = 'off-topic'", []),
    # not answered by the search index: counted by SQL under the facet time limit
    ("year__gte=2024&_theme=trust", RELEVANT + " AND d.year >= 2024 AND d.id IN (SELECT document_id FROM document_themes "
     "WHERE theme = 'trust')", []),
    ("_search=chatbot", RELEVANT + " AND d.rowid IN (SELECT rowid FROM documents_fts WHERE documents_fts MATCH 'chatbot')", []),
]


@pytest.mark.parametrize("query, where, params", CASES)
def test_linked_facets_count_what_sql_counts(site, corpus, query, where, params):
    columns = ("themes", "products", "kind", "year", "study_design", "venue", "relevance")
    facets = "&".join(f"_facet_linked={c}" for c in columns)
    found = get(site, f"/{NAME}/documents.json?{facets}&_facet_size=max&_size=1&{query}").json()
    with sqlite3.connect(corpus) as conn:
        total = conn.execute(f"SELECT count(*) FROM documents d WHERE {where}", params).fetchone()[0]
    assert found["filtered_table_rows_count"] == total
    assert set(found["facet_results"]) >= {"themes", "products", "kind", "year", "study_design", "venue", "relevance"}
    for column in columns:
        counted = {row["value"]: row["count"] for row in found["facet_results"][column]["results"]}
        assert counted == expected(corpus, column, where, params), (column, query)
        counts = [row["count"] for row in found["facet_results"][column]["results"]]
        assert counts == sorted(counts, reverse=True), "most first"


def test_facet_links_keep_filters_and_select_through_the_link_table(site):
    found = get(site, f"/{NAME}/documents.json?_facet_linked=themes&kind=paper&_size=1").json()
    safety = next(r for r in found["facet_results"]["themes"]["results"] if r["value"] == "safety")
    pairs = parse_qsl(urlsplit(safety["toggle_url"]).query)
    assert ("kind", "paper") in pairs and ("_theme", "safety") in pairs and not safety["selected"]
    chosen = get(site, f"/{NAME}/documents.json?_facet_linked=themes&kind=paper&_theme=safety&_size=1").json()
    again = next(r for r in chosen["facet_results"]["themes"]["results"] if r["value"] == "safety")
    assert again["selected"] and again["count"] == chosen["filtered_table_rows_count"]
    assert ("_theme", "safety") not in parse_qsl(urlsplit(again["toggle_url"]).query), "a selected value's link removes it"
    assert "theme is Safety" in chosen["human_description_en"], "named by its label"


def test_documents_page_offers_linked_facets_and_shows_them(site):
    page = get(site, f"/{NAME}/documents").text
    assert "_facet_linked=themes" in page and "_facet_array=themes" not in page
    assert 'data-column="kind"' in page and 'data-column="year"' in page and "(linked)" not in page
    themed = get(site, f"/{NAME}/documents?_facet_linked=themes").text
    assert 'data-column="themes"' in themed and "_theme=" in themed


@pytest.mark.parametrize("scope", ["relevant", "related", "all"])
def test_picture_counts_are_the_group_by_counts(corpus, scope):
    kept = scope_clause(scope, "d.relevance")
    with sqlite3.connect(corpus) as conn:
        index = SearchIndex(conn)
        counted = index.picture_counts(scope)
        assert index.picture_counts(scope) is counted, "counted once per version of the database"
        year_kind = {(y, k): n for y, k, n in conn.execute(
            f"SELECT year, kind, count(*) FROM documents d WHERE year IS NOT NULL AND {kept} GROUP BY year, kind")}
        year_theme = {(y, t): n for y, t, n in conn.execute(
            f"SELECT d.year, t.theme, count(*) FROM document_themes t JOIN documents d ON d.id = t.document_id "
            f"WHERE d.year IS NOT NULL AND {kept} GROUP BY d.year, t.theme")}
        theme_design = {(t, s): n for t, s, n in conn.execute(
            f"SELECT t.theme, d.study_design, count(*) FROM document_themes t JOIN documents d ON d.id = t.document_id "
            f"WHERE {kept} GROUP BY t.theme, d.study_design")}
        undated = conn.execute(f"SELECT count(*) FROM documents d WHERE year IS NULL AND {kept}").fetchone()[0]
        outside = conn.execute(f"SELECT count(*) FROM documents d WHERE NOT {kept}").fetchone()[0]
    assert counted["year_kind"] == year_kind and counted["year_theme"] == year_theme
    assert counted["theme_design"] == theme_design
    assert (counted["undated"], counted["outside"]) == (undated, outside) and undated > 0 and (outside > 0 or scope == "all")


def test_evidence_map_and_charts_draw_the_counts(site, corpus):
    with sqlite3.connect(corpus) as conn:
        safety_rct = conn.execute(f"SELECT count(*) FROM document_themes t JOIN documents d ON d.id = t.document_id "
                                  f"WHERE t.theme = 'safety' AND d.study_design = 'rct' AND {RELEVANT}").fetchone()[0]
    grid = get(site, "/-/evidence-map").text
    assert f'theme=safety&amp;design=rct">{safety_rct}</a>' in grid and safety_rct > 0
    charts = get(site, "/-/charts").text
    assert "Documents per year, by kind" in charts and "without a date" in charts


def reference_order(conn, match, where):
    """Today's ranking by plain SQL: title matches first by bm25 on the title, then the rest by
    bm25 over title, summary and text (10, 3, 1); ties newest first (undated last), then rowid."""
    title = dict(conn.execute("SELECT rowid, -bm25(documents_fts) FROM documents_fts WHERE documents_fts MATCH ?",
                              ["{title} : (" + match + ")"]).fetchall())
    full = dict(conn.execute("SELECT rowid, -bm25(documents_fts, 10.0, 3.0, 1.0) FROM documents_fts "
                             "WHERE documents_fts MATCH ?", [match]).fetchall())
    kept = conn.execute(f"SELECT d.rowid, d.id, coalesce(d.published, '') FROM documents d WHERE {where}").fetchall()
    rows = [(rowid, doc, published) for rowid, doc, published in kept if rowid in full]

    def key(row):
        rowid, _, published = row
        digits = published.replace("-", "")
        date = int(digits.ljust(8, "0")) if len(digits) >= 4 else -1
        score = 1e6 + title[rowid] if rowid in title else full[rowid]
        return (-score, -date if date >= 0 else 1, rowid)
    return [doc for _, doc, _ in sorted(rows, key=key)]


SEARCHES = [  # (query string, the same filters in SQL)
    ({"q": ["chatbot"]}, RELEVANT),
    ({"q": ["therapy privacy"], "kind": ["paper"]}, RELEVANT + " AND d.kind = 'paper'"),
    ({"q": ["suicide"], "theme": ["safety"], "year_from": ["2022"], "scope": ["all"]},
     "d.id IN (SELECT document_id FROM document_themes WHERE theme = 'safety') AND d.year >= 2022"),
    ({"q": ['"language model"']}, RELEVANT),
    ({"q": ["loneliness OR psychosis"], "scope": ["related"]}, scope_clause("related", "d.relevance")),
    ({"q": ["screen*"], "page": ["2"]}, RELEVANT),
]


@pytest.mark.parametrize("args, where", SEARCHES)
def test_ranked_search_first_pages_are_todays_order_cold_and_remembered(corpus, args, where):
    from harvest.search import PAGE_SIZE, SearchRequest, fts_match, load_synonyms, parse_query, search
    synonyms = load_synonyms()
    request = SearchRequest.from_args(args)
    match = fts_match(parse_query(request.q), synonyms)
    with sqlite3.connect(corpus) as conn:
        expected_ids = reference_order(conn, match, where)
        cold = search(conn, request, synonyms)
        remembered = search(conn, request, synonyms)  # the full-text answers now come from the index's memory
    start = (request.page - 1) * PAGE_SIZE
    assert expected_ids, "the case must match something"
    assert cold["total"] == remembered["total"] == len(expected_ids)
    assert [r["id"] for r in cold["results"]] == [r["id"] for r in remembered["results"]] == \
        expected_ids[start:start + PAGE_SIZE]
    assert cold["facets"] == remembered["facets"]


def test_a_changed_database_is_searched_afresh(tmp_path):
    from harvest.search import SearchRequest, load_synonyms, search
    path = make_corpus(tmp_path / "small.db", 50)
    request = SearchRequest.from_args({"q": ["zebrafish"], "scope": ["all"]})
    with sqlite3.connect(path) as conn:
        assert search(conn, request, load_synonyms())["total"] == 0
        conn.execute("INSERT INTO documents (id, kind, title, first_seen, last_seen) VALUES "
                     "('dzebra', 'paper', 'Zebrafish and chatbots', '2026-01-01', '2026-01-01')")
        conn.commit()
        found = search(conn, request, load_synonyms())
    assert found["total"] == 1 and found["results"][0]["id"] == "dzebra"


def test_the_index_is_built_once_off_the_request_thread(tmp_path, monkeypatch):
    import harvest.search as searching
    path = make_corpus(tmp_path / "warm.db", 40)
    built = []
    original = searching.SearchIndex.__init__

    def counting(self, conn):
        built.append(1)
        original(self, conn)
    monkeypatch.setattr(searching.SearchIndex, "__init__", counting)
    searching.warm(str(path)).join(timeout=60)
    with sqlite3.connect(path) as conn:
        first = searching.index_for(conn)
        assert searching.index_for(conn) is first
    assert built == [1], "the warming thread built it; searches reuse it"


@pytest.mark.parametrize("args, where", SEARCHES[:3])
def test_matches_are_read_in_chunks_under_the_sites_length_limit(corpus, args, where, monkeypatch):
    """A broad word at a million documents gave 6 MB of rowids in one string, over the 4 MB the
    site allows a value (datasette-plugins/limits.py): the page answered 500. Read in chunks."""
    import harvest.search as searching
    monkeypatch.setattr(searching, "FTS_CHUNK", 40)
    synonyms = searching.load_synonyms()
    request = searching.SearchRequest.from_args(args)
    match = searching.fts_match(searching.parse_query(request.q), synonyms)
    with sqlite3.connect(corpus) as conn:
        expected_ids = reference_order(conn, match, where)
        longest = conn.execute("SELECT max(length(abstract)) FROM documents").fetchone()[0]
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, longest + 100)  # what 4 MB is to a million documents
        found = searching.search(conn, request, synonyms)
    with sqlite3.connect(corpus) as conn:
        matches = conn.execute("SELECT count(*) FROM documents_fts WHERE documents_fts MATCH ?", [match]).fetchone()[0]
    assert matches > 40 and expected_ids, "more matches than one chunk"
    assert found["total"] == len(expected_ids)
    assert [r["id"] for r in found["results"]] == expected_ids[:searching.PAGE_SIZE]


def test_a_large_index_answers_while_its_successor_is_built(tmp_path, monkeypatch):
    import threading
    from harvest import search as searching
    path = make_corpus(tmp_path / "big.db", 300)
    monkeypatch.setattr(searching, "STALE_AFTER", 100)  # 300 documents count as a large corpus here
    conn = sqlite3.connect(path, check_same_thread=False)
    first = searching.index_for(conn)
    writer = sqlite3.connect(path)
    writer.execute("UPDATE documents SET title = title || ' changed' WHERE rowid = 1")
    writer.commit()
    writer.close()
    started = threading.enumerate()
    assert searching.index_for(conn) is first, "the old index answers at once"
    for thread in threading.enumerate():
        if thread.name == "search-index" and thread not in started:
            thread.join(30)
    second = searching.index_for(conn)
    assert second is not first and len(second.ids) == len(first.ids) == 300
    assert searching.index_for(conn) is second
    monkeypatch.setattr(searching, "STALE_AFTER", 10_000)  # a small index is rebuilt before it answers
    conn.execute("UPDATE documents SET title = title || '!' WHERE rowid = 2")
    conn.commit()
    assert searching.index_for(conn) is not second
