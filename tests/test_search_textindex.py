"""The text index (harvest.textindex, Tantivy) answers the search page as FTS5 does: the same
documents, totals and facets for words, synonyms, phrases, prefixes, OR and exclusions, under every
filter and scope; dates in the same order; the title tier first; and a stale or missing index is
never used (FTS5 answers), on a corpus of a few hundred documents in all relevance states."""

import asyncio
import shutil
import sqlite3

import pytest
import yaml
from click.testing import CliRunner
from datasette.app import Datasette

from harvest import search, textindex
from harvest.cli import main
from harvest.db import transaction
from harvest import db as database
from harvest.search import SearchRequest, load_synonyms, ordered_ids, parse_query
from harvest.serve import PLUGINS_DIR, SETTINGS
from harvest.store import DocumentRecord, Provenance, save_document

import people_corpus

QUERIES = ["chatbot", "Character.AI teen", '"AI psychosis"', "psychos*", "chatbot -depression", "suicide OR psychosis",
           "mental health", "lawsuit", "depression NOT chatbot", '"mental health" chatbot', "nothingmatchesthis"]
FILTERS = [{}, {"scope": "all"}, {"scope": "related"}, {"kinds": ["news"]}, {"kinds": ["paper", "NEWS"]},
           {"year_from": 2024}, {"year_to": 2024}, {"themes": ["safety"]}, {"design": "none"},
           {"product": "character.ai"}, {"outlet": "example news"}, {"sort": "newest"}, {"sort": "oldest"}]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("textindex")
    people_corpus.build(folder)
    return folder / "corpus.db"


def indexed_copy(corpus, folder):
    """A copy of the corpus with its text index built."""
    copy = folder / "corpus.db"
    shutil.copy(corpus, copy)
    conn = sqlite3.connect(copy)
    textindex.build(conn, search.index_for(conn))
    conn.close()
    return copy


def with_index(corpus):
    """The corpus's facts and text index (built unless it is current), on a connection left open."""
    conn = sqlite3.connect(corpus)
    facts = search.index_for(conn)
    if textindex.current(conn, facts) is None:
        textindex.build(conn, facts)
    return conn, facts, textindex.current(conn, facts)


def answers(path, request):
    conn = sqlite3.connect(path)
    try:
        found = search.search(conn, request)
        found["all"] = ordered_ids(conn, request)
        return found
    finally:
        conn.close()


def test_the_text_index_finds_counts_and_filters_as_fts5_does(corpus):
    shutil.rmtree(textindex.directory_for(corpus), ignore_errors=True)
    requests = [SearchRequest(q=q, **f) for q in QUERIES for f in FILTERS]
    expected = [answers(corpus, r) for r in requests]
    assert {e["engine"] for e in expected} == {"fts5"}, "no index yet: FTS5 answers"
    assert sum(e["total"] > 0 for e in expected) > len(requests) // 2, "most requests find something"
    conn = sqlite3.connect(corpus)
    textindex.build(conn, search.index_for(conn))
    conn.close()
    for request, before in zip(requests, expected):
        after = answers(corpus, request)
        assert after["engine"] == "tantivy"
        shown = (request.q, request.args())
        assert after["total"] == before["total"], shown
        assert sorted(after["all"]) == sorted(before["all"]), shown
        assert after["facets"] == before["facets"], shown
        assert len(after["results"]) == len(before["results"]), shown
        assert after["suggestions"] == before["suggestions"], shown
        if request.sort != "relevance":  # the same dates in the same order (ties may fall either way)
            dates = {r["id"]: r["date"] for r in before["results"] + after["results"]}
            assert [dates[r["id"]] for r in after["results"]] == [dates[r["id"]] for r in before["results"]], shown
        snippets = {r["id"]: r["snippet"] for r in before["results"]}
        assert all(r["snippet"] == snippets[r["id"]] for r in after["results"] if r["id"] in snippets), shown


def test_title_matches_come_first_and_snippets_are_marked(corpus):
    conn, _, _ = with_index(corpus)
    try:
        found = search.search(conn, SearchRequest(q="psychosis", scope="all"))
        assert found["engine"] == "tantivy"
        titled = ["psychosis" in (r["title"] or "").lower() or "psychotic" in (r["title"] or "").lower()
                  or "delusion" in (r["title"] or "").lower() for r in found["results"]]
        assert titled == sorted(titled, reverse=True) and titled[0], "every title match before the others"
        assert all("<mark>" in r["snippet"] for r in found["results"][:3])
        second = search.search(conn, SearchRequest(q="psychosis", scope="all", page=2))
        assert not {r["id"] for r in second["results"]} & {r["id"] for r in found["results"]}
    finally:
        conn.close()


