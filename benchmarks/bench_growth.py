"""Benchmark: growth curves of the nightly derivations and the served pages at 10k, 100k and 1M documents.

For each size, builds a synthetic corpus (benchmarks/synthetic.py: tagged by the current pipeline,
with themes, evidence, entities, citations and incidents) and measures, each command in a child
process of its own (wall seconds, CPU seconds of the child and the workers it reaped, peak resident
memory from wait4's ru_maxrss), with a time limit per step:

- `harvest tag` when nothing changed (the nightly case, measured for real);
- `harvest tag` after TAG_SAMPLE documents were marked as changed: the full-tagging throughput
  is (that run - the no-change run) / TAG_SAMPLE, and a full tag of the corpus is estimated as the
  no-change run + N x that cost per document (at sizes up to FULL_TAG_UPTO a real `harvest tag --all`
  is also run, to check the estimate);
- `harvest incidents` and `harvest graph`;
- the database file's size;
- through a running `harvest serve` on 127.0.0.1 (bounded request loops, sequential): ranked search
  (/-/search) p50/p95 for typical queries with and without a theme filter, the documents table with
  its facets (the default kind/year/study_design and the themes array facet), a document page, the
  evidence map and the charts page, noting any facet Datasette dropped for running out of time.

Results go to benchmarks/results/growth.json under a label (default "before"; sizes measured in an
earlier run under the same label are kept), and a summary with the growth ratios and the issue's
1M targets is printed. Every server and step process is stopped on the way out, also on Ctrl-C.

Usage: python benchmarks/bench_growth.py --sizes 10000 100000 1000000 [--label after] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from synthetic import make_corpus  # noqa: E402

RESULTS = HERE / "results" / "growth.json"
TAG_SAMPLE = 2000
FULL_TAG_UPTO = 10_000
STEP_LIMIT_S = 45 * 60  # a step still running after this is stopped and reported as such
MEMORY_LIMIT = 8 * 2**30  # address space of each step: a runaway step fails instead of starving the machine
QUERIES = ("psychosis", '"AI psychosis"', "Character.AI lawsuit", "chatbot suicide")
THEME_FOR = {"psychosis": "symptoms", '"AI psychosis"': "symptoms", "Character.AI lawsuit": "regulation",
             "chatbot suicide": "safety"}
TARGETS = {"search_p95_ms": 100, "table_page_ms": 500, "graph_seconds": 600, "graph_peak_mb": 4096}


def _environment(root: Path = ROOT) -> dict:
    return {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _limit_memory() -> None:
    os.setsid()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_step(args: list[str], log: Path, limit: float = STEP_LIMIT_S, root: Path = ROOT) -> dict:
    """Run `python -m harvest ARGS` to the end (or `limit` seconds): wall and CPU seconds, peak RSS.
    `root`: the checkout whose code runs (another one for a before/after comparison)."""
    started = time.perf_counter()
    with open(log, "ab") as output:
        process = subprocess.Popen([sys.executable, "-m", "harvest", *args], cwd=root, env=_environment(root),
                                   stdout=output, stderr=subprocess.STDOUT, preexec_fn=_limit_memory)
    timed_out = False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > limit:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"command": "harvest " + " ".join(a if not a.endswith(".db") else "DB" for a in args),
            "exit_status": process.returncode, "timed_out_after_s": limit if timed_out else None,
            "wall_s": round(time.perf_counter() - started, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`harvest serve DB` on a free port of 127.0.0.1, in its own process group, stopped on exit."""

    def __init__(self, path: Path, log: Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.output = open(log, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "harvest", "serve", str(path), "--port", str(self.port)],
                                        cwd=ROOT, env=_environment(), stdout=self.output, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def __enter__(self) -> "Server":
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                requests.get(self.base + "/", timeout=30)
                return self
            except requests.RequestException:
                if self.process.poll() is not None:
                    self.__exit__()
                    raise RuntimeError(f"harvest serve exited with status {self.process.returncode}")
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError("harvest serve did not answer within 180 s")

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.output.close()


def timed(session: requests.Session, base: str, paths: list[str], budget_s: float = 90.0) -> dict:
    """GET each path in turn (after one untimed warm-up) until `budget_s` is spent: p50/p95/max in ms."""
    try:
        session.get(base + paths[0], timeout=120)
    except requests.RequestException:
        pass
    times, failures, started = [], [], time.monotonic()
    for path in paths:
        if time.monotonic() - started > budget_s:
            break
        clock = time.perf_counter()
        try:
            response = session.get(base + path, timeout=120)
            status = response.status_code
        except requests.RequestException as error:
            status = type(error).__name__
        times.append((time.perf_counter() - clock) * 1000)
        if status != 200:
            failures.append(f"{path}: {status}")
    times.sort()
    return {"requests": len(times), "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[max(0, int(round(len(times) * 0.95)) - 1)], 1), "max_ms": round(times[-1], 1),
            "failures": failures[:5], "failed": len(failures)}


def measure_pages(path: Path, log: Path, repeats: int) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    total = conn.execute("SELECT max(rowid) FROM documents").fetchone()[0]
    rng = random.Random(7)
    ids = [row[0] for row in (conn.execute("SELECT id FROM documents WHERE rowid = ?", [rng.randint(1, total)]).fetchone()
                              for _ in range(repeats)) if row]
    cited = conn.execute("SELECT cited_id FROM citations GROUP BY cited_id ORDER BY count(*) DESC LIMIT 1").fetchone()
    conn.close()
    pages: dict = {}
    with Server(path, log) as server, requests.Session() as session:
        base = server.base
        # the floor: a page of a 11-row table, through the same server, plugins and templates
        pages["floor: themes table page"] = timed(session, base, ["/corpus/themes"] * repeats)
        for query in QUERIES:
            q = requests.utils.quote(query)
            pages[f"search {query}"] = timed(session, base, [f"/-/search?q={q}"] * repeats)
            pages[f"search {query} theme={THEME_FOR[query]}"] = timed(
                session, base, [f"/-/search?q={q}&theme={THEME_FOR[query]}"] * repeats)
        few = max(3, repeats // 4)
        pages["documents table (kind, year, study_design facets)"] = timed(session, base, ["/corpus/documents"] * few)
        pages["documents table + themes array facet"] = timed(session, base, ["/corpus/documents?_facet_array=themes"] * few)
        for name, extra in (("documents table (kind, year, study_design facets)", ""),
                            ("documents table + themes array facet", "&_facet_array=themes")):
            try:
                answer = session.get(base + f"/corpus/documents.json?_size=1{extra}", timeout=120).json()
                pages[name]["facets_timed_out"] = answer.get("facets_timed_out", [])
            except (requests.RequestException, ValueError) as error:
                pages[name]["facets_timed_out"] = f"not known: {error}"
        pages["document page"] = timed(session, base, [f"/corpus/documents/{i}" for i in ids])
        if cited:
            pages["document page, most cited work"] = timed(session, base, [f"/corpus/documents/{cited[0]}"] * few)
        pages["evidence map"] = timed(session, base, ["/-/evidence-map"] * few, budget_s=120)
        pages["charts"] = timed(session, base, ["/-/charts"] * few, budget_s=120)
    return pages


STEPS = ("tag", "tag-sample", "incidents", "graph", "serve")


def measure_size(n: int, folder: Path, repeats: int, log: Path, steps_wanted=STEPS, limit: float = STEP_LIMIT_S,
                 save=lambda result: None) -> dict:
    """Build an n-document corpus in folder/n/corpus.db (served as `corpus`, the name metadata.yml is
    written for) and run `steps_wanted` in that order; `save(result)` is called after every step, so
    a run stopped half-way keeps the figures it has."""
    path = folder / str(n) / "corpus.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob("corpus.db*"):
        leftover.unlink()
    print(f"[{n}] building the corpus ...", flush=True)
    result: dict = {"documents": n, "order": list(steps_wanted), "build": make_corpus(path, n)}
    result["database_mb_built"] = round(path.stat().st_size / 2**20, 1)
    print(f"[{n}] built in {result['build']['seconds']} s, {result['database_mb_built']} MB", flush=True)
    result["database_mb"] = result["database_mb_built"]
    steps = result["steps"] = {}
    save(result)

    def step(name, args):
        steps[name] = run_step(args, log, limit)
        print(f"[{n}] {name}: {steps[name]}", flush=True)
        save(result)

    for wanted in steps_wanted:
        if wanted == "tag":
            step("tag, nothing changed", ["tag", str(path), "--quiet"])
        elif wanted == "tag-sample":
            sample = min(TAG_SAMPLE, n)
            conn = sqlite3.connect(str(path))
            with conn:
                conn.execute("UPDATE documents SET tagged_version = NULL WHERE rowid IN "
                             "(SELECT rowid FROM documents ORDER BY random() LIMIT ?)", [sample])
            conn.close()
            step(f"tag, {sample} changed", ["tag", str(path), "--quiet"])
            still = steps.get("tag, nothing changed")
            if still and not still["timed_out_after_s"]:
                sampled = steps[f"tag, {sample} changed"]
                per_doc_cpu = max(0.0, sampled["cpu_s"] - still["cpu_s"]) / sample
                per_doc_wall = max(0.0, sampled["wall_s"] - still["wall_s"]) / sample
                result["tag_full_estimate"] = {
                    "sample": sample, "documents_per_wall_s": round(1 / per_doc_wall, 1) if per_doc_wall else None,
                    "documents_per_cpu_s": round(1 / per_doc_cpu, 1) if per_doc_cpu else None,
                    "wall_s": round(still["wall_s"] + per_doc_wall * n, 1),
                    "cpu_s": round(still["cpu_s"] + per_doc_cpu * n, 1)}
            if n <= FULL_TAG_UPTO:
                step("tag --all (measured)", ["tag", str(path), "--all", "--quiet"])
        elif wanted == "incidents":
            step("incidents", ["incidents", str(path)])
        elif wanted == "graph":
            step("graph", ["graph", str(path)])
        elif wanted == "serve":
            print(f"[{n}] serving ...", flush=True)
            try:
                result["pages"] = measure_pages(path, log, repeats)
            except RuntimeError as error:
                result["pages"] = {"error": str(error)}
            for name, page in result["pages"].items():
                print(f"[{n}]   {name}: {page}", flush=True)
            save(result)
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    result["rows"] = {table: conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0]
                      for table in ("documents", "document_themes", "document_entities", "evidence", "citations",
                                    "incident_documents", "graph_nodes", "graph_edges")}
    conn.close()
    result["database_mb"] = round(path.stat().st_size / 2**20, 1)
    save(result)
    return result


def _ratio(a, b):
    return round(b / a, 1) if a and b else None


def summary(sizes: dict) -> dict:
    """Growth ratios between consecutive sizes, and the largest size against the issue's targets."""
    ordered = sorted(sizes.values(), key=lambda r: r["documents"])

    def metrics(r: dict) -> dict:
        found = {"build_s": r["build"]["seconds"], "database_mb": r.get("database_mb"),
                 "tag_full_estimate_wall_s": r.get("tag_full_estimate", {}).get("wall_s")}
        for name, step in r["steps"].items():
            found[f"{name}: wall_s"] = step["wall_s"]
            found[f"{name}: cpu_s"] = step["cpu_s"]
            found[f"{name}: peak_rss_mb"] = step["peak_rss_mb"]
        for name, page in r.get("pages", {}).items():
            if isinstance(page, dict) and "p95_ms" in page:
                found[f"{name}: p95_ms"] = page["p95_ms"]
        return found
    growth = {}
    for small, large in zip(ordered, ordered[1:]):
        a, b = metrics(small), metrics(large)
        growth[f"{small['documents']} -> {large['documents']}"] = {k: _ratio(a[k], b.get(k)) for k in a}
    largest = ordered[-1]
    pages = largest.get("pages", {})
    search = [p["p95_ms"] for name, p in pages.items() if name.startswith("search") and "p95_ms" in p]
    tables = [p["p95_ms"] for name, p in pages.items() if name.startswith("documents table") and "p95_ms" in p]
    failed = {name: p["failures"][:1] for name, p in pages.items() if isinstance(p, dict) and p.get("failed")}
    graph = largest["steps"].get("graph", {"exit_status": None, "wall_s": None, "peak_rss_mb": None})
    targets = {
        "documents": largest["documents"],
        "search p95 < 100 ms": {"worst_ms": max(search, default=None),
                                "met": bool(search) and max(search) < 100 and not any(n.startswith("search") for n in failed)},
        "table/facet pages < 500 ms": {"worst_ms": max(tables, default=None), "met": bool(tables) and max(tables) < 500
                                       and not any(n.startswith("documents table") for n in failed)},
        "pages that failed": failed,
        "graph < 10 min and 4 GB": {"wall_s": graph["wall_s"], "peak_rss_mb": graph["peak_rss_mb"],
                                    "met": graph["exit_status"] == 0 and graph["wall_s"] < 600
                                    and graph["peak_rss_mb"] < 4096},
        "themes facet shown": not pages.get("documents table + themes array facet", {}).get("facets_timed_out", True),
    }
    return {"growth": growth, "targets_at_largest": targets}


def table(sizes: dict) -> str:
    """The figures as a Markdown table, a column per size (for benchmarks/README.md)."""
    ordered = sorted(sizes.values(), key=lambda r: r["documents"])
    rows: dict[str, list] = {}

    def put(name, r, value):
        rows.setdefault(name, [None] * len(ordered))[ordered.index(r)] = value
    for r in ordered:
        put("build: seconds", r, r["build"]["seconds"])
        put("database MB", r, r.get("database_mb"))
        for name, step in r["steps"].items():
            shown = f"{step['wall_s']} / {step['cpu_s']} / {step['peak_rss_mb']:.0f}"
            if step["timed_out_after_s"]:
                shown = f"stopped after {step['wall_s']:.0f} s"
            elif step["exit_status"] not in (0, None):
                shown += f" (exit {step['exit_status']})"
            put(f"`{step['command']}` ({name}): wall s / CPU s / peak MB", r, shown)
        estimate = r.get("tag_full_estimate")
        if estimate:
            put("full tag, estimated: wall s / CPU s (docs per CPU-s)", r,
                f"{estimate['wall_s']} / {estimate['cpu_s']} ({estimate['documents_per_cpu_s']})")
        for name, page in r.get("pages", {}).items():
            if isinstance(page, dict) and "p95_ms" in page:
                shown = f"{page['p50_ms']:.0f} / {page['p95_ms']:.0f}" + (f" ({page['failed']} failed)" if page["failed"] else "")
                put(f"{name}: p50 / p95 ms", r, shown)
    head = "| | " + " | ".join(f"{r['documents']:,}" for r in ordered) + " |\n|---|" + "---:|" * len(ordered) + "\n"
    return head + "".join(f"| {name} | " + " | ".join("" if v is None else str(v) for v in values) + " |\n"
                          for name, values in rows.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--label", default="before", help="the code measured: before / after a change")
    parser.add_argument("--workdir", type=Path, help="where the corpora are built (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the built corpora (with --workdir)")
    parser.add_argument("--repeats", type=int, default=20, help="requests per search query (pages get a quarter)")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS),
                        help="what to measure after the build, in this order (default: %(default)s)")
    parser.add_argument("--step-limit", type=float, default=STEP_LIMIT_S, help="seconds before a step is stopped")
    parser.add_argument("--summary-only", action="store_true", help="recompute the label's summary from the saved figures")
    options = parser.parse_args()
    if options.summary_only:
        report = json.loads(RESULTS.read_text())
        report[options.label]["summary"] = summary(report[options.label]["sizes"])
        RESULTS.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        print(json.dumps(report[options.label]["summary"], indent=1))
        print(table(report[options.label]["sizes"]))
        return
    folder = options.workdir or Path(tempfile.mkdtemp(prefix="growth-"))
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "growth.log"
    try:
        for n in options.sizes:
            def save(result, n=n):
                # read again just before writing: another run (other sizes, same label) may have written meanwhile
                report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
                run = report.setdefault(options.label, {})
                run.setdefault("sizes", {})[str(n)] = result
                run.setdefault("runs", {})[str(n)] = {
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_average_1min": os.getloadavg()[0],
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}"}
                run["summary"] = summary(run["sizes"])
                scratch = RESULTS.with_suffix(f".{os.getpid()}.tmp")
                scratch.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
                os.replace(scratch, RESULTS)
            measure_size(n, folder, options.repeats, log, options.steps, options.step_limit, save)
            if not options.keep:
                for leftover in (folder / str(n)).glob("corpus.db*"):
                    leftover.unlink()
    finally:
        if not options.keep:
            for leftover in folder.glob("*/corpus.db*"):
                leftover.unlink()
    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    print(json.dumps(report.get(options.label, {}).get("summary", {}), indent=1))
    if options.label in report:
        print(table(report[options.label]["sizes"]))
    print(f"written: {RESULTS} (label {options.label!r}); step output in {log}")


if __name__ == "__main__":
    main()
