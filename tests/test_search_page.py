"""The search page, whole exports, alerts, incidents to browse and tables for people, in-process
(`Datasette(...).client`) on a corpus of a few hundred documents in all four relevance states,
served under a name that is not `corpus`. Exports are parsed back (bibtexparser, rispy, json,
csv), feeds with feedparser."""

import asyncio
import csv
import io
import json
import shutil
import sqlite3
from urllib.parse import quote

import bibtexparser
import feedparser
import pytest
import rispy
import yaml
from datasette.app import Datasette

from harvest.db import transaction
from harvest import db as database
from harvest.search import fts_match, load_synonyms, parse_query, shown_query
from harvest.serve import PLUGINS_DIR, SETTINGS
from harvest.store import DocumentRecord, Provenance, save_document

import people_corpus

NAME = "evidence-2026"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("people")
    ids = people_corpus.build(folder)
    shutil.move(folder / "corpus.db", folder / f"{NAME}.db")
    return folder / f"{NAME}.db", ids


def datasette_for(path):
    return Datasette([str(path)], metadata=yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text()),
                     plugins_dir=str(PLUGINS_DIR), template_dir=str(PLUGINS_DIR / "templates"), settings=SETTINGS)


@pytest.fixture(scope="module")
def site(built):
    return datasette_for(built[0]), built[1]


def get(datasette, path):
    async def fetch():
        return await datasette.client.get(path)
    response = asyncio.run(fetch())
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return response


def count(path, sql, params=()):
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_queries_are_read_as_people_type_them():
    assert [[(t.text, t.kind) for t in c] for c in parse_query('"AI psychosis" teen OR youth therap* Character.AI')] == [
        [("AI psychosis", "phrase")], [("teen", "word"), ("youth", "word")], [("therap", "prefix")], [("Character.AI", "word")]]
    synonyms = load_synonyms()
    assert set(synonyms["teen"]) >= {"teenager", "adolescent", "14-year-old"}
    assert set(synonyms["sue"]) >= {"sues", "lawsuit", "litigation"} and set(synonyms["psychosis"]) >= {"psychotic", "delusion"}
    assert fts_match(parse_query('"AI psychosis"'), synonyms) == '"AI psychosis"', "a phrase is exact, no synonyms"
    assert fts_match(parse_query('a"b'), {}) == '"a" AND "b"'
    assert parse_query('"" ... *') == [], "nothing searchable is an empty query, not an FTS5 error"


def test_synonyms_file_errors_name_the_problem(tmp_path):
    bad = tmp_path / "synonyms.yaml"
    bad.write_text("groups:\n  - [teen, adolescent]\n  - [youth, teen]\n")
    with pytest.raises(ValueError, match="'teen' is in two groups"):
        load_synonyms(bad)
    bad.write_text("groups:\n  - teen\n")
    with pytest.raises(ValueError, match=r"synonyms.yaml line 2: groups\[1\]: expected a list"):
        load_synonyms(bad)


def test_a_journalists_search_finds_the_incident_and_its_report(site):
    datasette, ids = site
    page = get(datasette, "/-/search?q=Character.AI+teen+lawsuit").text
    assert f'href="/{NAME}/incidents/teen-companion-suicide-lawsuit"' in page
    assert f'href="/{NAME}/documents/{ids["report"]}"' in page
    assert "<mark>Character.AI</mark>" in page and "<mark>lawsuit</mark>" in page or "<mark>sues</mark>" in page
    assert 'class="content-note"' in page
    phrase = get(datasette, "/-/search?q=%22AI+psychosis%22").text
    assert f'/documents/{ids["phrase"]}"' in phrase and f'/documents/{ids["apart"]}"' not in phrase, "the phrase, not the words"
    assert f'/documents/{ids["apart"]}"' in get(datasette, "/-/search?q=AI+psychosis").text


