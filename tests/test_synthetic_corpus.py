"""The growth benchmark's synthetic corpus (benchmarks/synthetic.py) is a corpus the project's own
code accepts as harvested and tagged: `harvest tag` finds nothing to do on it, its facet columns are
what the tagger writes, every reference resolves, and search finds its documents."""

from __future__ import annotations

import sqlite3

import pytest

from benchmarks.synthetic import make_corpus
from harvest import db as database
from harvest.nlp.corpus import refresh_facets, tag_corpus


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("synthetic") / "corpus.db"
    counts = make_corpus(path, 600, seed=3)
    return path, counts


def test_rows_of_every_kind_and_table(built):
    path, counts = built
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == database.SCHEMA_VERSION
    assert counts["documents"] == conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 600
    kinds = dict(conn.execute("SELECT kind, count(*) FROM documents GROUP BY kind").fetchall())
    assert set(kinds) == {"paper", "preprint", "news", "guidance", "legislation"} and kinds["paper"] > 300
    states = dict(conn.execute("SELECT relevance, count(*) FROM documents GROUP BY relevance").fetchall())
    assert set(states) == {"relevant", "related", "off-topic"} and states["off-topic"] > states["relevant"]
    years = [y for (y,) in conn.execute("SELECT DISTINCT year FROM documents")]
    assert min(years) >= 2015 and max(years) <= 2026
    for table in ("document_themes", "document_entities", "evidence", "citations", "incidents", "incident_documents",
                  "identifiers", "document_authors"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0, table
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    # evidence offsets point at the matched words in the abstract
    for abstract, start, end, matched in conn.execute(
            "SELECT d.abstract, e.start, e.\"end\", e.matched FROM evidence e JOIN documents d ON d.id = e.document_id"):
        assert abstract[start:end] == matched
    assert conn.execute("SELECT count(*) FROM documents_fts WHERE documents_fts MATCH 'chatbot OR psychosis'").fetchone()[0] > 0


def test_citations_have_a_heavy_tail(built):
    path, _ = built
    conn = sqlite3.connect(path)
    counts = sorted((n for (n,) in conn.execute("SELECT count(*) FROM citations GROUP BY cited_id")), reverse=True)
    assert counts[0] >= 5 * (sum(counts) / len(counts))  # the most cited work far above the mean


def test_tagger_finds_nothing_to_do(built):
    path, _ = built
    db = database.connect(path)
    summary = tag_corpus(db)
    assert summary.tagged == 0
    before = db.conn.total_changes
    refresh_facets(db)  # the themes/products columns are already what the tagger writes
    assert db.conn.total_changes == before
    db.conn.close()


def test_refuses_an_existing_file_and_an_empty_corpus(tmp_path):
    path = tmp_path / "corpus.db"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        make_corpus(path, 10)
    assert path.read_bytes() == b"keep me"
    with pytest.raises(ValueError):
        make_corpus(tmp_path / "other.db", 0)
    assert not (tmp_path / "other.db").exists()
