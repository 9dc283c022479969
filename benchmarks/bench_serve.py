"""Benchmark: the served site over synthetic corpora, through a running `harvest serve`.

For each size (default 100,000 documents; `--sizes 100000 1000000`), the corpus is built once by
`benchmarks/synthetic.py` into `--corpus-dir/<size>/corpus.db` (kept for the next run), served by
`python -m harvest serve` from `--repo` (this checkout by default; point it at another checkout to
measure code before a change) on a free local port, and asked over HTTP, one request at a time,
after the server has built its search index:

- the search page (/-/search): broad words (each query asked once, so nothing is remembered),
  with kind, year and theme filters (new words), those words refined by the same filters just
  after being asked without them (as a person narrowing a search does), a two-word phrase, and
  words sorted newest first; the server uses the text index (`harvest search-index`) when the
  corpus has one built from its current version (`ready_seconds` includes building a missing one);
- the ranked canned query (search_documents), without and with a theme filter;
- the documents table with its default facets, with the theme and product facets, and filtered
  by a theme; a document page; the evidence map and the charts.

Writes p50/p95 (milliseconds), requests and failures (answers other than 200, e.g. a query
stopped at the 3 s limit) to benchmarks/results/serve.json under `--label` and the size.

    python benchmarks/bench_serve.py --sizes 100000 --label after
    python benchmarks/bench_serve.py --sizes 100000 --label before --repo /path/to/older/checkout
    python benchmarks/bench_serve.py --sizes 1000000 --only search_page document_page --label after
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.synthetic_search import TOPICS, document_id, make_corpus  # noqa: E402

FILTERS = "&kind=paper&year_from=2022&theme=safety"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def queries(seed: int = 1) -> list[str]:
    """Every one- and two-word query over the domain words, shuffled: each asked once."""
    found = list(TOPICS) + [" ".join(pair) for pair in itertools.combinations(TOPICS, 2)]
    random.Random(seed).shuffle(found)
    return found


def timed(session: requests.Session, base: str, paths: list[str], first: list[str] | None = None) -> dict:
    """p50/p95 of asking each path once; `first[n]`, when given, is asked (untimed) just before `paths[n]`."""
    times, failures = [], 0
    for n, path in enumerate(paths):
        if first:
            session.get(base + first[n], timeout=120)
        started = time.perf_counter()
        response = session.get(base + path, timeout=120)
        times.append((time.perf_counter() - started) * 1000)
        failures += response.status_code != 200
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
            "requests": len(times), "failures": failures}


def measure(repo: Path, database: Path, size: int, before: bool, repeats: int, only: tuple = ()) -> dict:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(repo)}
    server = subprocess.Popen([sys.executable, "-m", "harvest", "serve", str(database), "--port", str(port)], cwd=repo,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    try:
        started = time.perf_counter()
        while True:
            try:
                session.get(base + "/", timeout=30)
                break
            except requests.ConnectionError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"harvest serve stopped: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        session.get(base + "/-/search?q=warm", timeout=600)  # waits for the search index
        ready = round(time.perf_counter() - started, 1)
        words = queries()
        plain, other, newest = words[:repeats], words[repeats:2 * repeats], words[2 * repeats:3 * repeats]
        rng = random.Random(2)
        ids = [document_id(rng.randrange(size)) for _ in range(repeats)]
        pages = max(5, repeats // 4)
        themes = "_facet_array=themes&_facet_array=products" if before else "_facet_linked=themes&_facet_linked=products"
        theme_filter = "themes__arraycontains=safety" if before else "_theme=safety"
        result = {"ready_seconds": ready}
        for name, paths in [
            ("search_page", [f"/-/search?q={quote(q)}" for q in plain]),
            ("search_page_filtered", [f"/-/search?q={quote(q)}{FILTERS}" for q in other]),
            ("search_page_refined", [f"/-/search?q={quote(q)}{FILTERS}" for q in other]),
            ("search_page_phrase", [f"/-/search?q={quote(chr(34) + q.split()[0] + ' study' + chr(34))}" for q in plain]),
            ("search_page_newest", [f"/-/search?q={quote(q)}&sort=newest" for q in newest]),
            ("ranked_search", [f"/corpus/search_documents.json?q={quote(q)}&kind=&theme=&year=&scope=" for q in plain]),
            ("ranked_search_theme", [f"/corpus/search_documents.json?q={quote(q)}&kind=&theme=safety&year=&scope="
                                     for q in other]),
            ("documents_page", ["/corpus/documents"] * pages),
            ("documents_page_theme_facets", [f"/corpus/documents?{themes}"] * pages),
            ("documents_page_theme_filter", [f"/corpus/documents?{theme_filter}&kind=paper"] * pages),
            ("document_page", [f"/corpus/documents/{i}" for i in ids]),
            ("evidence_map", ["/-/evidence-map"] * pages),
            ("charts", ["/-/charts"] * pages),
        ]:
            if only and not name.startswith(only):
                continue
            result[name] = timed(session, base, paths, [f"/-/search?q={quote(q)}" for q in other]
                                 if name == "search_page_refined" else None)
            print(size, name, result[name], flush=True)
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--corpus-dir", type=Path, default=Path("/tmp/harvest-bench-serve"))
    parser.add_argument("--repo", type=Path, default=HERE.parent)
    parser.add_argument("--label", default="after")
    parser.add_argument("--before", action="store_true", help="ask the theme facet and filter as the older code offered them "
                                                              "(_facet_array, themes__arraycontains)")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--only", nargs="*", default=[], help="measure only the pages whose name starts with one of "
                                                              "these (e.g. search_page document_page)")
    args = parser.parse_args()
    output = HERE / "results" / "serve.json"
    report = json.loads(output.read_text()) if output.exists() else {}
    if "runs" not in report:
        report = {"runs": {}}
    for size in args.sizes:
        database = args.corpus_dir / str(size) / "corpus.db"
        if not database.exists():
            database.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            make_corpus(database, size)
            print(size, "built in", round(time.perf_counter() - started, 1), "s", flush=True)
        result = measure(args.repo.resolve(), database, size, args.before, args.repeats, tuple(args.only))
        result["database_mb"] = round(database.stat().st_size / 2**20, 1)
        result["load_average"] = [round(x, 1) for x in os.getloadavg()]
        run = report["runs"].setdefault(args.label, {"date": time.strftime("%Y-%m-%d"),
                                                     "machine": f"{platform.machine()}, CPython {platform.python_version()}",
                                                     "corpora": {}})
        run["corpora"][str(size)] = result
        output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