def test_relevance_scopes_and_facets(site, built):
    datasette, ids = site
    path = built[0]
    relevant = count(path, "SELECT count(*) FROM documents WHERE relevance = 'relevant' OR relevance IS NULL")
    related = count(path, "SELECT count(*) FROM documents WHERE relevance IN ('relevant', 'related') OR relevance IS NULL")
    for scope, expected in (("", relevant), ("&scope=related", related), ("&scope=all", ids["total"])):
        assert f"<strong>{expected:,}</strong> documents" in get(datasette, f"/-/search?sort=newest{scope}").text, scope
    page = get(datasette, "/-/search?q=depression&kind=news").text
    expected = count(path, "SELECT count(*) FROM documents d JOIN documents_fts f ON f.rowid = d.rowid WHERE documents_fts "
                           "MATCH '(\"depression\" OR \"depressive\" OR \"depressed\")' AND kind = 'news' AND relevance = 'relevant'")
    assert f"<strong>{expected:,}</strong>" in page
    assert '<summary>Kind</summary>' in page and '<summary>Year</summary>' in page and '<summary>Product</summary>' in page
    assert "kind: news ✕" in page, "the active filter shows, with a way to remove it"


def test_facets_years_dates_and_guidance(site, built):
    datasette, ids = site
    page = get(datasette, "/-/search?kind=guidance&year_from=2025&scope=all").text
    assert f'/documents/{ids["guidance"]}"' in page, "guidance is dated by its current version"
    assert "<time datetime=\"2025-09-14\">" in page
    newest = get(datasette, "/-/search?q=Character.AI+teen+lawsuit&sort=newest").text
    assert newest.index(ids["report"]) < newest.index(ids["undated"]), "undated last"
    document = get(datasette, f"/{NAME}/documents/{ids['guidance']}").text
    assert 'current version of <time datetime="2025-09-14">' in document


def test_zero_results_suggest_what_to_loosen(site):
    datasette, _ = site
    page = get(datasette, "/-/search?q=depression+zzyzx&kind=news").text
    assert "No documents match" in page or "Nothing matches" in page
    assert 'q=depression&amp;kind=news">leave out zzyzx</a> (' in page
    page = get(datasette, "/-/search?q=%22Character.AI+companion%22&kind=paper").text
    assert "drop the filter kind: paper</a> (1 found)" in page
    page = get(datasette, "/-/search?q=%22AI+psychosis%22+-%22AI+psychosis%22").text
    assert page.count("anywhere, not as a phrase") == 1, "the phrase to find, never the excluded one, is offered as words"


def test_similar_documents_and_cited_by(site):
    datasette, ids = site
    page = get(datasette, f"/-/search?cited={ids['cited']}&scope=all").text
    assert "<strong>3</strong> documents" in page and "Documents citing" in page
    hit = get(datasette, "/-/search?q=%22study+0%22&scope=all").text
    assert f'?cited={ids["cited"]}">cited by 3</a>' in hit, "a result offers its citing documents"
    similar = get(datasette, f"/-/search?similar={ids['report']}").text
    assert f'/documents/{ids["undated"]}"' in similar or f'/documents/{ids["machine"]}"' in similar


@pytest.mark.parametrize("extension", ["bib", "ris", "csljson", "csv", "json"])
def test_search_exports_are_whole(site, built, extension):
    datasette, ids = site
    response = get(datasette, f"/-/search.{extension}?kind=paper&year_from=2020&scope=all")
    expected = count(built[0], "SELECT count(*) FROM documents WHERE kind = 'paper' AND year >= 2020")
    assert expected > 20 and response.headers["x-result-count"] == str(expected)
    assert f'-{expected}.{extension}"' in response.headers["content-disposition"]
    text = response.text
    parsed = {"bib": lambda: bibtexparser.parse_string(text).entries, "ris": lambda: rispy.loads(text),
              "csljson": lambda: json.loads(text), "json": lambda: json.loads(text),
              "csv": lambda: list(csv.DictReader(io.StringIO(text)))}[extension]()
    assert len(parsed) == expected


