"""Benchmark: what escaping costs the exports.

1. Datasette's streamed CSV of a synthetic documents table (`/corpus/documents.csv?_stream=on`),
   served in-process with the project's plugins, once with the `csv_cells` plugin (formula cells
   neutralised) and once with the same plugins without it: the ratio is the plugin's cost.
2. The citation writers (BibTeX, RIS) on the same records, against bibtexparser and rispy fed the
   same values unescaped: the ratio is the cost of `harvest.escape`.

Writes benchmarks/results/exports.json. Usage: python benchmarks/bench_exports.py [N documents]
"""

from __future__ import annotations

import asyncio
import json
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import bibtexparser
import rispy
import yaml
from bibtexparser.model import Entry, Field
from datasette.app import Datasette

from harvest import db as database
from harvest.cite import _RisWriter, bibtex, csl_item, ris
from harvest.serve import PLUGINS_DIR

HERE = Path(__file__).resolve().parent
SIZE = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
REPEATS = 5
WORDS = ("chatbot", "depression", "=HYPERLINK(x)", "100%", "users_rated", "#1", "$0", "AI & care", "{apps}", "-2+3",
         "@outlet", "trial", "safety", "van der Berg", "suicide", "therapy")


def synthetic_rows(n: int) -> list[dict]:
    rng = random.Random(13)
    return [{"id": f"d{i:012x}", "kind": "paper", "title": " ".join(rng.choices(WORDS, k=10)),
             "abstract": " ".join(rng.choices(WORDS, k=60)), "venue": rng.choice(["Computers & Education", "@outlet"]),
             "year": 2000 + i % 25, "first_seen": "2025-01-01T00:00:00Z", "last_seen": "2025-01-01T00:00:00Z"}
            for i in range(n)]


def best_of(function, repeats: int = REPEATS) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return min(timings)


def csv_seconds(path: Path, plugins: Path) -> float:
    metadata = yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text())
    datasette = Datasette([str(path)], metadata=metadata, plugins_dir=str(plugins),
                          template_dir=str(PLUGINS_DIR / "templates"))

    def fetch():
        async def go():
            response = await datasette.client.get("/corpus/documents.csv?_stream=on&_sort=id")
            lines = response.text.count("\n")
            assert response.status_code == 200 and lines > SIZE, (response.status_code, lines, response.text[-300:])
        asyncio.run(go())
    return best_of(fetch)


def main() -> None:
    rows = synthetic_rows(SIZE)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.db"
        db = database.connect(path)
        db["documents"].insert_all(rows)
        db.conn.close()
        without = Path(folder) / "plugins"
        shutil.copytree(PLUGINS_DIR, without, ignore=shutil.ignore_patterns("csv_cells.py", "__pycache__"))
        with_plugin, without_plugin = csv_seconds(path, PLUGINS_DIR), csv_seconds(path, without)

    items = [csl_item({**row, "authors": [{"last_name": "van der Berg", "fore_name": "Anna"}],
                       "identifiers": {"doi": f"10.1000/{row['id']}"}}) for row in rows[:5000]]

    def plain_bibtex():
        library = bibtexparser.Library()
        for item in items:
            library.add(Entry("article", item["id"], [Field("title", item["title"]), Field("journal", item["container-title"]),
                                                      Field("abstract", item.get("abstract") or ""),
                                                      Field("author", "van der Berg, Anna"), Field("doi", item["DOI"])]))
        bibtexparser.write_string(library)

    def plain_ris():
        rispy.dumps([{"type_of_reference": "JOUR", "id": i["id"], "title": i["title"], "authors": ["van der Berg, Anna"],
                      "secondary_title": i["container-title"], "abstract": i.get("abstract"), "doi": i["DOI"]}
                     for i in items], implementation=_RisWriter)
    results = {
        "machine": platform.platform(), "python": platform.python_version(), "documents": SIZE,
        "csv_stream_seconds": {"with_csv_cells": round(with_plugin, 3), "without": round(without_plugin, 3),
                               "ratio": round(with_plugin / without_plugin, 2)},
        "bibtex_5000_items_seconds": {"escaped": round(best_of(lambda: bibtex(items), 3), 3),
                                      "unescaped": round(best_of(plain_bibtex, 3), 3)},
        "ris_5000_items_seconds": {"escaped": round(best_of(lambda: ris(items), 3), 3),
                                   "unescaped": round(best_of(plain_ris, 3), 3)},
    }
    for key in ("bibtex_5000_items_seconds", "ris_5000_items_seconds"):
        results[key]["ratio"] = round(results[key]["escaped"] / results[key]["unescaped"], 2)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "exports.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
