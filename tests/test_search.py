"""Search for journalists, in-process Datasette: ranked news with snippets and filters, incidents,
timelines that follow merges, and a search box that forgives FTS5 syntax."""

import asyncio
import importlib.util

import pytest
from datasette.app import Datasette

from harvest import db as database
from harvest.db import transaction
from harvest.incidents import update_incidents
from harvest.nlp.corpus import tag_corpus
from harvest.serve import PLUGINS_DIR
from harvest.store import DocumentRecord, Provenance, save_document

spec = importlib.util.spec_from_file_location("search_terms", PLUGINS_DIR / "search_terms.py")
search_terms = importlib.util.module_from_spec(spec)
spec.loader.exec_module(search_terms)

CURATION = """
incidents:
  - id: companion-teen-suicide-2024
    title: Teenager's suicide after Character.AI conversations; mother sues
    summary: A Florida teenager died by suicide after months with a Character.AI companion; a lawsuit followed.
    first_reported: 2024-10
    location: Florida, United States
    products: [Character.AI]
    harms: [suicidality]
    status: litigated
    sources: [{url: "https://news.example/lawsuit", role: report}]
  - id: old-duplicate
    merged_into: companion-teen-suicide-2024
"""
REPORTS = [
    ("https://news.example/lawsuit", "Mother sues Character.AI over her son's suicide", "2024-10-23", "Example News",
     "A lawsuit filed in Florida says a Character.AI chatbot encouraged a 14-year-old before his suicide."),
    ("https://other.example/psychosis", "ChatGPT psychosis: families describe delusions", "2025-06-10", "Other Times",
     "Families say ChatGPT conversations fed delusions and psychosis; one man was involuntarily committed."),
]


@pytest.fixture
def datasette(tmp_path):
    path = tmp_path / "corpus.db"
    db = database.connect(path)
    for url, title, published, outlet, text in REPORTS:
        record = DocumentRecord(fields={"kind": "news", "title": title, "abstract": text, "body": text * 3, "url": url,
                                        "venue": outlet, "published": published, "year": int(published[:4])},
                                identifiers=[("url", url)])
        with transaction(db):
            save_document(db, record, Provenance("news", url, "2025-07-01T00:00:00Z", url=url))
    tag_corpus(db)
    curation = tmp_path / "incidents.yaml"
    curation.write_text(CURATION)
    update_incidents(db, curation)
    db.conn.close()
    return Datasette([str(path)], metadata=__import__("yaml").safe_load((PLUGINS_DIR / "metadata.yml").read_text()),
                     plugins_dir=str(PLUGINS_DIR))


def rows(datasette, path):
    async def fetch():
        response = await datasette.client.get(path)
        assert response.status_code == 200, response.text
        return response.json()["rows"]
    return asyncio.run(fetch())


def test_search_box_forgives_fts_syntax():
    assert search_terms.search_expression('Character.AI "suicide"') == '"Character.AI" AND "suicide"'
    assert search_terms.search_expression("psychos* OR Replika") == '("psychos"* OR "Replika")'
    for garbage in ("OR", "", '"', "*", "-", "NEAR(", ":", "(((", "-teen"):
        assert search_terms.search_expression(garbage) == '""', f"{garbage!r} matches nothing, never an FTS5 error"


def test_news_search_is_ranked_with_snippets_and_filters(datasette):
    query = "/corpus/search_news.json?_shape=objects&q={}&outlet={}&year={}&product={}&harm={}"
    hits = rows(datasette, query.format("Character.AI suicide lawsuit", "", "", "", ""))
    assert [h["title"] for h in hits] == ["Mother sues Character.AI over her son's suicide"]
    assert "[suicide]" in hits[0]["snippet"] or "[Suicide]" in hits[0]["snippet"]
    assert rows(datasette, query.format("psychosis", "Other Times", "2025", "ChatGPT", "psychosis"))[0]["outlet"] == "Other Times"
    assert rows(datasette, query.format("psychosis", "", "2024", "", "")) == []


def test_incident_search_and_timeline_follow_merges(datasette):
    hits = rows(datasette, "/corpus/search_incidents.json?_shape=objects&q=florida&status=litigated&product=character.ai&harm=&year=2024")
    assert [(h["id"], h["documents"]) for h in hits] == [("companion-teen-suicide-2024", 1)]
    by_harm = rows(datasette, "/corpus/search_incidents.json?_shape=objects&q=suicidality&status=&product=&harm=&year=")
    assert by_harm and not by_harm[0]["snippet"].startswith("["), "the snippet is the summary, never a raw JSON list"
    assert by_harm[0]["snippet"].startswith("A Florida teenager")
    timeline = rows(datasette, "/corpus/incident_timeline_of.json?_shape=objects&incident=old-duplicate")
    assert [(t["date"], t["role"], t["url"]) for t in timeline] == [("2024-10-23", "report", "https://news.example/lawsuit")]