@pytest.mark.parametrize("query", ["治疗", "депрессия", "thérapie"])
def test_an_export_named_after_a_query_in_any_script_downloads(site, query):
    from urllib.parse import unquote
    datasette, _ = site
    for extension in ("json", "csv", "bib"):
        disposition = get(datasette, f"/-/search.{extension}?q={query}&scope=all").headers["content-disposition"]
        plain = disposition.split('filename="')[1].split('"')[0]
        assert plain.isascii() and plain.endswith(f".{extension}"), disposition  # headers are Latin-1
        assert query in unquote(disposition.split("filename*=UTF-8''")[1]), "browsers get the real name"


def test_table_and_query_exports_are_whole(site, built):
    datasette, ids = site
    path = built[0]
    whole = get(datasette, f"/{NAME}/documents.bib?_relevance=all")
    entries = bibtexparser.parse_string(whole.text).entries
    assert len(entries) == ids["total"] > 100 and whole.headers["x-result-count"] == str(ids["total"])
    filtered = get(datasette, f"/{NAME}/documents.ris?kind=paper&year__gte=2020&_relevance=all")
    assert len(rispy.loads(filtered.text)) == ids["papers_since_2020"]
    assert f'documents-{ids["papers_since_2020"]}.ris' in filtered.headers["content-disposition"]
    shown = count(path, "SELECT count(*) FROM documents WHERE relevance = 'relevant' OR relevance IS NULL")
    assert len(json.loads(get(datasette, f"/{NAME}/documents.csljson").text)) == shown, "exports what the page shows"
    lines = get(datasette, f"/{NAME}/documents.jsonl?_relevance=all&kind=paper")
    papers = [json.loads(line) for line in lines.text.splitlines()]
    assert len(papers) == count(path, "SELECT count(*) FROM documents WHERE kind = 'paper'") > 100
    assert f'documents-{len(papers)}.jsonl' in lines.headers["content-disposition"] and "abstract" in papers[0]
    grid = [json.loads(line) for line in get(datasette, f"/{NAME}/evidence_by_theme_and_design.jsonl").text.splitlines()]
    assert len(grid) == count(path, "SELECT count(*) FROM (SELECT 1 FROM document_themes t JOIN documents d ON "
                                    "d.id = t.document_id GROUP BY t.theme, d.study_design)") and "documents" in grid[0]
    one = get(datasette, f"/{NAME}/documents.bib?id={ids['report']}")
    assert f'filename="{ids["report"]}.bib"' in one.headers["content-disposition"]


def test_a_saved_search_is_an_alert_that_lists_new_matches(site, built):
    datasette, ids = site
    feed = feedparser.parse(get(datasette, "/-/search.atom?q=psychosis").text)
    assert not feed.bozo and feed.feed.title.endswith("search for psychosis")
    assert feed.entries and all(e.link.startswith("http") for e in feed.entries)
    assert any(e.link.endswith(ids["phrase"]) for e in feed.entries)
    copy = built[0].parent / "alerts" / f"{NAME}.db"
    copy.parent.mkdir()
    shutil.copy(built[0], copy)
    db = database.connect(copy)
    with transaction(db):
        new, _ = save_document(db, DocumentRecord(fields={"kind": "news", "title": "New report on chatbot psychosis in teens",
                                                          "abstract": "A new case of AI psychosis.", "published": "2026-02-01",
                                                          "year": 2026, "url": "https://news.example/new"},
                                                  identifiers=[("url", "https://news.example/new")]),
                               Provenance("news", "new", "2026-02-02T00:00:00Z"))
    db.conn.close()
    feed = feedparser.parse(get(datasette_for(copy), "/-/search.atom?q=psychosis").text)
    assert feed.entries[0].link.endswith(new), "newest first"
    assert feed.entries[0].updated.startswith("2026-02-02") and "AI psychosis" in feed.entries[0].summary
    table_feed = feedparser.parse(get(datasette, f"/{NAME}/documents.atom?kind=news").text)
    assert not table_feed.bozo and table_feed.entries and all("news" in e.summary for e in table_feed.entries)


