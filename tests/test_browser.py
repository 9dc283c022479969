"""Browser tests: Debian's Chromium, driven by Playwright, against `harvest serve` on 127.0.0.1,
serving a corpus of a few hundred documents under a name that is not `corpus`.

An analyst's path and a journalist's path, each at a desktop width (1280 px) and a phone width
(390 px): no JavaScript errors on the way, no page wider than the phone, exports that hold every
matching row (parsed back), alerts that feedparser reads, and hostile text from the web that never
runs. Screenshots are saved under test-output/screenshots/ (git-ignored) for a person to look at.
"""

import shutil
import sqlite3
from pathlib import Path

import bibtexparser
import feedparser
import pytest
import rispy

from conftest import harvest_serve

import people_corpus

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"
NAME = "evidence-2026"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
# As the machine's notes advise: no background networking on a closed network, no sandbox as root.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    ids = people_corpus.build(folder)
    path = folder / f"{NAME}.db"
    shutil.move(folder / "corpus.db", path)
    with harvest_serve(path) as base:
        yield base, ids, path


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(params=list(WIDTHS))
def page(request, browser):
    context = browser.new_context(viewport=WIDTHS[request.param], is_mobile=request.param == "phone")
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    opened = context.new_page()
    opened.width_name = request.param
    opened.problems = []
    opened.on("console", lambda message: message.type == "error" and opened.problems.append(message.text))
    opened.on("pageerror", lambda error: opened.problems.append(str(error)))
    opened.on("dialog", lambda dialog: (opened.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    yield opened
    context.close()


def look(page, name):
    """Check the page as a reader would meet it, then keep a screenshot of it."""
    page.wait_for_load_state()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow} px wider than the {page.width_name} screen"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{page.width_name}-{name}.png"), full_page=True)


def fetch(page, base, link):
    return page.request.get(link if link.startswith("http") else base + link)


def count(path, sql):
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchone()[0]


def test_an_analysts_path(server, page):
    base, ids, path = server
    page.goto(base + "/")
    look(page, "analyst-01-home")
    page.click(f"a[href='/{NAME}/documents']")
    relevant = count(path, "SELECT count(*) FROM documents WHERE relevance = 'relevant' OR relevance IS NULL")
    assert page.locator("h3").first.inner_text().startswith(f"{relevant:,} rows")
    first_row = page.locator("table.rows-and-columns tbody tr").first.bounding_box()
    assert first_row and first_row["y"] < 2600, "the rows come before the column help"
    look(page, "analyst-02-documents")
    page.click("nav.switches a:text('everything')")
    assert page.locator("h3").first.inner_text().startswith(f"{ids['total']:,} rows")
    page.click("#facet-kind a:text('paper')")
    page.wait_for_load_state()
    assert "kind" in page.url and "_relevance=all" in page.url, "a facet link keeps the switch"
    look(page, "analyst-03-papers")
    papers = count(path, "SELECT count(*) FROM documents WHERE kind = 'paper'")
    bib = fetch(page, base, page.locator("p.export-links a:text('bib')").get_attribute("href"))
    assert len(bibtexparser.parse_string(bib.text()).entries) == papers > 100, "the export is whole"

    page.goto(base + "/-/search?kind=guidance&year_from=2025&scope=all")
    assert page.locator(f"a[href='/{NAME}/documents/{ids['guidance']}']").count() == 1, "guidance since 2025, dated by its version"
    look(page, "analyst-04-guidance-since-2025")
    ris = fetch(page, base, page.locator(".exports a:text('RIS')").get_attribute("href"))
    shown = int(page.locator("p.count strong").inner_text().replace(",", ""))
    assert len(rispy.loads(ris.text())) == shown == int(ris.headers["x-result-count"])

    page.goto(base + "/-/charts")
    look(page, "analyst-05-charts")
    page.locator("figure.chart a").first.click()
    page.wait_for_load_state()
    assert "/-/search?" in page.url and page.locator("ol.hits li.hit").count() >= 1, "a bar opens its documents"
    page.goto(base + "/-/evidence-map")
    look(page, "analyst-06-evidence-map")
    page.locator("table.evidence-map td a").first.click()
    page.wait_for_load_state()
    assert page.locator("ol.hits li.hit").count() >= 1
    look(page, "analyst-07-evidence-map-cell")
    assert page.problems == [], page.problems


