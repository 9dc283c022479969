"""Benchmark: `harvest graph` (first build) on a synthetic corpus, this checkout against another.

For each corpus given (built once by `python benchmarks/synthetic.py DB N`), each code tree (this
checkout, "after", and with `--before DIR` a checkout of the code to compare with, e.g.
`git archive main | tar -x -C DIR`) runs `harvest graph` on a fresh copy of the corpus (graph tables
empty), in a child process measured as bench_growth.py measures its steps (wall and CPU seconds,
peak RSS from wait4), the trees taking turns. Then the stored graphs are compared: nodes and edges
(without the metrics) must be the same rows; for each, the number of communities, the Newman
modularity of its partition over the same weighted graph (scikit-network's get_modularity), and
how many of the 100 highest-PageRank nodes the two share.

Writes benchmarks/results/graph.json (a run per corpus size; earlier sizes kept) and prints it.
Usage: python benchmarks/bench_graph.py CORPUS.db [CORPUS.db ...] [--before DIR] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_growth import ROOT, run_step  # noqa: E402

RESULTS = HERE / "results" / "graph.json"


def _partition_quality(path: Path) -> dict:
    """Communities, Newman modularity of the stored partition, and the top PageRank node ids."""
    from sknetwork.clustering import get_modularity
    conn = sqlite3.connect(path)
    ids, community = [], []
    for node_id, number in conn.execute("SELECT id, community FROM graph_nodes ORDER BY id"):
        ids.append(node_id)
        community.append(-1 if number is None else number)
    index = {node_id: i for i, node_id in enumerate(ids)}
    rows = np.array([(index[a], index[b], w) for a, b, w in conn.execute("SELECT source, target, weight FROM graph_edges")],
                    dtype=np.float64).reshape(-1, 3)
    upper = sparse.coo_matrix((rows[:, 2], (rows[:, 0].astype(int), rows[:, 1].astype(int))), shape=(len(ids),) * 2)
    adjacency = (upper + upper.T).tocsr()
    top = [row[0] for row in conn.execute("SELECT id FROM graph_nodes ORDER BY pagerank DESC, id LIMIT 100")]
    structure = conn.execute("SELECT count(*), total(degree), total(weighted_degree) FROM graph_nodes").fetchone()
    conn.close()
    labels = np.array(community)
    return {"communities": int(len(set(community))),
            "modularity": round(float(get_modularity(adjacency, labels)), 4), "top_pagerank": top,
            "nodes_degree_weighted": structure}


def _structure_digest(path: Path) -> tuple:
    conn = sqlite3.connect(path)
    nodes = conn.execute("SELECT count(*), total(length(id) + length(coalesce(label, '')) + degree) FROM graph_nodes").fetchone()
    edges = conn.execute("SELECT count(*), total(weight), total(length(origin_rows)), "
                         "total(length(source) * 3 + length(target) * 7 + length(type))  FROM graph_edges").fetchone()
    conn.close()
    return nodes, edges


def measure(corpus: Path, trees: dict, workdir: Path) -> dict:
    documents = sqlite3.connect(corpus).execute("SELECT count(*) FROM documents").fetchone()[0]
    run = {"documents": documents, "load_average_before": os.getloadavg(), "steps": {}, "quality": {}}
    outputs = {}
    for label, root in trees.items():
        copy = workdir / f"{label}-{corpus.name}"
        for suffix in ("", "-wal", "-shm"):
            Path(str(copy) + suffix).unlink(missing_ok=True)
        shutil.copyfile(corpus, copy)
        print(f"{label}: harvest graph on {documents} documents ...", flush=True)
        run["steps"][label] = {**run_step(["graph", str(copy)], workdir / f"{label}.log", root=root),
                               "load_average_after": os.getloadavg()}
        print(json.dumps(run["steps"][label]), flush=True)
        outputs[label] = copy
    for label, copy in outputs.items():
        run["quality"][label] = _partition_quality(copy)
        run["quality"][label]["structure"] = _structure_digest(copy)
    if len(outputs) == 2:
        first, second = (run["quality"][label] for label in outputs)
        run["same_nodes_and_edges"] = first["structure"] == second["structure"]
        run["top100_pagerank_shared"] = len(set(first["top_pagerank"]) & set(second["top_pagerank"]))
        before, after = run["steps"]["before"], run["steps"]["after"]
        run["ratio_before_over_after"] = {key: round(before[key] / after[key], 2) for key in ("wall_s", "cpu_s", "peak_rss_mb")}
    for quality in run["quality"].values():
        quality["top_pagerank"] = quality["top_pagerank"][:10]
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="+", type=Path)
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_graph"))
    arguments = parser.parse_args()
    arguments.workdir.mkdir(parents=True, exist_ok=True)
    trees = {"after": ROOT, **({"before": arguments.before.resolve()} if arguments.before else {})}
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for corpus in arguments.corpora:
        run = measure(corpus, trees, arguments.workdir)
        run.update(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), python=platform.python_version(),
                   machine=platform.machine(), cpus=os.cpu_count())
        results[str(run["documents"])] = run
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps(run, indent=1))


if __name__ == "__main__":
    main()