def test_incidents_to_browse(site):
    datasette, ids = site
    page = get(datasette, "/-/incidents").text
    assert page.index("/incidents/chatgpt-psychosis-reports") < page.index("/incidents/teen-companion-suicide-lawsuit"), \
        "newest first report first"
    assert "teen-companion-suicide-lawsuit" in get(datasette, "/-/incidents?harm=Suicidality&product=character.ai").text
    assert "teen-companion-suicide-lawsuit" not in get(datasette, "/-/incidents?product=ChatGPT").text
    for query in ("company=Google", "place=florida", "status=litigated", "year=2024", "q=teen+lawsuit"):
        assert "/incidents/teen-companion-suicide-lawsuit" in get(datasette, f"/-/incidents?{query}").text, query
    incident = get(datasette, f"/{NAME}/incidents/teen-companion-suicide-lawsuit").text
    assert "<dt>Outcome</dt><dd>Wrongful-death lawsuit filed in federal court.</dd>" in incident
    assert "Linked by the matcher, score 0.82: product Character.AI; harm suicidality; place Florida" in incident
    assert incident.index(ids["machine"]) < incident.index(ids["undated"]), "undated reports last"
    assert "rejected:" in incident and "https://news.example/filings" in incident


def test_tables_for_people(site, built):
    datasette, ids = site
    page = get(datasette, f"/{NAME}/documents").text
    relevant = count(built[0], "SELECT count(*) FROM documents WHERE relevance = 'relevant' OR relevance IS NULL")
    assert f"<h3>{relevant:,} rows" in page and 'aria-current="true" class="on">relevant</a>' in page
    assert 'data-column="body"' not in page and 'data-column="title"' in page, "compact columns"
    assert '<span class="chip">' in page and '<details class="column-help">' in page
    facet_page = get(datasette, f"/{NAME}/documents?kind=paper").text
    years = [int(y) for y in __import__("re").findall(r'year=(\d{4})[^"]*">\d{4}</a>', facet_page)]
    assert years == sorted(years, reverse=True) and len(years) > 3, "year facet in year order"
    count_by = facet_page[facet_page.index("Count by"):facet_page.index("search page</a></span></nav>")]
    assert count_by.count("kind=paper") == 5, "facet links keep the filters"
    everything = get(datasette, f"/{NAME}/documents?_relevance=all").text
    assert f"<h3>{ids['total']:,} rows" in everything
    own = get(datasette, f"/{NAME}/documents?relevance=off-topic").text
    assert f"<h3>{ids['relevance']['off-topic']:,} rows" in own, "an explicit relevance filter replaces the default"
    searched = json.loads(get(datasette, f"/{NAME}/documents.json?_search=psychos*+OR+delusion&_relevance=all&_shape=array").text)
    assert searched and get(datasette, f"/{NAME}/documents?_search=%22AI+psychosis%22").text.count("<tr") >= 2


def test_any_database_name_works(site):
    datasette, _ = site
    home = get(datasette, "/").text
    assert f'href="/{NAME}/documents"' in home and 'href="/corpus/' not in home
    canned = get(datasette, f"/{NAME}/search_news?q=lawsuit&outlet=&year=&product=&harm=&scope=").text
    assert "<mark>lawsuit</mark>" in canned and "[lawsuit]" not in canned, "snippets marked, not bracketed"
    assert f'<a href="/{NAME}/documents/' in canned
    for link in (f"/{NAME}/documents", f"/{NAME}/search_documents?q=chatbot&kind=&theme=&year=&scope=", "/-/evidence-map",
                 "/-/charts", f"/{NAME}/changes", "/-/feeds/documents.atom"):
        get(datasette, link)


