"""Schema migrations and the store's identity, idempotence and merge rules."""

import json
import sqlite3

import pytest

from harvest import db as database
from harvest.store import DocumentRecord, Provenance, current_id, save_citation, save_document


def provenance(source="test", source_id="1", at="2025-01-01T00:00:00Z"):
    return Provenance(source=source, source_id=source_id, fetched_at=at)


def paper(title="A title", identifiers=(("doi", "10.1/a"),), unverified=(), **fields):
    return DocumentRecord(fields={"kind": "paper", "title": title, **fields},
                          identifiers=list(identifiers), unverified=list(unverified))


def test_new_database_is_at_the_current_version_in_wal_mode(tmp_path):
    db = database.connect(tmp_path / "c.db")
    assert database.schema_version(db) == database.SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"documents", "identifiers", "redirects", "authors", "document_authors",
            "document_sources", "harvest_runs", "documents_fts", "citations"} <= set(db.table_names())


def test_older_database_is_upgraded_in_place_keeping_its_rows(tmp_path):
    path = tmp_path / "old.db"
    old = database.connect(path, upto=1)
    assert database.schema_version(old) == 1 and "documents_fts" not in old.table_names()
    old["documents"].insert({"id": "dold", "kind": "paper", "title": "Chatbot therapy outcomes",
                             "first_seen": "2024", "last_seen": "2024"})
    old.conn.close()
    upgraded = database.connect(path)
    assert database.schema_version(upgraded) == database.SCHEMA_VERSION
    assert upgraded["documents"].get("dold")["title"] == "Chatbot therapy outcomes"
    hits = upgraded.execute("SELECT rowid FROM documents_fts WHERE documents_fts MATCH 'therapy'").fetchall()
    assert len(hits) == 1


def test_database_from_a_newer_program_is_refused(tmp_path):
    path = tmp_path / "new.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {database.SCHEMA_VERSION + 5}")
    with pytest.raises(RuntimeError, match="newer than this program"):
        database.connect(path)


def test_failed_migration_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "c.db"
    database.connect(path, upto=2).conn.close()

    def broken(db):
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("migration bug")
    monkeypatch.setattr(database, "MIGRATIONS", database.MIGRATIONS[:2] + [broken])
    monkeypatch.setattr(database, "SCHEMA_VERSION", 3)
    with pytest.raises(RuntimeError, match="migration bug"):
        database.connect(path)
    db = database.connect(path, migrate=False)
    assert database.schema_version(db) == 2 and "half_done" not in db.table_names()


def test_same_record_twice_is_unchanged(corpus):
    with database.transaction(corpus):
        first = save_document(corpus, paper(), provenance())
        second = save_document(corpus, paper(), provenance(at="2025-02-01T00:00:00Z"))
    assert first[1] == "added" and second == (first[0], "unchanged")
    row = corpus["documents"].get(first[0])
    assert (row["first_seen"], row["last_seen"]) == ("2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z")


def test_ids_are_derived_from_the_first_identifier_and_stable(tmp_path):
    ids = []
    for name in ("a.db", "b.db"):
        db = database.connect(tmp_path / name)
        with database.transaction(db):
            ids.append(save_document(db, paper(), provenance())[0])
    assert ids[0] == ids[1] and ids[0].startswith("d")


def test_same_work_from_two_sources_is_one_document(corpus):
    with database.transaction(corpus):
        seeded, _ = save_document(corpus, paper("Lawrence", [("doi", "10.2196/59479"), ("url", "https://x/")],
                                                unverified=["title"]), provenance("seed", "doi"))
        harvested, action = save_document(corpus, paper("The real title", [("pmid", "123"), ("doi", "10.2196/59479")]),
                                          provenance("pubmed", "123"))
    assert harvested == seeded and action == "updated"
    row = corpus["documents"].get(seeded)
    assert row["title"] == "The real title" and row["unverified_fields"] is None
    sources = corpus.execute("SELECT source FROM document_sources WHERE document_id = ? ORDER BY source",
                             [seeded]).fetchall()
    assert sources == [("pubmed",), ("seed",)]


def test_unverified_value_never_overwrites_a_verified_one(corpus):
    with database.transaction(corpus):
        doc, _ = save_document(corpus, paper("Verified title"), provenance("pubmed", "1"))
        save_document(corpus, paper("link text", unverified=["title"]), provenance("seed", "x"))
    row = corpus["documents"].get(doc)
    assert row["title"] == "Verified title" and row["unverified_fields"] is None


def test_record_joining_two_documents_merges_them_with_a_redirect(corpus):
    with database.transaction(corpus):
        by_doi, _ = save_document(corpus, paper("By DOI", [("doi", "10.1/x")]), provenance("seed", "a"))
        by_pmc, _ = save_document(corpus, paper("By PMC", [("pmcid", "PMC1")]),
                                  provenance("seed", "b", at="2025-01-02T00:00:00Z"))
        save_citation(corpus, by_pmc, by_doi, "test")
        kept, _ = save_document(corpus, paper("Both", [("pmid", "9"), ("doi", "10.1/x"), ("pmcid", "PMC1")]),
                                provenance("pubmed", "9", at="2025-01-03T00:00:00Z"))
    assert kept == by_doi
    assert corpus["documents"].count == 1
    assert current_id(corpus, by_pmc) == by_doi
    redirect = corpus["redirects"].get(by_pmc)
    assert redirect["new_id"] == by_doi and "pubmed 9" in redirect["reason"]
    schemes = {r[0] for r in corpus.execute("SELECT scheme FROM identifiers WHERE document_id = ?", [by_doi])}
    assert schemes == {"doi", "pmcid", "pmid"}
    assert corpus.execute("SELECT count(*) FROM document_sources WHERE document_id = ?", [by_doi]).fetchone()[0] == 3
    # the old id is never handed out again
    with database.transaction(corpus):
        fresh, _ = save_document(corpus, paper("New", [("pmcid", "PMC1x")]), provenance("seed", "c"))
    assert fresh not in (by_doi, by_pmc)


def test_write_error_rolls_back_the_whole_batch(corpus):
    with pytest.raises(sqlite3.IntegrityError):
        with database.transaction(corpus):
            save_document(corpus, paper("One", [("doi", "10.1/one")]), provenance())
            save_document(corpus, DocumentRecord(fields={"kind": None}, identifiers=[("doi", "10.1/two")]),
                          provenance(source_id="2"))
    assert corpus["documents"].count == 0 and corpus["identifiers"].count == 0


def test_json_fields_are_stored_as_json(corpus):
    with database.transaction(corpus):
        doc, _ = save_document(corpus, paper(keywords=["a", "b"], publication_types=["Review"]), provenance())
    row = corpus["documents"].get(doc)
    assert json.loads(row["keywords"]) == ["a", "b"] and json.loads(row["publication_types"]) == ["Review"]
