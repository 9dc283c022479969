"""Browser tests: Debian's Chromium, driven by Playwright, against `harvest serve` on 127.0.0.1.

A journalist's path: home page, search, a document, its Cite panel, its graph; no JavaScript
errors on the way, and hostile text from the web never runs. Screenshots are saved under
test-output/screenshots/ (git-ignored) for a person to look at.
"""

import shutil
from pathlib import Path

import pytest

from conftest import harvest_serve

from harvest import db as database
from harvest.db import transaction
from harvest.graph import build_graph, save_graph
from harvest.nlp.corpus import tag_corpus
from harvest.sources.seed import load_seed
from harvest.store import DocumentRecord, Provenance, save_document

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"
HOSTILE = "<script>alert(1)</script> AI chatbot depression <img src=x onerror=alert(2)>"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
# As the machine's notes advise: no background networking on a closed network, no sandbox as root.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    db = database.connect(folder / "corpus.db")
    load_seed(db, folder / "archive")
    with transaction(db):
        hostile, _ = save_document(db, DocumentRecord(
            fields={"kind": "news", "title": HOSTILE, "abstract": f"A report. {HOSTILE}", "venue": "Example",
                    "year": 2025, "url": "https://news.example/hostile"}, identifiers=[("url", "https://news.example/hostile")]),
            Provenance("news", "h", "2025-06-01T00:00:00Z"))
    tag_corpus(db)
    save_graph(db, build_graph(db))
    db.conn.close()
    with harvest_serve(folder / "corpus.db") as base:
        yield base, hostile


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    opened.problems = []
    opened.on("console", lambda message: message.type == "error" and opened.problems.append(message.text))
    opened.on("pageerror", lambda error: opened.problems.append(str(error)))
    opened.on("dialog", lambda dialog: (opened.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    yield opened
    context.close()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_journalists_path(server, page):
    base, _ = server
    page.goto(base + "/")
    assert "LLMs & Mental Health Evidence Base" in page.title() or page.locator("h1").first.inner_text()
    shot(page, "01-home")
    page.click("text=search everything (ranked)")
    page.fill("input[name=q]", "suicide teenager")
    for name in ("kind", "theme", "year"):
        page.fill(f"input[name={name}]", "")
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".content-note").count() == 1, "suicide results carry a content note"
    shot(page, "02-search")
    page.locator("table.rows-and-columns a[href^='/corpus/documents/']").first.click()
    page.wait_for_load_state()
    assert page.locator("article.evidence-record h1").count() == 1
    page.click("details.cite summary")
    assert page.locator("details.cite p.apa").is_visible()
    assert "Permalink" in page.locator("details.cite").inner_text()
    shot(page, "03-document-with-cite-panel")
    page.click("text=graph")
    page.wait_for_load_state()
    assert page.locator("figure.evidence-graph svg circle").count() >= 2
    shot(page, "04-graph")
    for path, name in (("/-/charts", "05-charts"), ("/-/evidence-map", "06-evidence-map")):
        page.goto(base + path)
        assert page.locator("svg, table.evidence-map").count() >= 1
        shot(page, name)
    assert page.problems == [], page.problems


def test_hostile_text_stays_text(server, page):
    base, hostile = server
    page.goto(f"{base}/corpus/documents/{hostile}")
    assert page.locator("article.evidence-record h1").inner_text() == HOSTILE
    assert page.locator("article.evidence-record script, article.evidence-record img[src=x]").count() == 0
    page.goto(f"{base}/corpus/documents?_search=chatbot")
    shot(page, "07-hostile-text")
    assert page.problems == [], "nothing ran: no alert, no error"