def test_a_stale_index_is_never_used(corpus, tmp_path):
    copy = indexed_copy(corpus, tmp_path)
    conn = sqlite3.connect(copy)
    assert search.search(conn, SearchRequest(q="zeugma"))["total"] == 0
    conn.close()
    db = database.connect(copy)
    with transaction(db):
        save_document(db, DocumentRecord(fields={"kind": "news", "title": "Zeugma chatbot study", "abstract": "zeugma",
                                                 "url": "https://z.example/1", "published": "2025-01-01"},
                                         identifiers=[("url", "https://z.example/1")]),
                      Provenance("news", "https://z.example/1", "2025-07-01T00:00:00Z", url="https://z.example/1"))
    db.conn.close()
    conn = sqlite3.connect(copy)
    try:
        facts = search.index_for(conn)
        assert textindex.current(conn, facts) is None, "the database changed: the index is stale"
        found = search.search(conn, SearchRequest(q="zeugma"))
        assert found["engine"] == "fts5" and found["total"] == 1, "FTS5 answers, with the new document"
        textindex.build(conn, facts)
        found = search.search(conn, SearchRequest(q="zeugma"))
        assert found["engine"] == "tantivy" and found["total"] == 1
    finally:
        conn.close()


def test_an_edited_abstract_makes_the_index_stale(corpus, tmp_path):
    copy = indexed_copy(corpus, tmp_path)
    db = database.connect(copy)  # brings the schema (and its change counters) up to date, as any harvest does
    with transaction(db):
        db.execute("UPDATE documents SET abstract = coalesce(abstract, '') || ' quokka' WHERE rowid = (SELECT min(rowid) FROM documents)")
    db.conn.close()
    conn = sqlite3.connect(copy)
    try:
        found = search.search(conn, SearchRequest(q="quokka", scope="all"))
        assert found["engine"] == "fts5" and found["total"] == 1
    finally:
        conn.close()


def test_search_index_command_builds_reports_and_refuses_clearly(corpus, tmp_path):
    copy = tmp_path / "corpus.db"
    shutil.copy(corpus, copy)
    runner = CliRunner()
    result = runner.invoke(main, ["search-index", str(copy)])
    assert result.exit_code == 0, result.output
    assert "documents in" in result.output and textindex.directory_for(copy).is_dir()
    result = runner.invoke(main, ["search-index", str(copy)])
    assert result.exit_code == 0 and "up to date" in result.output
    result = runner.invoke(main, ["search-index", str(tmp_path / "missing.db")])
    assert result.exit_code != 0 and "does not exist" in result.output
    blocked = tmp_path / "blocked.db"
    shutil.copy(corpus, blocked)
    textindex.directory_for(blocked).write_text("a file where the folder would go")
    result = runner.invoke(main, ["search-index", str(blocked)])
    assert result.exit_code != 0 and "cannot write the text index" in result.output
    assert not list(tmp_path.glob("blocked.db.search.building-*")), "nothing half-built is left behind"


def test_a_failed_background_build_is_reported_once_and_fts5_answers(corpus, tmp_path, capsys):
    blocked = tmp_path / "blocked.db"
    shutil.copy(corpus, blocked)
    textindex.directory_for(blocked).write_text("not a folder")
    textindex.build_soon(str(blocked), wait=True)
    assert "could not be built" in capsys.readouterr().err
    textindex.build_soon(str(blocked), wait=True)
    assert capsys.readouterr().err == "", "not retried for the same version of the database"
    conn = sqlite3.connect(blocked)
    try:
        assert search.search(conn, SearchRequest(q="chatbot"))["engine"] == "fts5"
    finally:
        conn.close()


def test_the_search_page_and_its_exports_use_the_index(corpus):
    with_index(corpus)[0].close()
    datasette = Datasette([str(corpus)], metadata=yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text()),
                          plugins_dir=str(PLUGINS_DIR), template_dir=str(PLUGINS_DIR / "templates"), settings=SETTINGS)

    async def fetch(path):
        return await datasette.client.get(path)
    page = asyncio.run(fetch("/-/search?q=%22AI+psychosis%22"))
    assert page.status_code == 200 and "<mark>AI psychosis</mark>" in page.text
    exported = asyncio.run(fetch("/-/search.json?q=chatbot&scope=all"))
    assert exported.status_code == 200


def test_queries_become_tantivy_queries_with_fts5_tokens(corpus):
    conn, facts, engine = with_index(corpus)
    conn.close()
    synonyms = load_synonyms()
    assert engine.text_query(parse_query('"" -chatbot'), synonyms) == (None, None), "only an exclusion: nothing"
    assert engine.text_query(parse_query('"..."'), synonyms) == (None, None)
    assert engine.count(facts, SearchRequest(q="Café"), parse_query("Café"), synonyms) == \
        engine.count(facts, SearchRequest(q="cafe"), parse_query("cafe"), synonyms), "accents folded, as FTS5 does"