def test_a_journalists_path(server, page):
    base, ids, _ = server
    page.goto(base + "/")
    page.click("a[href='/-/search']")
    page.fill("input[name=q]", "Character.AI teen lawsuit")
    page.click("form.search-box button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("section.incidents a.title").first.inner_text().startswith("Teenager's suicide")
    assert page.locator(f"ol.hits a.title[href='/{NAME}/documents/{ids['report']}']").count() == 1
    assert page.locator("ol.hits mark").count() >= 2 and page.locator(".content-note").count() == 1
    look(page, "journalist-01-search")
    page.click("section.incidents a.title")
    page.wait_for_load_state()
    assert "score 0.82" in page.locator("ol.timeline").inner_text()
    look(page, "journalist-02-incident")
    page.locator("details.wrong-match summary").first.click()
    assert "rejected:" in page.locator("details.wrong-match pre").first.inner_text()

    page.goto(base + "/-/search?q=%22AI+psychosis%22")
    titles = page.locator("ol.hits a.title").all_inner_texts()
    assert titles == ["Psychiatrists warn of AI psychosis among heavy chatbot users"], "the phrase, not the words"
    look(page, "journalist-03-phrase")
    feed = feedparser.parse(fetch(page, base, page.locator("a.feed").get_attribute("href")).text())
    assert not feed.bozo and [e.title for e in feed.entries] == titles

    page.goto(base + "/-/search?q=chatbot+zzyzx")
    assert page.locator(".nothing a").count() >= 1, "nothing found suggests what to loosen"
    look(page, "journalist-04-nothing-found")
    page.locator(".nothing a").first.click()
    page.wait_for_load_state()
    assert page.locator("ol.hits li.hit").count() >= 1

    page.goto(base + "/-/incidents")
    look(page, "journalist-05-incidents")
    page.click("aside.facets a:text('Character.AI')")
    page.wait_for_load_state()
    assert page.locator("ol.hits li.hit").count() == 1
    page.goto(f"{base}/-/graph?node=document:{ids['report']}")
    assert page.locator("figure.evidence-graph svg circle").count() >= 2 and page.locator("ol.graph-key li").count() >= 2
    look(page, "journalist-06-graph")
    page.goto(f"{base}/{NAME}/documents/{ids['report']}")
    page.click("details.cite summary")
    assert page.locator("details.cite p.apa").is_visible()
    page.click("details.cite button[data-copy=cite-bibtex]")
    page.wait_for_function("document.querySelector('button[data-copy=cite-bibtex]').textContent == 'Copied'")
    look(page, "journalist-07-document")
    assert page.problems == [], page.problems


def test_hostile_text_stays_text(server, page):
    base, ids, _ = server
    page.goto(f"{base}/{NAME}/documents/{ids['hostile']}")
    assert page.locator("article.evidence-record h1").inner_text() == people_corpus.HOSTILE
    for path in ("/-/search?q=chatbot+depression", f"/{NAME}/documents?_search=chatbot", "/-/search?q=onerror"):
        page.goto(base + path)
        assert page.locator("main script, .search-page script, img[src=x], .search-page b").count() == 0
    look(page, "hostile-text")
    assert page.problems == [], "nothing ran: no alert, no error"


def test_an_analysts_similar_documents_and_whole_json(server, page):
    base, ids, path = server
    page.goto(base + "/-/search?q=Character.AI+teen+lawsuit")
    page.locator(f"ol.hits li.hit:has(a.title[href='/{NAME}/documents/{ids['report']}']) a:text('similar documents')").click()
    page.wait_for_load_state()
    assert "similar=" in page.url and page.locator("ol.hits li.hit").count() >= 3
    why = page.locator("ol.hits li.hit p.why").all_inner_texts()
    assert why and why[0].startswith("Similar: similar wording: "), why[:2]
    assert any("entities: Character.AI" in line for line in why)
    look(page, "analyst-08-similar-documents")
    page.goto(f"{base}/{NAME}/documents?kind=paper&_relevance=all")
    papers = count(path, "SELECT count(*) FROM documents WHERE kind = 'paper'")
    whole = fetch(page, base, page.locator("p.export-links a:text('alljson')").get_attribute("href"))
    import json
    assert len(json.loads(whole.text())) == papers == int(whole.headers["x-result-count"]) > 100, "the JSON export is whole"
    assert page.problems == [], page.problems


def test_a_journalists_stray_syntax_and_readable_incident_snippets(server, page):
    base, ids, _ = server
    page.goto(base + "/-/search")
    page.fill("input[name=q]", "Google")
    page.click("form.search-box button[type=submit]")
    page.wait_for_load_state()
    snippet = page.locator("section.incidents p.snippet").first.inner_text()
    assert snippet.startswith("companies: Character Technologies, Google") and '["' not in snippet, snippet
    look(page, "journalist-08-incident-snippet")
    for typed in ('"', "OR", "NEAR(", "-psychosis"):
        page.goto(base + "/-/search")
        page.fill("input[name=q]", typed)
        page.click("form.search-box button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("p.count strong").inner_text() == "0" and "Nothing to search for" in page.locator(".nothing").inner_text()
        page.goto(f"{base}/{NAME}/documents?_relevance=all")
        page.fill("input#_search", typed)
        page.locator("input#_search").press("Enter")
        page.wait_for_load_state()
        assert page.locator("h3").first.inner_text().startswith("0 rows"), typed
    look(page, "journalist-09-table-box-stray-quote")
    page.goto(base + "/-/search?q=psychosis+%22")
    assert "Nothing to search for" not in page.content() and page.locator("ol.hits li.hit").count() >= 1
    look(page, "journalist-10-stray-quote-ignored")
    page.goto(f"{base}/-/search?similar={ids['hostile']}")
    assert page.locator("main script, .search-page script, img[src=x], .search-page b").count() == 0
    assert page.problems == [], page.problems


def test_filters_in_the_address_filter_or_say_why_not(server, page):
    base, ids, path = server
    page.goto(base + "/-/search?year=2024&scope=all")
    chip = page.locator("p.active-filters a.chip", has_text="year: 2024")
    assert chip.count() == 1 and page.locator(".refused").count() == 0
    in_2024 = int(page.locator("p.count strong").inner_text().replace(",", ""))
    look(page, "filters-01-search-year")
    chip.click()
    page.wait_for_load_state()
    assert "year" not in page.url and int(page.locator("p.count strong").inner_text().replace(",", "")) > in_2024
    page.goto(base + "/-/search?kind=news&year=20x4")
    notice = page.locator(".refused")
    assert notice.is_visible() and "year=20x4: not a year" in notice.inner_text()
    look(page, "filters-02-search-not-applied")
    notice.locator("a", has_text="This search without it").click()
    page.wait_for_load_state()
    assert page.url.endswith("/-/search?kind=news") and page.locator(".refused").count() == 0
    page.goto(f"{base}/{NAME}/documents?_theme=saftey")
    unknown = page.locator(".unknown-filter")
    assert unknown.is_visible() and "No theme is called" in unknown.inner_text()
    look(page, "filters-03-table-unknown-theme")
    unknown.locator("a", has_text="Safety and quality of responses").click()
    page.wait_for_load_state()
    assert "_theme=safety" in page.url and not page.locator("h3").first.inner_text().startswith("0 rows")
    page.goto(f"{base}/{NAME}/documents?_theme=Safety")
    assert not page.locator("h3").first.inner_text().startswith("0 rows") and page.locator(".unknown-filter").count() == 0
    page.goto(base + "/-/search?q=Character.AI+teen+lawsuit")
    reports = page.locator("section.incidents p.reports").first
    assert "linked documents" in reports.inner_text() and "Latest:" in reports.inner_text()
    look(page, "filters-04-incident-reports")
    reports.locator("a", has_text="linked documents").click()
    page.wait_for_load_state()
    assert page.url.endswith("/incidents/teen-companion-suicide-lawsuit#timeline") and page.locator("#timeline").is_visible()
    assert page.problems == [], page.problems
