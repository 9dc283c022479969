"""Intake: one text normalisation for every source, plausible values only, names that keep
their structure. Small inputs of our own, each one instance of a kind of fault."""

import json

import pytest

from harvest import db as database
from harvest.europepmc import load_europepmc_file
from harvest.store import DocumentRecord, Provenance, save_document, set_body
from harvest.text import normalised

SHY_TITLE = "emer\u00adgency de\u00adpartment triage of sui\u00adcidal patients in a cli\u00adnical chatbot study"


def test_the_normaliser_removes_what_splits_words_and_keeps_lines():
    assert normalised("sui\u00adcidal\u200b pa\u200ctient\u200d\u2060s\ufeff") == "suicidal patients"
    assert normalised("e\u0301tude") == "\u00e9tude"  # NFC: one code point
    assert normalised("a\u00a0b\u202fc\u2007d") == "a b c d"
    assert normalised("bell\x07 \x10title\x7f\x85") == "bell title"
    assert normalised("line one\r\nline two\rthree\tfour") == "line one\nline two\nthree\tfour"
    assert normalised("plain ASCII stays as it is") == "plain ASCII stays as it is"


def europepmc_answer(title: str, **extra) -> bytes:
    result = {"id": "39000001", "source": "MED", "pmid": "39000001", "doi": "10.2196/55501", "title": title,
              "abstractText": "A chat\u00adbot\u200b helped\u00a0staff in the emer\u00adgency de\u00adpartment.",
              "authorList": {"author": [{"firstName": "Zo\u0065\u0308", "lastName": "M\u00fcl\u00adler"}]},
              "journalInfo": {"journal": {"title": "JMIR\u00a0Mental Health"}}, "firstPublicationDate": "2024-03-05",
              "isOpenAccess": "N", "inEPMC": "N", **extra}
    return json.dumps({"hitCount": 1, "resultList": {"result": [result]}}).encode()


def test_a_europepmc_title_with_soft_hyphens_is_stored_clean_and_found(tmp_path, corpus):
    saved = tmp_path / "answer.json"
    saved.write_bytes(europepmc_answer(SHY_TITLE))
    run = load_europepmc_file(corpus, tmp_path / "archive", saved)
    assert run.status == "ok", run.errors
    row = corpus.execute("SELECT id, title, abstract, venue FROM documents").fetchone()
    assert row[1] == "emergency department triage of suicidal patients in a clinical chatbot study"
    assert row[2] == "A chatbot helped staff in the emergency department." and row[3] == "JMIR Mental Health"
    author = corpus.execute("SELECT name, last_name, fore_name FROM authors").fetchone()
    assert author == ("Zo\u00eb M\u00fcller", "M\u00fcller", "Zo\u00eb")
    for word in ("suicidal", "clinical", "emergency"):
        hits = corpus.execute("SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?", [word]).fetchall()
        assert len(hits) == 1, word


def test_no_source_skips_the_normaliser(corpus):
    """The store normalises whatever a source hands it: fields, identifiers, people, bodies."""
    record = DocumentRecord(fields={"kind": "news", "title": "Tri\u00adage\x10 bots", "body": "para\u200bgraph",
                                    "keywords": ["sui\u00adcide"], "url": "https://example.org/a"},
                            identifiers=[("url", "https://example.org/a\u200b")],
                            authors=[{"name": "Dana\u00a0Reyes"}])
    provenance = Provenance(source="news", source_id="a", fetched_at="2025-01-01T00:00:00Z")
    document_id, _ = save_document(corpus, record, provenance)
    row = corpus["documents"].get(document_id)
    assert (row["title"], row["body"], json.loads(row["keywords"])) == ("Triage bots", "paragraph", ["suicide"])
    assert corpus.execute("SELECT value FROM identifiers").fetchone()[0] == "https://example.org/a"
    assert corpus.execute("SELECT name FROM authors").fetchone()[0] == "Dana Reyes"
    set_body(corpus, document_id, "full\u00adtext body", "europepmc")
    assert corpus["documents"].get(document_id)["body"] == "fulltext body"
