"""Served in-process by Datasette: Atom feeds of new documents, incidents and changes, read back
with feedparser; the changes view; a document page that shows its versions."""

import asyncio

import feedparser
import pytest
import yaml
from datasette.app import Datasette

from harvest import db as database
from harvest.archive import ArchivedRecord
from harvest.db import transaction
from harvest.serve import PLUGINS_DIR
from harvest.store import DocumentRecord, Provenance, save_document
from harvest.versions import save_version, text_hash


def fetched(at: str) -> ArchivedRecord:
    return ArchivedRecord(file="run.warc.gz", record_id=f"<urn:uuid:{at}>", type="response",
                          uri="https://example.org/guidance", date=at, status=200)


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "corpus.db"
    db = database.connect(path)
    with transaction(db):
        guidance_id, _ = save_document(db, DocumentRecord(
            fields={"kind": "guidance", "title": "AI in care <script>alert(1)</script>", "venue": "Example Association",
                    "url": "https://example.org/guidance"}, identifiers=[("url", "https://example.org/guidance")]),
            Provenance("guidance", "g", "2025-03-01T00:00:00Z"))
        for at, text in (("2025-03-01T00:00:00Z", "Advice one."), ("2025-04-01T00:00:00Z", "Advice one.\nAdvice two.")):
            save_version(db, guidance_id, text, text_hash(text), fetched(at))
        for state, number in (("Illinois", "IL HB 1806"), ("Nevada", "NV AB 406"), ("Utah", "UT HB 452")):
            save_document(db, DocumentRecord(fields={"kind": "legislation", "title": f"{number} on AI therapy",
                                                     "jurisdiction": state, "bill_identifier": number,
                                                     "bill_status": "enacted"},
                                             identifiers=[("openstates", number)]),
                          Provenance("legislation", number, "2025-08-01T00:00:00Z"))
        db["incidents"].insert({"id": "helpline-bot-2023", "title": "Helpline chatbot gave diet advice",
                                "summary": "An eating-disorder helpline's bot gave weight-loss tips.",
                                "first_reported": "2023-05", "status": "confirmed", "method": "curated"})
    db.conn.close()
    metadata = yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text())
    return Datasette([str(path)], metadata=metadata, plugins_dir=str(PLUGINS_DIR),
                     template_dir=str(PLUGINS_DIR / "templates")), guidance_id


def get(datasette, path):
    async def fetch():
        return await datasette.client.get(path)
    return asyncio.run(fetch())


@pytest.mark.parametrize("name, title", [("documents", "AI in care <script>alert(1)</script>"),
                                         ("incidents", "Helpline chatbot gave diet advice"),
                                         ("changes", "AI in care <script>alert(1)</script>")])
def test_atom_feeds(served, name, title):
    datasette, guidance_id = served
    response = get(datasette, f"/-/feeds/{name}.atom")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo and feed.feed.title.startswith("LLMs & Mental Health Evidence Base: ")
    assert feed.entries[0].updated_parsed >= feed.entries[-1].updated_parsed, "newest first"
    entry = next(e for e in feed.entries if e.title == title)
    assert entry.link.startswith("http") and entry.updated_parsed
    assert entry.summary
    if name == "changes":
        assert entry.link.endswith(f"/corpus/document_versions/{guidance_id},2")
        assert "text changed: 1 paragraph(s) added" in entry.summary
    assert b"<script>" not in response.content, "titles travel as escaped text"


def test_an_empty_feed_is_still_a_feed(tmp_path):
    path = tmp_path / "corpus.db"
    database.connect(path).conn.close()
    datasette = Datasette([str(path)], plugins_dir=str(PLUGINS_DIR))
    response = get(datasette, "/-/feeds/changes.atom")
    assert response.status_code == 200 and feedparser.parse(response.content).entries == []
    assert get(datasette, "/-/feeds/nothing.atom").status_code == 404


def test_changes_view_and_document_page(served):
    datasette, guidance_id = served
    changes = get(datasette, "/corpus/changes.json?_shape=objects").json()["rows"]
    assert [(c["version"], c["change"]) for c in changes] == [(2, "text changed: 1 paragraph(s) added, 0 removed")]
    page = get(datasette, f"/corpus/documents/{guidance_id}").text
    assert "<h2>Versions</h2>" in page and f"/corpus/document_versions/{guidance_id},2" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_legislation_by_jurisdiction(served):
    datasette, _ = served
    rows = get(datasette, "/corpus/legislation_by_jurisdiction.json?_shape=objects&jurisdictions=Illinois,%20Nevada&theme=").json()["rows"]
    assert [r["bill_identifier"] for r in rows] == ["IL HB 1806", "NV AB 406"]
