"""Only the work that is needed: tag, incidents and graph read their change markers, an unchanged
corpus costs no tagging, scoring or Louvain and writes nothing, a change is redone for what it
touches, and the result equals a from-scratch run. Also migration 11 on an older database."""


import pytest

from conftest import DATA
from harvest import db as database
from harvest import graph as graphing
from harvest import incidents as incidents_module
from harvest.db import transaction
from harvest.incidents import update_incidents
from harvest.nlp import corpus as tagging
from harvest.sources.pubmed import load_pubmed_file
from harvest.sources.seed import load_seed
from test_incidents import CURATION, REPORT, news


@pytest.fixture
def built(tmp_path, corpus):
    """A seeded corpus with PubMed records and news reports, tagged, matched and graphed once."""
    load_seed(corpus, tmp_path / "archive")
    load_pubmed_file(corpus, tmp_path / "archive", DATA / "pubmed_sample.xml")
    ids = {"first": news(corpus, "https://news.example/first-report", "Mother sues Character.AI over son's suicide",
                         REPORT, "2024-10-23"),
           "follow": news(corpus, "https://other.example/follow", "Character.AI lawsuit: what the Florida case says",
                          REPORT.replace("A Florida mother's", "The"), "2024-11-02"),
           "fresh": news(corpus, "https://n1.example/psychosis", "ChatGPT psychosis report",
                         "A man was hospitalised with psychosis and delusions after weeks of ChatGPT conversations, "
                         "his wife said. Doctors in Seattle said the chatbot affirmed his beliefs.", "2025-06-01")}
    curation = tmp_path / "incidents.yaml"
    curation.write_text(CURATION.replace("REJECTED", "https://other.example/none"))
    corrections = tmp_path / "corrections.yaml"
    corrections.write_text("corrections: []\n")
    derive(corpus, curation, corrections)
    return corpus, curation, corrections, ids


def derive(db, curation, corrections, everything=False):
    tagged = tagging.tag_corpus(db, everything=everything, corrections_path=corrections)
    matched = update_incidents(db, curation, everything=everything)
    graphed = graphing.update_graph(db, everything=everything)
    return tagged, matched, graphed


def derived_rows(db) -> dict:
    """What the three steps make, comparable between two runs (evidence ids aside)."""
    queries = {
        "documents": "SELECT id, relevance, relevance_reason, study_design, study_design_source, tagged_version, "
                     "tagged_hash, themes, products FROM documents",
        "document_themes": "SELECT * FROM document_themes", "document_entities": "SELECT * FROM document_entities",
        "evidence": "SELECT document_id, theme, entity_id, field, sentence, start, \"end\", matched, rule, negated, "
                    "hedged, pipeline_version FROM evidence",
        "themes": "SELECT * FROM themes", "entities": "SELECT * FROM entities",
        "incidents": "SELECT * FROM incidents", "incident_documents": "SELECT * FROM incident_documents",
        "incident_candidates": "SELECT * FROM incident_candidates",
        "graph_nodes": "SELECT * FROM graph_nodes", "graph_edges": "SELECT * FROM graph_edges"}
    return {name: sorted(db.execute(sql).fetchall(), key=repr) for name, sql in queries.items()}


def forbid(monkeypatch, calls):
    """Count every call of the tagger, the report scorer and Louvain."""
    def counting(name, real):
        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)
        return wrapper
    monkeypatch.setattr(tagging, "tag_chunks", counting("tagger", tagging.tag_chunks))
    monkeypatch.setattr(incidents_module, "score", counting("score", incidents_module.score))
    monkeypatch.setattr(graphing, "louvain", counting("louvain", graphing.louvain))


def test_an_unchanged_corpus_is_not_tagged_scored_or_graphed_and_nothing_is_written(built, monkeypatch):
    db, curation, corrections, _ = built
    calls = {}
    forbid(monkeypatch, calls)
    before = db.conn.total_changes
    tagged, matched, graphed = derive(db, curation, corrections)
    assert db.conn.total_changes == before, "no row written"
    assert calls == {}, "no tagger, no scoring, no Louvain"
    assert tagged.unchanged and tagged.tagged == 0
    assert matched.unchanged and matched.curated == 2 and matched.machine_links == 1 and matched.rescored == 0
    assert graphed is None


