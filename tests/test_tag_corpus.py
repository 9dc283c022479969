"""`harvest tag` on a database: rows, incremental runs, curated corrections that win."""

import json
import subprocess
import sys

import pytest

from conftest import DATA
from harvest.nlp import corpus as tagging
from harvest.sources.pubmed import load_pubmed_file
from harvest.sources.seed import load_seed



@pytest.fixture
def seeded(tmp_path, corpus):
    load_seed(corpus, tmp_path / "archive")
    load_pubmed_file(corpus, tmp_path / "archive", DATA / "pubmed_sample.xml")
    return corpus


def corrections(tmp_path, entries) -> object:
    path = tmp_path / "corrections.yaml"
    path.write_text(json.dumps({"corrections": entries}))  # JSON is YAML
    return path


def test_tagging_writes_themes_evidence_entities_and_design(tmp_path, seeded):
    summary = tagging.tag_corpus(seeded, corrections_path=tmp_path / "none.yaml")
    assert summary.tagged == 26 and summary.problems == []
    doc = seeded.execute("SELECT id, relevance, study_design, study_design_source FROM documents "
                         "WHERE title LIKE 'Chatbot companions%'").fetchone()
    assert doc[1] == "relevant"
    assert doc[2] == "rct" and doc[3] == "publication type: Randomized Controlled Trial"
    themes = dict(seeded.execute("SELECT theme, method FROM document_themes WHERE document_id = ?",
                                 [doc[0]]).fetchall())
    assert "symptoms" in themes and set(themes.values()) == {"rules"}
    evidence = seeded.execute("SELECT sentence, field, matched, start, \"end\" FROM evidence "
                              "WHERE document_id = ? AND theme = 'symptoms'", [doc[0]]).fetchall()
    title = seeded["documents"].get(doc[0])["title"]
    assert any(field == "title" and title[start:end] == matched for _, field, matched, start, end in evidence)
    entities = {r[0] for r in seeded.execute("SELECT entity_id FROM document_entities WHERE document_id = ?",
                                             [doc[0]])}
    assert "condition:loneliness" in entities
    undetermined = seeded.execute("SELECT count(*) FROM documents WHERE relevance = 'undetermined'").fetchone()[0]
    assert undetermined >= 20  # seed entries with only a link text for a title


def test_only_new_or_changed_documents_are_tagged_again(tmp_path, seeded, monkeypatch):
    none = tmp_path / "none.yaml"
    assert tagging.tag_corpus(seeded, corrections_path=none).tagged == 26
    assert tagging.tag_corpus(seeded, corrections_path=none).tagged == 0
    seeded.execute("UPDATE documents SET content_hash = 'changed' WHERE id = (SELECT min(id) FROM documents)")
    assert tagging.tag_corpus(seeded, corrections_path=none).tagged == 1
    monkeypatch.setattr(tagging, "pipeline_version", lambda: "a-new-pipeline")
    assert tagging.tag_corpus(seeded, corrections_path=none).tagged == 26
    assert tagging.tag_corpus(seeded, everything=True, corrections_path=none).tagged == 26


def test_curated_corrections_win_and_can_be_withdrawn(tmp_path, seeded):
    doc = seeded.execute("SELECT d.id FROM documents d JOIN identifiers i ON i.document_id = d.id "
                         "WHERE i.scheme = 'pmid' AND i.value = '90000001'").fetchone()[0]
    tagging.tag_corpus(seeded, corrections_path=tmp_path / "none.yaml")
    machine = {r[0] for r in seeded.execute("SELECT theme FROM document_themes WHERE document_id = ?", [doc])}
    assert "symptoms" in machine and "privacy" not in machine
    path = corrections(tmp_path, [{"document": "pmid:90000001", "add": ["privacy"], "remove": ["symptoms"],
                                   "by": "curator A", "why": "the trial stored transcripts"},
                                  {"document": "doi:10.1/missing", "add": ["trust"], "by": "b", "why": "c"},
                                  {"document": "pmid:90000002", "add": ["nonsense"], "by": "b", "why": "c"}])
    summary = tagging.tag_corpus(seeded, everything=True, corrections_path=path)
    rows = dict(seeded.execute("SELECT theme, method FROM document_themes WHERE document_id = ?", [doc]).fetchall())
    assert rows["privacy"] == "curated" and "symptoms" not in rows
    curated = seeded.execute("SELECT curator, reason FROM document_themes WHERE document_id = ? AND theme = "
                             "'privacy'", [doc]).fetchone()
    assert curated == ("curator A", "the trial stored transcripts")
    assert any("no document 'doi:10.1/missing'" in p for p in summary.problems)
    assert any("unknown theme 'nonsense'" in p for p in summary.problems)
    # withdrawn: the machine's view comes back on the next run
    tagging.tag_corpus(seeded, corrections_path=corrections(tmp_path, []))
    tagging.tag_corpus(seeded, corrections_path=corrections(tmp_path, []))
    rows = dict(seeded.execute("SELECT theme, method FROM document_themes WHERE document_id = ?", [doc]).fetchall())
    assert "privacy" not in rows and rows["symptoms"] == "rules"


