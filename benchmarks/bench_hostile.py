"""Benchmark: the hardening figures of issue 17, re-measured on this machine.

- kills: `harvest pubmed --load` of a large synthetic efetch file (parsed on every core) is
  SIGKILLed at a random moment, N times; after each kill the database must pass
  `PRAGMA integrity_check`, no parse worker may survive, and the next harvest must start (the
  lock is free). A last, uninterrupted run must end with every record stored once.
- readers: 50 threads read (counts and a full-text search) while one such load writes; errors
  are counted.
- splitter: the time to refuse a PubMed file whose record never ends, at two sizes; linear
  work gives a ratio near the size ratio (a rescan of the growing buffer gave its square).

Writes results/hostile.json. Usage: python benchmarks/bench_hostile.py [--kills 20]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harvest import chunked, limits  # noqa: E402

SAMPLE = (ROOT / "tests" / "data" / "pubmed_sample.xml").read_bytes()
HEAD, REST = SAMPLE.split(b"<PubmedArticleSet>", 1)
ARTICLES, TAIL = REST.rsplit(b"</PubmedArticleSet>", 1)


def big_file(path: Path, copies: int) -> int:
    """The sample's articles repeated with fresh PMIDs and DOIs; returns the record count."""
    body = b"".join(ARTICLES.replace(b">9000000", f">{7000 + n}00".encode())
                    .replace(b"PMC9000", f"PMC{7000 + n}00".encode())
                    .replace(b"10.9999/", f"10.9999/c{n}.".encode()).replace(b"10.9999/INVENTED", f"10.9999/c{n}.INVENTED".encode())
                    for n in range(copies))
    path.write_bytes(gzip.compress(HEAD + b"<PubmedArticleSet>" + body + b"</PubmedArticleSet>" + TAIL, 1))
    return ARTICLES.count(b"</PubmedArticle>") * copies


def harvest(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harvest", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            start_new_session=True)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def measure_kills(folder: Path, kills: int, copies: int) -> dict:
    data = folder / "big.xml.gz"
    records = big_file(data, copies)
    db_path = folder / "corpus.db"
    outcome = {"kills": 0, "kills_with_workers_running": 0, "workers_killed_with_parent": 0, "workers_left": 0,
               "integrity_ok": 0, "lock_free": 0, "records": records}
    for _ in range(kills):
        process = harvest("pubmed", str(db_path), "--load", str(data), "--quiet")
        time.sleep(random.uniform(1.0, 6.0))
        workers = children_of(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        outcome["kills"] += 1
        time.sleep(0.5)
        outcome["kills_with_workers_running"] += bool(workers)
        outcome["workers_killed_with_parent"] += sum(not alive(w) for w in workers)
        outcome["workers_left"] += sum(alive(w) for w in workers)
        if db_path.exists():
            check = sqlite3.connect(db_path).execute("PRAGMA integrity_check").fetchone()[0]
            outcome["integrity_ok"] += check == "ok"
        else:
            outcome["integrity_ok"] += 1
        probe = harvest("seed", str(db_path), "--quiet")
        _, err = probe.communicate(timeout=300)
        outcome["lock_free"] += b"another harvest" not in err
    final = harvest("pubmed", str(db_path), "--load", str(data), "--quiet")
    final.communicate(timeout=3600)
    connection = sqlite3.connect(db_path)
    outcome["documents_after_rerun"] = connection.execute(
        "SELECT count(*) FROM identifiers WHERE scheme = 'pmid'").fetchone()[0]
    outcome["converged"] = outcome["documents_after_rerun"] == records
    return outcome


def measure_readers(folder: Path, readers: int, copies: int) -> dict:
    data = folder / "readers.xml.gz"
    big_file(data, copies)
    db_path = folder / "readers.db"
    subprocess.run([sys.executable, "-m", "harvest", "seed", str(db_path), "--quiet"], cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    writer = harvest("pubmed", str(db_path), "--load", str(data), "--quiet")
    counts = {"queries": 0, "errors": 0}
    lock = threading.Lock()

    def read():
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        while writer.poll() is None:
            try:
                connection.execute("SELECT count(*) FROM documents").fetchone()
                connection.execute("SELECT rowid FROM documents_fts WHERE documents_fts MATCH 'chatbot' "
                                   "LIMIT 20").fetchall()
                with lock:
                    counts["queries"] += 2
            except sqlite3.Error:
                with lock:
                    counts["errors"] += 1
    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    writer.communicate(timeout=3600)
    for thread in threads:
        thread.join()
    return {"readers": readers, **counts, "writer_exit": writer.returncode}


def measure_splitter() -> dict:
    def refuse(size: int) -> float:
        data = b"<PubmedArticleSet><PubmedArticle>" + b"x" * size
        started = time.perf_counter()
        try:
            for _ in chunked.split_at_records(io.BytesIO(data), (b"</PubmedArticle>",), b"PubmedArticleSet",
                                              max_record_bytes=size - 1024):
                pass
        except limits.LimitExceeded:
            pass
        return time.perf_counter() - started
    small, large = min(refuse(16 << 20) for _ in range(3)), min(refuse(64 << 20) for _ in range(3))
    return {"16_MiB_s": round(small, 3), "64_MiB_s": round(large, 3), "ratio": round(large / small, 2),
            "size_ratio": 4}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--copies", type=int, default=4000)
    parser.add_argument("--readers", type=int, default=50)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = {"date": time.strftime("%Y-%m-%d"), "splitter": measure_splitter(),
                   "readers": measure_readers(Path(folder), options.readers, options.copies),
                   "kills": measure_kills(Path(folder), options.kills, options.copies)}
    out = ROOT / "benchmarks" / "results" / "hostile.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