def test_a_change_to_one_document_retags_and_rescores_only_it(built, monkeypatch):
    db, curation, corrections, ids = built
    with transaction(db):
        db.execute("UPDATE documents SET body = body || ' Chatbots and suicide: a second lawsuit followed.', "
                   "content_hash = 'changed' WHERE id = ?", [ids["follow"]])
    tagged_ids = []
    real = tagging.tag_chunks
    def recording(chunks):
        chunks = list(chunks)  # a list or a stream of chunks
        tagged_ids.extend(t.id for chunk in chunks for t in chunk)
        return real(chunks)
    monkeypatch.setattr(tagging, "tag_chunks", recording)
    calls = {}
    real_louvain = graphing.louvain
    monkeypatch.setattr(graphing, "louvain", lambda *a, **k: calls.setdefault("louvain", real_louvain(*a, **k)))
    tagged, matched, graphed = derive(db, curation, corrections)
    assert tagged_ids == [ids["follow"]] and tagged.tagged == 1
    assert matched.rescored == 1, "only the changed report is scored again"
    assert graphed is not None and "louvain" in calls, "the graph's inputs changed: it is built again"


def test_a_changed_curated_incident_rescores_every_report(built):
    db, curation, corrections, ids = built
    follow = db.execute("SELECT incident_id FROM incident_documents WHERE document_id = ?", [ids["follow"]]).fetchall()
    assert follow == [("companion-teen-suicide-2024",)]
    curation.write_text(CURATION.replace("REJECTED", "https://other.example/follow"))  # a curator rejects it
    tagged, matched, _ = derive(db, curation, corrections)
    assert tagged.unchanged and matched.rescored is None, "every report scored again"
    assert db.execute("SELECT count(*) FROM incident_documents WHERE document_id = ?", [ids["follow"]]).fetchone()[0] == 0
    candidates = db.execute("SELECT document_ids FROM incident_candidates").fetchall()
    assert any(ids["follow"] in row[0] for row in candidates), "now unmatched, it is proposed"


def test_an_incremental_run_equals_a_run_from_scratch(built):
    db, curation, corrections, ids = built
    with transaction(db):
        db.execute("UPDATE documents SET title = 'ChatGPT psychosis: a second man hospitalised', "
                   "content_hash = 'changed' WHERE id = ?", [ids["fresh"]])
        db.execute("UPDATE documents SET body = body || ' Character.AI said it would appeal.', content_hash = 'c2' "
                   "WHERE id = ?", [ids["follow"]])
    news(db, "https://n2.example/psychosis", "Second ChatGPT psychosis case",
         "A woman was hospitalised with psychosis after ChatGPT told her she was chosen. Her family in Oregon "
         "said the chatbot affirmed her delusions.", "2025-06-20")
    news(db, "https://n3.example/florida", "Character.AI suicide lawsuit in Florida moves ahead",
         REPORT.replace("A Florida mother's", "A judge let a Florida mother's"), "2025-05-21")
    tagged, matched, graphed = derive(db, curation, corrections)
    assert tagged.tagged == 4 and matched.rescored == 4 and graphed is not None
    incremental = derived_rows(db)
    derive(db, curation, corrections, everything=True)
    assert derived_rows(db) == incremental


def test_withdrawn_and_new_corrections_are_applied_without_retagging_everything(built, tmp_path):
    db, curation, corrections, ids = built
    corrections.write_text(f"corrections:\n  - document: {ids['fresh']}\n    add: [privacy]\n    by: A. Curator\n"
                           f"    why: the report describes a harm\n")
    tagged, _, _ = derive(db, curation, corrections)
    assert not tagged.unchanged and tagged.tagged == 0 and tagged.corrections == 1
    assert ("privacy", "curated") in db.execute("SELECT theme, method FROM document_themes WHERE document_id = ?",
                                              [ids["fresh"]]).fetchall()
    corrections.write_text("corrections: []\n")
    tagged, _, _ = derive(db, curation, corrections)
    assert tagged.tagged == 1, "the withdrawn correction's document is tagged again at once"
    rows = derived_rows(db)
    derive(db, curation, corrections, everything=True)
    assert derived_rows(db) == rows


