"""Browser tests of the starter corpus (Debian's Chromium, Playwright, `harvest serve` on 127.0.0.1):
the home page's offline note, "Is this already here?" and an incident's links to the incident
databases, at desktop and phone widths. Screenshots go to test-output/screenshots/."""

import shutil
from pathlib import Path

import pytest
import requests

from conftest import harvest_serve

from harvest import db as database
from harvest.sources.imports import load_import
from harvest.incidents import update_incidents
from harvest.nlp.corpus import tag_corpus
from harvest.sources.seed import load_seed

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"
READING_LIST = Path(__file__).resolve().parents[1] / "annotations" / "reading-list.yaml"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
WIDTHS = {"desktop": 1200, "phone": 390}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("starter")
    db = database.connect(folder / "corpus.db")
    load_seed(db, folder / "archive")
    load_import(db, folder / "archive", READING_LIST)
    tag_corpus(db)
    update_incidents(db)
    db.conn.close()
    with harvest_serve(folder / "corpus.db") as base:
        yield base


def test_starter_corpus_counts_and_lookup_json(site):
    def rows(sql):
        return requests.get(f"{site}/corpus.json", params={"sql": sql, "_shape": "array"}, timeout=10).json()
    assert rows("select count(*) n from documents where title is not null and unverified_fields is null")[0]["n"] >= 60
    assert rows("select count(*) n from incidents")[0]["n"] >= 15
    found = requests.get(f"{site}/-/lookup.json", params={"q": "https://doi.org/10.2196/57400"}, timeout=10)
    assert found.status_code == 200 and found.json()["found"]
    assert found.json()["document"]["title"] == "Large Language Models for Mental Health Applications: Systematic Review"
    missing = requests.get(f"{site}/-/lookup.json", params={"q": "PMID:1"}, timeout=10).json()
    assert missing["found"] is False and "Not in the corpus" in missing["message"]
    bad = requests.get(f"{site}/-/lookup.json", params={"q": "not an id"}, timeout=10)
    assert bad.status_code == 400 and "is not a URL" in bad.json()["error"]
    crosswalk = rows("select external_id from incident_crosswalk where incident_id = 'character-ai-teen-suicide-lawsuit-2024'")
    assert crosswalk == [{"external_id": "AIAAIC1781"}]
    shared = rows("select count(distinct l.incident_id) n from incident_documents l join identifiers i "
                  "on i.document_id = l.document_id where i.value = 'https://www.lawnews.co.uk/?p=22039'")
    assert shared[0]["n"] == 6  # one report on seven lawsuits belongs to six incidents


playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_home_lookup_and_incident_pages(site, browser, width):
    context = browser.new_context(viewport={"width": WIDTHS[width], "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))

    def fits():
        return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    def shot(name):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"starter-{name}-{width}.png"), full_page=True)

    page.goto(site + "/")
    note = page.locator(".corpus-origin")
    assert "offline starter set" in note.inner_text() and "harvest resolve" in note.inner_text()
    shot("home")
    note.locator("text=Is this already here?").click()
    page.wait_for_load_state()
    page.fill("input[name=q]", "10.2196/59479")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "The Opportunities and Risks of Large Language Models in Mental Health" in page.locator("article").inner_text()
    assert fits(), "the lookup page fits the screen"
    shot("lookup-found")
    page.fill("input[name=q]", "<script>alert(1)</script>")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "Cannot look that up" in page.locator(".lookup-error").inner_text()
    assert page.locator("main script, .content script").count() == 0
    shot("lookup-refused")
    page.goto(site + "/corpus/incidents/chatgpt-adam-raine-suicide-lawsuit-2025")
    links = page.locator("ul.elsewhere a")
    assert links.count() == 1 and links.first.inner_text() == "AIAAIC2012"
    assert page.locator("article.evidence-record h1").inner_text().startswith("Adam Raine")
    shot("incident")
    assert problems == [], problems
    context.close()
