"""Benchmark: what escaping costs the exports.

1. Datasette's streamed CSV of a synthetic documents table (`/corpus/documents.csv?_stream=on`),
   served in-process with the project's plugins, once with the `csv_cells` plugin (formula cells
   neutralised) and once with the same plugins without it: the ratio is the plugin's cost.
2. The citation writers (BibTeX, RIS) on the same records, against bibtexparser and rispy fed the
   same values unescaped: the ratio is the cost of `harvest.escape`.

3. `whole`: a whole `.alljson` and `.jsonl` export of the documents table of a synthetic corpus
   (benchmarks/synthetic.py, every relevance state, `?_relevance=all`; in the table's order, newest
   first along the `published` index, and `.jsonl` sorted by title, which no index gives, so every
   LIMIT/OFFSET page sorts the whole table again) at each size, in-process with
   the project's plugins (or those of `--plugins DIR`, e.g. an older checkout's, to measure before a
   change), against a floor measured in the same run: one sqlite3 cursor over the same rows in the
   same order, each written with json.dumps. The ratio export / floor stays flat with the size when
   the export reads each row once, and grows with it when it pages with LIMIT/OFFSET. The SHA-256 of
   each answer is kept, so two labels of one size show whether the bytes are the same.

Writes benchmarks/results/exports.json (1 and 2) or benchmarks/results/exports_whole.json (3, under
`--label`). Usage:

    python benchmarks/bench_exports.py [N documents]
    python benchmarks/bench_exports.py whole --sizes 10000 100000 --corpus-dir /tmp/corpora --label after
    python benchmarks/bench_exports.py whole --sizes 10000 100000 --corpus-dir /tmp/corpora --label before \
        --plugins /path/to/older/checkout/datasette-plugins
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
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
from harvest.serve import PLUGINS_DIR, SETTINGS

HERE = Path(__file__).resolve().parent
SIZE = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 20_000
REPEATS = 5
WORDS = ("chatbot", "depression", "=HYPERLINK(x)", "100%", "users_rated", "#1", "$0", "AI & care", "{apps}", "-2+3",
         "@outlet", "trial", "safety", "van der Berg", "suicide", "therapy")


def synthetic_rows(n: int) -> list[dict]:
    rng = random.Random(13)
    return [{"id": f"d{i:012x}", "kind": "paper", "title": " ".join(rng.choices(WORDS, k=10)),
             "abstract": " ".join(rng.choices(WORDS, k=60)), "venue": rng.choice(["Computers & Education", "@outlet"]),
             "year": 2000 + i % 25, "first_seen": "2025-01-01T00:00:00Z", "last_seen": "2025-01-01T00:00:00Z"}
            for i in range(n)]


def best_of(function, repeats: int = REPEATS, clock=time.perf_counter) -> float:
    timings = []
    for _ in range(repeats):
        start = clock()
        function()
        timings.append(clock() - start)
    return min(timings)


def best_of_both(function, repeats: int) -> tuple[float, float]:
    """(best wall-clock seconds, best CPU seconds of this process, every thread) of `repeats` runs:
    on a machine shared with other jobs the CPU seconds move less than the wall clock."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


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


WHOLE = {  # name -> (address after /<database>/documents, the floor's ORDER BY)
    "alljson": (".alljson?_relevance=all", "published DESC, rowid DESC"),
    "jsonl": (".jsonl?_relevance=all", "published DESC, rowid DESC"),
    "jsonl_by_title": (".jsonl?_relevance=all&_sort=title", "title, id"),
}


def whole_export_seconds(path: Path, plugins: Path, repeats: int) -> dict:
    """Best-of-`repeats` seconds of each whole export of the documents table (WHOLE), with the
    answer's size and digest."""
    metadata = yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text())
    datasette = Datasette([str(path)], metadata=metadata, plugins_dir=str(plugins),
                          template_dir=str(PLUGINS_DIR / "templates"), settings=SETTINGS)
    found = {}
    for name, (address, _) in WHOLE.items():
        answer = {}

        def fetch():
            async def go():
                response = await datasette.client.get(f"/{path.stem}/documents{address}")
                assert response.status_code == 200, (response.status_code, response.text[:300])
                answer["body"] = response.content
            asyncio.run(go())
        try:
            seconds, cpu = best_of_both(fetch, repeats)
        except Exception as error:  # noqa: BLE001 - a stream cut short (a page over the time limit) is a result
            causes, cause = [], error
            while cause is not None and len(causes) < 4:
                causes.append(cause.__class__.__name__)
                cause = cause.__context__
            found[name] = {"failed": " <- ".join(causes)}  # e.g. the server's QueryInterrupted behind the client's error
            continue
        found[name] = {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "bytes": len(answer["body"]),
                       "sha256": hashlib.sha256(answer["body"]).hexdigest()}
    return found


def floor_seconds(path: Path, order: str, repeats: int) -> tuple[float, float]:
    """(wall, CPU) seconds of one cursor over every document in `order` (an ORDER BY), each row json.dumps'd."""
    import sqlite3

    def read():
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        for row in conn.execute(f"SELECT * FROM documents ORDER BY {order}"):
            json.dumps(dict(row), ensure_ascii=False, default=str)
        conn.close()
    return best_of_both(read, repeats)


def _shown(path: Path) -> str:
    """A plugins folder as the results file records it: relative to the repository when inside it,
    else only its name (a machine's own paths stay out of the repository)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(HERE.parent))
    except ValueError:
        return f"(outside the repository) {path.name}"


def whole(arguments) -> None:
    sys.path.insert(0, str(HERE))
    from synthetic import make_corpus
    out = HERE / "results" / "exports_whole.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    run = {"machine": platform.platform(), "python": platform.python_version(), "load_average": os.getloadavg()[0],
           "plugins": _shown(arguments.plugins), "sizes": {}}
    for size in arguments.sizes:
        path = arguments.corpus_dir / f"c{size}.db"
        if not path.exists():
            arguments.corpus_dir.mkdir(parents=True, exist_ok=True)
            make_corpus(path, size)
        floors = {order: floor_seconds(path, order, arguments.repeats) for order in {o for _, o in WHOLE.values()}}
        exports = whole_export_seconds(path, arguments.plugins, arguments.repeats)
        for name, measured in exports.items():
            if "failed" in measured:
                continue
            wall, cpu = floors[WHOLE[name][1]]
            measured.update({"floor_seconds": round(wall, 3), "floor_cpu_seconds": round(cpu, 3),
                             "ratio_to_floor": round(measured["seconds"] / wall, 2),
                             "cpu_ratio_to_floor": round(measured["cpu_seconds"] / cpu, 2)})
        run["sizes"][str(size)] = exports
        print(size, json.dumps(run["sizes"][str(size)]), flush=True)
    results[arguments.label] = run
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "whole":
        parser = argparse.ArgumentParser(description="Whole exports of the documents table against a floor.")
        parser.add_argument("mode", choices=["whole"])
        parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
        parser.add_argument("--corpus-dir", type=Path, required=True, help="Where the synthetic corpora are (built when missing).")
        parser.add_argument("--plugins", type=Path, default=PLUGINS_DIR, help="The plugins folder to serve with.")
        parser.add_argument("--label", default="after")
        parser.add_argument("--repeats", type=int, default=3)
        whole(parser.parse_args())
    else:
        main()