OLD_NIGHTLY = """CREATE TABLE IF NOT EXISTS nightly_runs (
    id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
    exit_code INTEGER, since TEXT, before TEXT, digest TEXT)"""


def test_migration_11_upgrades_a_database_whose_nightly_tables_exist(tmp_path):
    path = tmp_path / "old.db"
    old = database.connect(path, upto=10)
    old.execute(OLD_NIGHTLY)  # made on first use by the program before migration 11 (an older shape)
    old.execute("CREATE TABLE IF NOT EXISTS nightly_steps (nightly_id TEXT NOT NULL REFERENCES nightly_runs(id), "
                "step TEXT NOT NULL, position INTEGER, status TEXT NOT NULL, started TEXT, finished TEXT, "
                "seconds REAL, harvest_run_ids TEXT, rows_written INTEGER, message TEXT, PRIMARY KEY (nightly_id, step))")
    old.execute("CREATE TABLE IF NOT EXISTS releases (released TEXT NOT NULL, folder TEXT NOT NULL, "
                "documents INTEGER NOT NULL, relevant INTEGER NOT NULL, forced INTEGER NOT NULL)")
    old.execute("INSERT INTO nightly_runs (id, started, status) VALUES ('20260101T000000Z', '2026-01-01T00:00:00Z', 'ok')")
    old.execute("INSERT INTO releases VALUES ('2026-01-02T00:00:00Z', '/r', 5, 4, 0)")
    old.conn.close()
    db = database.connect(path)
    assert database.schema_version(db) == database.SCHEMA_VERSION == 11
    assert db.execute("SELECT id FROM nightly_runs").fetchall() == [("20260101T000000Z",)]
    assert "derived_fingerprint" in {c[1] for c in db.execute("PRAGMA table_info(nightly_runs)")}, "column added"
    assert db.execute("SELECT documents FROM releases").fetchall() == [(5,)]
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"evidence_theme", "evidence_entity", "derive_changes_seq"} <= indexes
    fresh = database.connect(tmp_path / "fresh.db")
    shape = "SELECT name, sql FROM sqlite_master WHERE name IN ('nightly_steps', 'releases')"
    assert sorted(fresh.execute(shape).fetchall()) and \
        {r[0] for r in fresh.execute(shape)} == {r[0] for r in db.execute(shape)}


def test_the_counters_move_on_a_real_change_only(corpus):
    counters = lambda: dict(corpus.execute("SELECT name, value FROM derive_counters").fetchall())  # noqa: E731
    doc = news(corpus, "https://a.example/x", "A chatbot report", REPORT, "2025-01-01")
    start = counters()
    with transaction(corpus):
        corpus.execute("UPDATE documents SET last_seen = '2030-01-01T00:00:00Z', title = title WHERE id = ?", [doc])
    assert counters() == start, "a write that changes nothing a derivation reads moves nothing"
    with transaction(corpus):
        corpus.execute("UPDATE documents SET title = 'Another title' WHERE id = ?", [doc])
    assert counters()["documents"] == start["documents"] + 1
    assert corpus.execute("SELECT seq FROM derive_changes WHERE document_id = ?", [doc]).fetchone()[0] == \
        counters()["documents"]


def test_incidents_says_when_nothing_it_reads_changed(built):
    from click.testing import CliRunner
    from harvest.cli import main
    db, curation, _, _ = built
    path = db.execute("PRAGMA database_list").fetchone()[2]
    CliRunner().invoke(main, ["incidents", path, "--curation", str(curation)])  # tags with the shipped corrections
    said = CliRunner().invoke(main, ["incidents", path, "--curation", str(curation)])
    assert said.exit_code == 0, said.output
    assert "nothing incident matching reads changed since the last run" in said.output
    assert "2 curated incident(s)" in said.output  # the totals as they stand follow
