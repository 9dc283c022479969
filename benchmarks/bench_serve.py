"""Benchmark: Datasette pages over synthetic corpora of 10,000 and 100,000 documents.

Builds each corpus with the project's schema (documents with themes and products, document_themes,
full-text index), then times, through Datasette in-process with the project's plugins, metadata,
templates and `harvest serve`'s settings: ranked search (the search_documents query), the table's
own search, a faceted documents page (kind, themes, year), a document page (the full template
with its Cite panel) and the search page (/-/search: ranked results with snippets and seven facets
counted over every match; the issue's goal is p95 under 200 ms at 100,000 documents). Writes
benchmarks/results/serve.json.
"""

from __future__ import annotations

import asyncio
import json
import platform
import random
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

HERE = Path(__file__).resolve().parent
SIZES = [int(n) for n in sys.argv[1:]] or [10_000, 100_000]
REPEATS = 40
TOPICS = ("chatbot", "depression", "anxiety", "suicide", "therapy", "psychosis", "adolescents", "privacy", "bias",
          "regulation", "clinicians", "ChatGPT", "companion", "loneliness", "screening", "diagnosis", "trial", "safety")
FILLER = ("the", "study", "patients", "model", "language", "large", "results", "methods", "we", "found", "use",
          "health", "mental", "care", "digital", "support", "response", "users", "outcomes", "evaluation", "data")
THEMES = ("symptoms", "diagnosis", "treatment", "safety", "bias_stigma", "privacy", "regulation", "clinical_practice",
          "trust", "misinformation", "access")
PRODUCTS = ("ChatGPT", "Character.AI", "Replika", "Woebot")
RELEVANCE = ("relevant",) * 14 + ("related",) * 3 + ("off-topic",) * 2 + ("undetermined",)  # as the tagger's four states
KINDS = ("paper", "paper", "paper", "preprint", "news", "news", "guidance", "legislation")


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(TOPICS) if rng.random() < 0.2 else rng.choice(FILLER) for _ in range(words)).capitalize() + "."


def build(path: Path, size: int) -> None:
    rng = random.Random(size)
    db = database.connect(path)
    with transaction(db):
        db["themes"].insert_all({"id": t, "label": t.replace("_", " ").title()} for t in THEMES)
        db["entities"].insert_all({"id": f"product:{p.lower()}", "type": "product", "name": p} for p in PRODUCTS)
        rows, tags, mentions = [], [], []
        for n in range(size):
            doc_id = f"d{n:012x}"
            themes = sorted(rng.sample(THEMES, rng.randint(0, 3)))
            products = rng.sample(PRODUCTS, rng.randint(0, 2))
            year = rng.randint(2018, 2026)
            rows.append({"id": doc_id, "kind": rng.choice(KINDS), "title": sentence(rng, 12),
                         "abstract": " ".join(sentence(rng, 20) for _ in range(8)), "venue": f"Venue {rng.randint(1, 300)}",
                         "year": year, "published": f"{year}-{rng.randint(1, 12):02d}-01", "themes": json.dumps(themes),
                         "products": json.dumps(products), "relevance": rng.choice(RELEVANCE),
                         "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z",
                         "study_design": rng.choice(["rct", "observational", "qualitative", "commentary", None])})
            tags += [{"document_id": doc_id, "theme": t, "score": 1.0, "method": "rules"} for t in themes]
            mentions += [{"document_id": doc_id, "entity_id": f"product:{p.lower()}", "mentions": 1} for p in products]
            if len(rows) == 5000:
                db["documents"].insert_all(rows)
                rows = []
        db["documents"].insert_all(rows)
        db["document_themes"].insert_all(tags, batch_size=5000)
        db["document_entities"].insert_all(mentions, batch_size=5000)
    db.execute("ANALYZE")
    db.conn.close()


async def timed(datasette: Datasette, paths: list[str]) -> dict:
    times = []
    for path in paths:
        started = time.perf_counter()
        response = await datasette.client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
            "requests": len(times)}


def measure(path: Path, size: int) -> dict:
    datasette = Datasette([str(path)], metadata=yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text()),
                          plugins_dir=str(PLUGINS_DIR), template_dir=str(PLUGINS_DIR / "templates"),
                          settings=SERVE_SETTINGS)
    rng = random.Random(1)
    queries = [" ".join(rng.sample(TOPICS, rng.randint(1, 2))) for _ in range(REPEATS)]
    ids = [f"d{rng.randrange(size):012x}" for _ in range(REPEATS)]

    async def run():
        await datasette.client.get("/corpus/documents.json?_size=1")  # warm the connection and caches
        return {
            "search_page": await timed(datasette, [f"/-/search?q={q}" for q in queries]),
            "search_page_filtered": await timed(datasette, [f"/-/search?q={q}&kind=paper&year_from=2022&theme=safety"
                                                            for q in queries]),
            "search_page_phrase": await timed(datasette, [f'/-/search?q="{q.split()[0]} study"' for q in queries]),
            "ranked_search": await timed(datasette, [f"/corpus/search_documents.json?q={q}&kind=&theme=&year=" for q in queries]),
            "table_search": await timed(datasette, [f"/corpus/documents.json?_search={q}" for q in queries]),
            "faceted_table": await timed(datasette, ["/corpus/documents?_facet=kind&_facet_array=themes&_facet=year"] * (REPEATS // 4)),
            "document_page": await timed(datasette, [f"/corpus/documents/{i}" for i in ids]),
        }
    return asyncio.run(run())


def main() -> None:
    report = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, CPython {platform.python_version()}",
              "corpora": {}}
    for size in SIZES:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "corpus.db"
            started = time.perf_counter()
            build(path, size)
            built = round(time.perf_counter() - started, 1)
            result = measure(path, size)
            result["build_seconds"] = built
            result["database_mb"] = round(path.stat().st_size / 2**20, 1)
            report["corpora"][str(size)] = result
            print(size, json.dumps(result))
    (HERE / "results" / "serve.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