def test_pictures_read(site):
    datasette, ids = site
    charts = get(datasette, "/-/charts").text
    assert 'width="760"' not in charts and 'viewBox="0 0 760' in charts, "responsive"
    assert '<a href="/-/search?kind=' in charts, "bars open their documents"
    assert "without a date" in charts and "Years start at 2019" in charts
    graph = get(datasette, f"/-/graph?node=document:{ids['report']}").text
    assert 'class="graph-key"' in graph and 'width="640"' not in graph
    grid = get(datasette, "/-/evidence-map").text
    assert "Randomised controlled trial" in grid and ">rct<" not in grid and 'class="scroll-x"' in grid


def test_hostile_text_stays_inert(site):
    datasette, ids = site
    for path in ("/-/search?q=chatbot+depression&scope=all", "/-/search.atom?q=chatbot", f"/{NAME}/documents?_search=chatbot",
                 "/-/incidents", f"/-/search?similar={ids['hostile']}"):
        body = get(datasette, path).text
        assert "<script>alert(1)</script>" not in body and "<img src=x" not in body and "<b>News</b>" not in body, path
    for path in ("/-/search.atom?q=%00", "/-/search.atom?q=a%01b", "/-/search.atom?q=chatbot%EF%BF%BE",
                 f"/{NAME}/documents.atom?_search=%01", f"/{NAME}/documents.atom?kind=%01"):
        answer = get(datasette, path)  # a control character typed into a search stays out of the feed's XML
        assert answer.status_code == 200 and not feedparser.parse(answer.text).bozo, path


STRAY_SYNTAX = ['"', '""', "*", "-", "OR", "OR OR", "...", "NEAR(", ":", "(((", "-psychosis", "NOT psychosis", "{title}:", '<>"&']
MEANT = ['psychosis "', '"AI psychosis', "psychosis OR", "OR psychosis", "title:psychosis", 'title:"AI psychosis"',
         "NEAR(AI psychosis, 5)", "Character.AI -zzyzx", '- "AI psychosis"', "psychosis -relapse", "(teen OR youth) suicide*"]


def _found(datasette, q):
    """(search page total, documents table's own box total, table ids == page ids) for one query, everything in scope."""
    page = get(datasette, f"/-/search.json?q={quote(q)}&scope=all").json()
    table = get(datasette, f"/{NAME}/documents.jsonl?_search={quote(q)}&_relevance=all").text.splitlines()
    return len(page), len(table), {r["id"] for r in page} == {json.loads(line)["id"] for line in table}


@pytest.mark.parametrize("q", STRAY_SYNTAX)
def test_stray_syntax_finds_nothing_in_either_box(site, q):
    datasette, _ = site
    assert _found(datasette, q) == (0, 0, True), "garbage never finds everything, and is never an FTS5 error"
    page = get(datasette, f"/-/search?q={quote(q)}").text
    assert "Nothing to search for" in page and "<strong>0</strong> documents" in page
    table = get(datasette, f"/{NAME}/documents?_search={quote(q)}&_relevance=all").text
    assert "Nothing to search for" in table and "0 rows" in table
    incidents = get(datasette, f"/-/incidents?q={quote(q)}").text
    assert "Nothing to search for" in incidents and "<strong>0</strong> incidents" in incidents
    if q == '<>"&':
        assert all("<code>&lt;&gt;&#34;&amp;</code>" in body for body in (page, table, incidents)), "what was typed stays text"


@pytest.mark.parametrize("q", MEANT)
def test_both_search_boxes_read_a_query_alike(site, q):
    datasette, _ = site
    page_total, table_total, same = _found(datasette, q)
    assert page_total == table_total > 0 and same, q
    assert "Nothing to search for" not in get(datasette, f"/{NAME}/documents?_search={quote(q)}").text


