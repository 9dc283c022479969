"""Benchmark: tag, incidents and graph on an unchanged corpus of N synthetic documents (default
100,000), before and after change markers (issue 18, "only the work that is needed").

The corpus is written directly with SQL (no tagger run): papers, preprints and news reports with
titles and abstracts made from the vocabularies' words, their themes, entities and evidence rows
as the tagger would write them (marked as tagged by the pipeline of the code being measured),
citations, URL identifiers, and the project's curated incidents (annotations/incidents.yaml).

Steps, as the commands run them: tag = `tag_corpus`; incidents = `tag_corpus` then
`update_incidents` (what `harvest incidents` does); graph = build and save (`harvest graph`).

- after: this checkout. A first run builds everything (the peer), then a run with nothing
  changed, then a run after one news report changed. Seconds (wall), CPU seconds, rows written.
- before (`--before DIR`, a checkout of the code before the markers, e.g. the main branch): the
  same corpus at schema 10, in a process running that code; tag and incidents run twice (the
  second is the no-change figure); the graph, which that code always rebuilt, once.

Writes benchmarks/results/incremental.json.
Usage: python benchmarks/bench_incremental.py [N] [--before DIR] [--skip-graph-before] [--only before|after]
       [--out FILE]
       python benchmarks/bench_incremental.py --writer 5000 --before DIR   # the tag writer alone, ms/document
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

WORDS = ("chatbot language model therapy depression anxiety loneliness students clinicians trial users safety "
         "suicide risk crisis support conversational agent mental health psychosis delusion companion app "
         "adolescents privacy evaluation responses guidance regulation lawsuit family hospital counselling").split()


def build_corpus(path: Path, n: int, version: str, seed: int = 18) -> dict:
    """N documents and what tagging, citing and identifiers would have written, at schema 10."""
    from harvest import db as database
    from harvest.nlp.vocab import load_entities, load_taxonomy
    rng = random.Random(seed)
    db = database.connect(path, upto=10)
    conn = db.conn
    themes = list(load_taxonomy().themes.values())
    entities = load_entities()
    products = [e for e in entities if e.type == "product"]
    conditions = [e for e in entities if e.type == "condition"]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO themes VALUES (?, ?, ?)", [(t.id, t.label, t.definition) for t in themes])
    conn.executemany("INSERT INTO entities VALUES (?, ?, ?, ?)",
                     [(e.id, e.type, e.name, json.dumps(e.aliases, ensure_ascii=False)) for e in entities])
    docs, idents, doc_themes, doc_entities, evidence, cites = [], [], [], [], [], []
    for number in range(n):
        doc_id = f"b{number:07d}"
        kind = "news" if number % 5 == 0 else ("preprint" if number % 10 == 1 else "paper")
        product, condition = rng.choice(products), rng.choice(conditions)
        title = f"{product.name} and {condition.name}: " + " ".join(rng.choices(WORDS, k=8))
        abstract = " ".join(rng.choices(WORDS, k=120)) + f" {product.name} {condition.name}."
        body = abstract * 3 if kind == "news" else None
        content_hash = hashlib.sha256(f"{title}{abstract}".encode()).hexdigest()
        year = 2020 + number % 6
        picked = rng.sample(themes, 2)
        docs.append((doc_id, kind, title, abstract, body, f"https://example.org/{doc_id}", f"{year}-0{1 + number % 9}-1{number % 10}",
                     year, "relevant", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", content_hash, version, content_hash,
                     json.dumps(sorted(t.id for t in picked)), json.dumps([product.name])))
        idents.append(("url", f"https://example.org/{doc_id}", doc_id))
        for theme in picked:
            doc_themes.append((doc_id, theme.id, 0.8, "rules", version))
            evidence.append((doc_id, theme.id, None, "abstract", abstract[:200], 0, 10, abstract[:10], "rule", version))
        for entity in (product, condition):
            doc_entities.append((doc_id, entity.id, 2))
            evidence.append((doc_id, None, entity.id, "title", title, 0, len(entity.name), entity.name, "entity", version))
        if number > 10:
            for cited in rng.sample(range(number), 2):
                cites.append((doc_id, f"b{cited:07d}", "reference list"))
    conn.executemany("INSERT INTO documents (id, kind, title, abstract, body, url, published, year, relevance, "
                     "first_seen, last_seen, content_hash, tagged_version, tagged_hash, themes, products) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", docs)
    conn.executemany("INSERT INTO identifiers VALUES (?, ?, ?)", idents)
    conn.executemany("INSERT INTO document_themes (document_id, theme, score, method, pipeline_version) "
                     "VALUES (?, ?, ?, ?, ?)", doc_themes)
    conn.executemany("INSERT INTO document_entities VALUES (?, ?, ?)", doc_entities)
    conn.executemany("INSERT INTO evidence (document_id, theme, entity_id, field, sentence, start, \"end\", matched, "
                     "rule, pipeline_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", evidence)
    conn.executemany("INSERT OR IGNORE INTO citations VALUES (?, ?, ?, NULL)", cites)
    conn.execute("COMMIT")
    conn.close()
    return {"documents": len(docs), "evidence": len(evidence), "citations": len(cites),
            "document_themes": len(doc_themes), "document_entities": len(doc_entities)}


STEPS = r'''
import json, sys, time
from harvest import db as database
from harvest.nlp import corpus as tagging
from harvest.incidents import update_incidents
from harvest import graph as graphing

def timed(db, work):
    wall, cpu, before = time.perf_counter(), time.process_time(), db.conn.total_changes
    work()
    return {"seconds": round(time.perf_counter() - wall, 2), "cpu_seconds": round(time.process_time() - cpu, 2),
            "rows_written": db.conn.total_changes - before}

def graph(db):
    if hasattr(graphing, "update_graph"):
        graphing.update_graph(db)
    else:
        graphing.save_graph(db, graphing.build_graph(db))

def run(db, with_graph=True):
    out = {"tag": timed(db, lambda: tagging.tag_corpus(db)),
           "incidents": timed(db, lambda: (tagging.tag_corpus(db), update_incidents(db)))}
    if with_graph:
        out["graph"] = timed(db, lambda: graph(db))
    return out
'''


WRITER = r'''
import json, sys, time
from harvest import db as database
from harvest.db import transaction
from harvest.nlp import corpus as tagging
db = database.connect(sys.argv[1])
ids = [r[0] for r in db.execute("SELECT id FROM documents ORDER BY id LIMIT ?", [int(sys.argv[2])])]
def result(doc_id):
    record = {"field": "abstract", "sentence": "A chatbot eased loneliness.", "start": 2, "end": 9, "text": "chatbot",
              "rule": "rule", "negated": False, "hedged": False}
    return {"id": doc_id, "relevant": True, "relevance": "relevant", "relevance_reason": "r", "study_design": "rct",
            "study_design_source": "s", "themes": [{"theme": t, "score": 0.9, "evidence": [record], "negated": []}
                                                     for t in ("treatment", "safety")],
            "entities": [{"id": e, "mentions": 2, "evidence": record} for e in ("product:chatgpt", "condition:loneliness")]}
results = [result(i) for i in ids]
batched = tagging.save_tags.__code__.co_varnames[1] == "results"
clock = time.process_time()
for start in range(0, len(results), 200):
    chunk = results[start:start + 200]
    with transaction(db):
        if batched:
            tagging.save_tags(db, chunk, "v", {r["id"]: "h" for r in chunk})
        else:
            for r in chunk:
                tagging.save_tags(db, r, "v", "h")
print(json.dumps({"ms_per_document": round(1000 * (time.process_time() - clock) / len(results), 3)}))
'''


def writer_ms(code: Path, db_path: Path, documents: int) -> dict:
    """CPU milliseconds per document of `save_tags` (the tag writer) in `code`, over `documents`."""
    done = subprocess.run([sys.executable, "-c", WRITER, str(db_path), str(documents)], cwd=str(code),
                          env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def pipeline_version_of(code: Path) -> str:
    return subprocess.run([sys.executable, "-c", "from harvest.nlp.corpus import pipeline_version; "
                           "print(pipeline_version())"], env={**os.environ, "PYTHONPATH": str(code)},
                          cwd=str(code), capture_output=True, text=True, check=True).stdout.strip()


def in_process(code: Path, script: str) -> dict:
    """Run `script` (STEPS plus a body printing JSON) with `code` on the path, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", STEPS + script], env={**os.environ, "PYTHONPATH": str(code)},
                          cwd=str(code), capture_output=True, text=True)  # `-c` puts the cwd first on the path
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--before", type=Path, help="a checkout of the code before the change markers")
    parser.add_argument("--skip-graph-before", action="store_true", help="do not time the old graph build")
    parser.add_argument("--only", choices=("before", "after"), help="measure one side only")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "incremental.json")
    parser.add_argument("--writer", type=int, metavar="DOCS",
                        help="only compare the tag writer (save_tags) of --before and this code on DOCS documents")
    options = parser.parse_args()
    if options.writer:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
            figures = {}
            for name, code in (("before", options.before), ("after", ROOT)):
                path = Path(folder) / f"{name}.db"
                build_corpus(path, options.writer, "v")
                figures[name] = writer_ms(code, path, options.writer)
            print(json.dumps(figures))
        return
    results: dict = {"python": platform.python_version(), "machine": platform.machine(),
                     "date": time.strftime("%Y-%m-%d"), "documents": options.n}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
        folder = Path(folder)
        if options.before and options.only != "after":
            before_db = folder / "before.db"
            clock = time.perf_counter()
            results["corpus"] = build_corpus(before_db, options.n, pipeline_version_of(options.before))
            results["corpus_seconds"] = round(time.perf_counter() - clock, 1)
            results["before"] = in_process(options.before, f"""
db = database.connect({str(before_db)!r})
first = run(db, with_graph=False)
again = run(db, with_graph={not options.skip_graph_before})
print(json.dumps({{"first": first, "nothing_changed": again}}))""")
            print("before:", json.dumps(results["before"]), flush=True)
            before_db.unlink()
        if options.only == "before":
            options.out.write_text(json.dumps(results, indent=1))
            return
        after_db = folder / "after.db"
        results["corpus"] = build_corpus(after_db, options.n, pipeline_version_of(ROOT))
        results["after"] = in_process(ROOT, f"""
wall = time.perf_counter()
db = database.connect({str(after_db)!r})  # migration 11: counters, triggers, indexes
migrated = round(time.perf_counter() - wall, 2)
first = run(db)
again = run(db)
with database.transaction(db):
    db.execute("UPDATE documents SET body = body || ' A second family sued.', content_hash = 'changed' "
               "WHERE id = (SELECT min(id) FROM documents WHERE kind = 'news')")
one = run(db)
print(json.dumps({{"migration_11_seconds": migrated, "first": first, "nothing_changed": again,
                  "one_news_report_changed": one}}))""")
        print("after:", json.dumps(results["after"]), flush=True)
    options.out.write_text(json.dumps(results, indent=1))
    print(f"written: {options.out}")


if __name__ == "__main__":
    main()
