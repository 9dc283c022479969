"""The /-/status page in Debian's Chromium at desktop and phone widths: stale and failing sources
are named, long errors do not widen the page, no JavaScript errors. Screenshots go to
test-output/screenshots/ for a person to look at."""

import pytest

from conftest import harvest_serve
from harvest import db as database
from harvest.archive import iso, utc_now
from harvest.nightly import ensure_tables
from test_browser import SHOTS, browser, pytestmark  # noqa: F401 (Chromium set-up shared: the fixture and the skip)

LONG_ERROR = ("cannot resolve host eutils.ncbi.nlm.nih.gov: [Errno -3] Temporary failure in name resolution "
              "(https://eutils.ncbi.nlm.nih.gov/entrez/eutils/esearch.fcgi?db=pubmed&term=%28%22large+language+"
              "model%2A%22%5Btiab%5D+OR+chatbot%2A%5Btiab%5D%29+AND+%28mental+health%29&retmax=0&usehistory=y)")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("status")
    db = database.connect(folder / "corpus.db")
    now = iso(utc_now())
    for run in ({"id": "a", "source": "pubmed", "started": "2026-01-01T02:15:00Z", "finished": "2026-01-01T02:20:00Z",
                 "status": "ok", "added": 40},
                {"id": "b", "source": "pubmed", "started": now, "finished": now, "status": "failed", "error": LONG_ERROR},
                {"id": "c", "source": "news", "started": now, "finished": now, "status": "ok", "added": 3, "unchanged": 120}):
        db["harvest_runs"].insert(run)
    ensure_tables(db)
    db["nightly_runs"].insert({"id": "20260101T021500Z", "started": now, "finished": now, "status": "partial",
                               "exit_code": 3})
    db.conn.close()
    with harvest_serve(folder / "corpus.db") as base:
        yield base


@pytest.mark.parametrize("width, name", [(1200, "desktop"), (375, "phone")])
def test_status_page(served, browser, width, name):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.goto(served + "/-/status")
    assert page.locator("h1").inner_text() == "Harvest status"
    stale = page.locator(".message-warning").inner_text()
    assert "pubmed" in stale and "news" not in stale
    row = page.locator("tr", has_text="pubmed")
    assert "stale" in row.inner_text() and "Temporary failure in name resolution" in row.inner_text()
    assert "news" in page.locator("table").inner_text()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than the screen"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"status-{name}.png"), full_page=True)
    assert not problems, problems
    context.close()