def test_stray_syntax_is_read_as_a_person_means_it():
    def read(q):
        return shown_query(parse_query(q))
    assert read('psychosis "') == "psychosis" and read('"AI psychosis') == '"AI psychosis"'
    assert read("teen OR") == read("OR teen") == "teen" and read("teen OR OR youth") == "teen OR youth"
    assert read("title:psychosis") == "psychosis" and read("psychosis: a review") == "psychosis a review"
    assert read("NEAR(teen psychosis, 5)") == "teen psychosis" and read("10:30 24/7") == "10:30 24/7"
    assert read('-"AI psychosis" teen') == '-"AI psychosis" teen' and read("teen NOT youth") == "teen -youth"
    assert fts_match(parse_query("teen -youth"), {}) == '("teen") NOT ("youth")'
    assert fts_match(parse_query("-youth"), {}) == '""', "only exclusions: nothing to look for"


def test_snippets_are_readable_text_for_every_kind_of_column():
    from harvest.search import MARK_CLOSE, MARK_OPEN, readable_snippet, readable_text
    assert readable_text('["psychosis", "delusions"]') == "psychosis, delusions"
    assert readable_text('{"court": "M.D. Fla.", "filed": "2024-10-22", "parties": ["Garcia", null], "age": 14}') == \
        "court: M.D. Fla.; filed: 2024-10-22; parties: Garcia; age: 14"
    assert readable_text(f'[{MARK_OPEN}14{MARK_CLOSE}, "x"]') == "14, x", "a mark around a number: text without the mark"
    assert readable_text("[not json") == "[not json" and readable_text("plain") == "plain" and readable_text(None) == ""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(title, summary, harms, detail)")
    hostile = '<script>alert(1)</script>'
    conn.execute("INSERT INTO t VALUES (?, ?, ?, ?)", ["A case", f"A report of AI psychosis {hostile}",
                                                        json.dumps(["psychosis", hostile, "self-harm"]),
                                                        json.dumps({"court": hostile, "harm": "psychosis", "age": 14})])
    conn.execute("INSERT INTO t VALUES ('Another', 'Nothing here', ?, '{}')", [json.dumps(["psychosis \x02odd"])])
    shown = str(readable_snippet(conn, "t", 1, '"psychosis"'))
    assert shown.startswith("A report of AI <mark>psychosis</mark>") and '["' not in shown and '{"' not in shown
    assert "harms: <mark>psychosis</mark>, &lt;script&gt;alert(1)&lt;/script&gt;, self-harm" in shown
    assert "detail: court: &lt;script&gt;alert(1)&lt;/script&gt;; harm: <mark>psychosis</mark>; age: 14" in shown
    assert "<script>" not in shown
    assert str(readable_snippet(conn, "t", 2, '"psychosis"')) == "harms: <mark>psychosis</mark> odd", \
        "only a JSON column matched; a mark character the text held is dropped"
    assert readable_snippet(conn, "t", 2, '"report"') is None
    conn.execute("INSERT INTO t VALUES ('[Chatbots and psychosis].', '[This corrects the article on psychosis.]', '', '')")
    bracketed = str(readable_snippet(conn, "t", 3, '"psychosis"'))  # PubMed's translated titles open with a bracket
    assert bracketed in ("[Chatbots and <mark>psychosis</mark>].", "[This corrects the article on <mark>psychosis</mark>.]")
    assert "title:" not in bracketed and "summary:" not in bracketed


def test_incident_snippets_on_the_search_page_are_readable(site):
    datasette, _ = site
    page = get(datasette, "/-/search?q=Google").text
    section = page[page.index('class="incidents"'):page.index("</section>", page.index('class="incidents"'))]
    assert "companies: Character Technologies, <mark>Google</mark>" in section
    assert "[&#34;" not in section and "[&quot;" not in section and '["' not in section
    page = get(datasette, "/-/search?q=suicidality").text
    assert "harms: <mark>suicidality</mark>" in page