def test_a_broad_query_is_counted_on_samples_and_says_so(corpus, monkeypatch, tmp_path):
    monkeypatch.setattr(textindex, "RUN", 1)  # a few hundred documents: samples of single rowids, not runs
    corpus = indexed_copy(corpus, tmp_path)
    conn = sqlite3.connect(corpus)
    exact = search.search(conn, SearchRequest(q="chatbot", scope="all"))
    assert exact["estimated"] is None
    monkeypatch.setattr(textindex, "EXACT_UNDER", 10)
    monkeypatch.setattr(textindex, "SAMPLE_TARGET", 20)
    broad = SearchRequest(q="chatbot", scope="all", sort="newest")
    sampled = search.search(conn, broad)
    conn.close()
    assert 0 < sampled["estimated"] < 1, "counted on a share of the samples"
    shares = {textindex.sample_of(rowid) for rowid in range(1, 2000)}
    assert shares == set(range(textindex.SAMPLES)), "every sample holds documents"
    assert exact["total"] / 4 < sampled["total"] < exact["total"] * 4, (exact["total"], sampled["total"])
    assert sampled["results"], "the page itself is whole: top-ranked, not sampled"
    datasette = Datasette([str(corpus)], metadata=yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text()),
                          plugins_dir=str(PLUGINS_DIR), template_dir=str(PLUGINS_DIR / "templates"), settings=SETTINGS)

    async def fetch(path):
        return await datasette.client.get(path)
    page = asyncio.run(fetch("/-/search?q=chatbot&scope=all&sort=newest"))
    assert page.status_code == 200
    assert "<strong>about " in page.text and "estimated from a sample of" in page.text


@pytest.mark.parametrize("damage", ["segments", "record"])
def test_a_damaged_index_is_set_aside_fts5_answers_and_a_build_repairs_it(corpus, tmp_path, capsys, damage):
    copy = indexed_copy(corpus, tmp_path)
    directory = textindex.directory_for(copy)
    conn = sqlite3.connect(copy)
    try:
        expected = search.search(conn, SearchRequest(q="chatbot"))
        assert expected["engine"] == "tantivy"
        textindex._OPENED.clear()
        if damage == "segments":  # the index's files gone (a disk cleaned up, a copy cut short)
            for path in directory.iterdir():
                if path.suffix == ".idx":
                    path.unlink()
        else:  # its meta.json cut short
            meta = directory / "meta.json"
            meta.write_text(meta.read_text()[:40])
        found = search.search(conn, SearchRequest(q="chatbot"))
        assert found["engine"] == "fts5" and found["total"] == expected["total"], "FTS5 answers the same search"
        assert ordered_ids(conn, SearchRequest(q="chatbot")), "exports too"
        said = capsys.readouterr().err
        assert said.count("cannot be read") == 1 and "harvest search-index --force" in said, said
        result = CliRunner().invoke(main, ["search-index", str(copy)])
        assert result.exit_code == 0 and "up to date" not in result.output, result.output
        assert search.search(conn, SearchRequest(q="chatbot"))["engine"] == "tantivy", "built again, it is used again"
    finally:
        conn.close()


def test_an_acronym_and_its_plural_find_what_fts5_finds(corpus, tmp_path):
    copy = tmp_path / "corpus.db"
    shutil.copy(corpus, copy)
    db = database.connect(copy)
    with transaction(db):
        for n, (title, abstract) in enumerate([("LLMs as counsellors", "Large language models in therapy."),
                                               ("An LLM for crisis lines", "One model, one line."),
                                               ("RCTs of chatbot therapy", "Three RCT designs compared.")]):
            url = f"https://acronym.example/{n}"
            save_document(db, DocumentRecord(fields={"kind": "paper", "title": title, "abstract": abstract, "url": url,
                                                     "published": "2025-01-01", "relevance": "relevant"},
                                             identifiers=[("url", url)]),
                          Provenance("news", url, "2025-07-01T00:00:00Z", url=url))
    db.conn.close()
    conn = sqlite3.connect(copy)
    try:
        facts = search.index_for(conn)
        fts5 = {q: search.search(conn, SearchRequest(q=q, scope="all"))["total"] for q in ("LLM", "LLMs", "RCT", "RCTs")}
        textindex.build(conn, facts)
        for query, expected in fts5.items():
            found = search.search(conn, SearchRequest(q=query, scope="all"))
            assert found["engine"] == "tantivy" and found["total"] == expected, (query, found["total"], expected)
        assert fts5["LLMs"] >= 2 and fts5["RCT"] == fts5["RCTs"] == 1, fts5  # (LLM has synonyms: more)
        assert textindex.acronym_forms("LLMs") == ["LLM"] and textindex.acronym_forms("news") == []
    finally:
        conn.close()
