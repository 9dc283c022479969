"""Benchmark: "similar documents" (`/-/search?similar=ID`, harvest.similar) at 10,000 and 100,000 documents.

Builds a synthetic corpus with the project's schema whose titles and abstracts draw words from a
Zipf-like vocabulary of 20,000 made-up words (a few words in most documents, most words in few,
as in real text), plus themes, products and a citation list, then times, in one run and through
Datasette in-process with the project's plugins and `harvest serve`'s settings:

- `search_page`: the search page for one word (the floor this page is compared with);
- `similar_page`: the search page of a document's neighbours, with the "why" line of each;
- `similar_documents`: harvest.similar.similar_documents alone, on a read-only connection.

The machine is shared, so the result to read is the ratio of the similar page to the search page
measured in the same run. Writes benchmarks/results/similar.json.
"""

from __future__ import annotations

import asyncio
import json
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from datasette.app import Datasette

from harvest import db as database
from harvest.db import transaction
from harvest.serve import PLUGINS_DIR, SETTINGS as SERVE_SETTINGS
from harvest.similar import similar_documents

from bench_serve import timed  # benchmarks/ is the script's folder: the same timing as the serving benchmark

HERE = Path(__file__).resolve().parent
SIZES = [int(n) for n in sys.argv[1:]] or [10_000, 100_000]
REPEATS = 30
VOCABULARY = 20_000
THEMES = ("symptoms", "diagnosis", "treatment", "safety", "bias_stigma", "privacy", "regulation")
PRODUCTS = [f"Product{n}" for n in range(40)]
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pra", "dex", "mon", "tel")


def _word(n: int) -> str:
    letters = []
    while True:
        n, r = divmod(n, len(SYLLABLES))
        letters.append(SYLLABLES[r])
        if not n:
            return "".join(letters) + "x"


def build(path: Path, size: int) -> list[str]:
    rng = random.Random(size)
    words = [_word(n) for n in range(VOCABULARY)]
    weights = [1 / (rank + 1) for rank in range(VOCABULARY)]
    db = database.connect(path)
    ids = [f"d{n:012x}" for n in range(size)]
    with transaction(db):
        db["themes"].insert_all({"id": t, "label": t.replace("_", " ").title()} for t in THEMES)
        db["entities"].insert_all({"id": f"product:{p.lower()}", "type": "product", "name": p} for p in PRODUCTS)
        rows, tags, mentions, cites = [], [], [], []
        for n, doc_id in enumerate(ids):
            drawn = rng.choices(words, weights, k=140)
            rows.append({"id": doc_id, "kind": "paper", "title": " ".join(drawn[:12]).capitalize(),
                         "abstract": " ".join(drawn[12:]) + ".", "year": rng.randint(2018, 2026), "relevance": "relevant",
                         "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z"})
            tags += [{"document_id": doc_id, "theme": t, "score": 1.0, "method": "rules"} for t in rng.sample(THEMES, 2)]
            mentions += [{"document_id": doc_id, "entity_id": f"product:{p.lower()}", "mentions": 1}
                         for p in rng.sample(PRODUCTS, rng.randint(0, 2))]
            cites += [{"citing_id": doc_id, "cited_id": ids[rng.randrange(n)]} for _ in range(min(n, 5))]
            if len(rows) == 5000:
                db["documents"].insert_all(rows)
                rows = []
        db["documents"].insert_all(rows)
        db["document_themes"].insert_all(tags, batch_size=5000)
        db["document_entities"].insert_all(mentions, batch_size=5000)
        db["citations"].insert_all(cites, batch_size=5000, ignore=True)
    db.execute("ANALYZE")
    db.conn.close()
    return ids


def summary(times: list[float]) -> dict:
    times = sorted(times)
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
            "requests": len(times)}


def measure(path: Path, ids: list[str]) -> dict:
    datasette = Datasette([str(path)], metadata=yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text()),
                          plugins_dir=str(PLUGINS_DIR), template_dir=str(PLUGINS_DIR / "templates"),
                          settings=SERVE_SETTINGS)
    rng = random.Random(1)
    chosen = [rng.choice(ids) for _ in range(REPEATS)]
    words = [_word(rng.randrange(50, 2000)) for _ in range(REPEATS)]

    async def run():
        await datasette.client.get("/-/search?q=warm")  # build the search index once
        return {"search_page": await timed(datasette, [f"/-/search?q={w}" for w in words]),
                "similar_page": await timed(datasette, [f"/-/search?similar={i}" for i in chosen])}
    result = asyncio.run(run())
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    times, found = [], []
    for document_id in chosen:
        started = time.perf_counter()
        found.append(len(similar_documents(conn, document_id)))
        times.append((time.perf_counter() - started) * 1000)
    result["similar_documents"] = {**summary(times), "neighbours_median": statistics.median(found)}
    result["similar_page_over_search_page_p95"] = round(result["similar_page"]["p95_ms"] / result["search_page"]["p95_ms"], 2)
    return result


def main() -> None:
    report = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, CPython {platform.python_version()}",
              "corpora": {}}
    for size in SIZES:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "corpus.db"
            started = time.perf_counter()
            ids = build(path, size)
            result = {"build_seconds": round(time.perf_counter() - started, 1), **measure(path, ids)}
            report["corpora"][str(size)] = result
            print(size, json.dumps(result), flush=True)
    (HERE / "results" / "similar.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