def test_shipped_corrections_apply_to_the_seed_article(tmp_path, seeded):
    summary = tagging.tag_corpus(seeded)
    assert summary.problems == []
    article = seeded.execute("SELECT d.id, d.relevance FROM documents d JOIN identifiers i ON "
                             "i.document_id = d.id WHERE i.scheme = 'seed'").fetchone()
    assert article[1] == "relevant"
    methods = {r[0] for r in seeded.execute("SELECT method FROM document_themes WHERE document_id = ?",
                                            [article[0]])}
    assert methods == {"curated"}


def test_tag_text_command_speaks_json_lines():
    lines = [{"id": "a", "title": "Chatbot therapy", "text": "A chatbot delivering therapy reduced anxiety "
              "symptoms in adults compared with a waitlist control over four weeks."},
             {"id": "b", "title": "", "text": ""}]
    stdin = "\n".join(json.dumps(line) for line in lines) + "\nnot json\n"
    run = subprocess.run([sys.executable, "-m", "harvest", "tag-text"], input=stdin,
                         capture_output=True, text=True)
    out = [json.loads(line) for line in run.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]
    assert set(out[0]) >= {"id", "relevant", "themes", "entities", "study_design"}
    assert out[0]["relevant"] and "treatment" in {t["theme"] for t in out[0]["themes"]}
    assert set(out[0]["themes"][0]) >= {"theme", "score", "evidence"}
    assert run.returncode == 1 and "line 3: not a JSON object" in run.stderr


def test_tag_text_on_every_core_keeps_input_order_and_results():
    from harvest.nlp.corpus import BATCH, PARALLEL_AFTER
    texts = ["A chatbot delivering therapy reduced anxiety in adults.", "Wheat yields rose after rain.",
             "ChatGPT gave harmful advice about suicide to a teenager, a lawsuit says."]
    count = BATCH * (PARALLEL_AFTER + 1) + 7  # enough chunks for the worker pool, and a short last one
    lines = [{"id": str(i), "title": f"Note {i}", "text": texts[i % 3]} for i in range(count)]
    stdin = "\n".join(json.dumps(line) for line in lines) + "\n"
    run = subprocess.run([sys.executable, "-m", "harvest", "tag-text"], input=stdin, capture_output=True,
                         text=True, check=True)
    out = [json.loads(line) for line in run.stdout.splitlines()]
    assert [o["id"] for o in out] == [str(i) for i in range(count)]
    from harvest.nlp.pipeline import build_pipeline
    from harvest.nlp.tagger import TextInput, tag_documents
    from harvest.nlp.vocab import load_taxonomy
    alone = list(tag_documents(build_pipeline(), load_taxonomy(),  # one process, as the reference
                               [TextInput(id=line["id"], title=line["title"], abstract=line["text"])
                                for line in lines[:6]]))
    assert out[:6] == json.loads(json.dumps(alone))
    assert [o["relevance"] for o in out[:3]] == [a["relevance"] for a in alone[:3]]


def test_evaluate_command_prints_per_theme_and_averages(tmp_path):
    from conftest import HERE
    gold = HERE.parent / "annotations" / "gold" / "gold.jsonl"
    run = subprocess.run([sys.executable, "-m", "harvest", "evaluate", "--gold", str(gold)],
                         capture_output=True, text=True, check=True)
    assert "micro average" in run.stdout and "macro average" in run.stdout and "treatment" in run.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{broken\n")
    failed = subprocess.run([sys.executable, "-m", "harvest", "evaluate", "--gold", str(bad)],
                            capture_output=True, text=True)
    assert failed.returncode == 1 and "line 1 is not JSON" in failed.stderr


def test_tag_command_summarises_and_is_incremental(tmp_path):
    db_path = tmp_path / "corpus.db"
    harvest = [sys.executable, "-m", "harvest"]
    subprocess.run(harvest + ["seed", str(db_path), "--quiet"], check=True)
    first = subprocess.run(harvest + ["tag", str(db_path)], capture_output=True, text=True, check=True)
    assert "tagged 23 document(s)" in first.stdout and "curated correction(s) applied" in first.stdout
    again = subprocess.run(harvest + ["tag", str(db_path), "--quiet"], capture_output=True, text=True, check=True)
    assert again.stdout == ""
    everything = subprocess.run(harvest + ["tag", str(db_path), "--all"], capture_output=True, text=True, check=True)
    assert "tagged 23 document(s)" in everything.stdout
    missing = subprocess.run(harvest + ["tag", str(tmp_path / "none.db")], capture_output=True, text=True)
    assert missing.returncode == 1 and "harvest seed" in missing.stderr


def test_tagging_on_every_core_gives_the_same_results_in_order():
    from harvest.nlp.corpus import tag_chunks
    from harvest.nlp.evaluate import load_gold
    from harvest.nlp.vocab import ANNOTATIONS
    gold = load_gold(ANNOTATIONS / "gold" / "gold.jsonl")
    chunks = [[g.input for g in gold[i:i + 4]] for i in range(0, 32, 4)]
    alone = [r for results in tag_chunks(chunks, workers=1) for r in results]
    together = [r for results in tag_chunks(chunks, workers=2) for r in results]
    assert together == alone and [r["id"] for r in alone] == [g.input.id for g in gold[:32]]