def test_json_exports_are_whole_and_the_api_json_stays_paged(site, built):
    datasette, ids = site
    path = built[0]
    papers = count(path, "SELECT count(*) FROM documents WHERE kind = 'paper'")
    whole = get(datasette, f"/{NAME}/documents.alljson?_relevance=all&kind=paper")
    rows = json.loads(whole.text)
    assert len(rows) == papers > 100 and {r["kind"] for r in rows} == {"paper"} and "abstract" in rows[0]
    assert whole.headers["x-result-count"] == str(papers) and whole.headers["content-type"].startswith("application/json")
    assert f'filename="documents-{papers}.json"' in whole.headers["content-disposition"]
    api = get(datasette, f"/{NAME}/documents.json?_relevance=all&kind=paper").json()
    assert len(api["rows"]) < papers and api["next_url"], "Datasette's API .json keeps its pages for API clients"
    sql = quote("select id, title from documents order by id")
    everything = json.loads(get(datasette, f"/{NAME}.alljson?sql={sql}").text)
    assert [r["id"] for r in everything] == sorted(ids_ for (ids_,) in sqlite3.connect(path).execute("SELECT id FROM documents"))
    canned = get(datasette, f"/{NAME}/evidence_by_theme_and_design.alljson")
    assert len(json.loads(canned.text)) == int(canned.headers["x-result-count"]) > 0
    nothing = get(datasette, f"/{NAME}/documents.alljson?kind=no-such-kind")
    assert json.loads(nothing.text) == [] and 'documents-0.json' in nothing.headers["content-disposition"]


def test_similar_documents_blend_wording_with_shared_facts_and_say_why(site):
    datasette, ids = site
    page = get(datasette, f"/-/search?similar={ids['report']}").text
    first = page.index('<ol class="hits" start="1">')
    assert "Character.AI adds safety features for teenagers" in page[first:first + 3000]
    assert '<p class="why">Similar: similar wording: ' in page and "entities: Character.AI" in page
    assert f'/documents/{ids["report"]}"' not in page[first:], "a document is not its own neighbour"


def test_similar_documents_find_shared_wording_alone(tmp_path):
    from harvest import similar
    db = database.connect(tmp_path / "words.db")
    texts = {"focus": ("Hallucinated medication doses in chatbot counselling transcripts",
                       "Transcripts showed hallucinated medication doses and invented dosage tables."),
             "twin": ("Invented dosage tables from a counselling chatbot", "Hallucinated medication doses recur in transcripts."),
             "far": ("Loneliness among older adults", "A survey of loneliness and social contact in care homes.")}
    texts.update({f"filler{n}": (f"Chatbot counselling note {n}", "A chatbot in counselling; nothing about medicines.")
                  for n in range(30)})
    ids = {}
    with transaction(db):
        for key, (title, abstract) in texts.items():
            ids[key], _ = save_document(db, DocumentRecord(fields={"kind": "paper", "title": title, "abstract": abstract},
                                                           identifiers=[("url", f"https://x.example/{key}")]),
                                        Provenance("import", key, "2026-01-01T00:00:00Z"))
    conn = db.conn
    words = similar.wording(conn, ids["focus"])
    assert {"hallucinated", "medication", "doses", "dosage"} <= set(words.words.values())
    assert "chatbot" not in words.words.values(), "a word in most documents says little and is not searched"
    rowid_of = dict(conn.execute("SELECT rowid, id FROM documents").fetchall())
    found = [rowid_of[r] for r, _ in similar.similar_documents(conn, ids["focus"])]
    assert found[0] == ids["twin"] and ids["far"] not in found and ids["focus"] not in found
    why = similar.why_similar(conn, ids["focus"], [ids["twin"]])[ids["twin"]]
    assert why[0].startswith("similar wording: ") and "medication" in why[0] and not any(w.startswith("themes") for w in why)
    budget = similar.POSTINGS_BUDGET
    try:
        similar.POSTINGS_BUDGET = 2
        similar._WORDINGS.clear()
        assert len(similar.wording(conn, ids["focus"]).words) <= 1, "the words searched stay within the postings budget"
    finally:
        similar.POSTINGS_BUDGET = budget
        similar._WORDINGS.clear()
    assert similar.similar_documents(conn, "no-such-document") == [] and similar.why_similar(conn, ids["focus"], []) == {}
