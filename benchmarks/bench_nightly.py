"""Benchmark: the nightly run against the local imitation of the sources (tests/nightly_sources.py).

1. A first night on an empty corpus, then a night when nothing changed: seconds, requests made
   (and how many were conditional), rows that differ afterwards (content tables, run bookkeeping
   aside), harvest_runs added + updated, rows the derivation steps wrote, and the page sizes the
   arXiv API was asked for (an incremental run's first page is small).
2. SIGKILL at `KILLS` (default 20) random points of a nightly run, each time checking
   `PRAGMA integrity_check` and that a rerun ends with the rows of an uninterrupted run.

Writes benchmarks/results/nightly.json. Usage: python benchmarks/bench_nightly.py [KILLS]
"""

from __future__ import annotations

import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from nightly_sources import Sources, schedule  # noqa: E402
from test_nightly import assert_kill_then_converge, comparable, digest_of, nightly  # noqa: E402

KILLS = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def main() -> None:
    results: dict = {"python": platform.python_version(), "machine": platform.machine(), "date": time.strftime("%Y-%m-%d")}
    sources = Sources()
    try:
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            plan = schedule(folder / "schedule.yaml", sources)
            db_path = folder / "corpus.db"
            nights = []
            for night in ("first", "nothing changed"):
                before = len(sources.server.requests)
                rows_before = comparable(db_path) if db_path.exists() else {}
                clock = time.monotonic()
                run = nightly(db_path, plan)
                seconds = time.monotonic() - clock
                digest = digest_of(db_path)
                requests = sources.server.requests[before:]
                rows_after = comparable(db_path)
                differing = sum(len(set(rows_after[t]) ^ set(rows_before.get(t, []))) for t in rows_after)
                nights.append({
                    "night": night, "exit_status": run.returncode, "seconds": round(seconds, 1),
                    "requests": len(requests),
                    "conditional_requests": sum(1 for _, _, h in requests if "If-None-Match" in h or "If-Modified-Since" in h),
                    "requests_by_path": sorted({p for p, _, _ in requests}),
                    "arxiv_max_results": [parse_qs(q).get("max_results", ["?"])[0] for p, q, _ in requests
                                          if p.startswith("/arxiv/")],
                    "rows_differing": differing,
                    "harvest_added_updated": sum(s["counts"].get("added", 0) + s["counts"].get("updated", 0)
                                                 for s in digest["sources"]),
                    "derivation_rows_written": sum(d["rows_written"] or 0 for d in digest["derivations"]),
                    "seconds_per_step": {s["source"]: s["seconds"] for s in digest["sources"]}})
                print(json.dumps(nights[-1]))
            results["nights"] = nights
            uninterrupted = nights[0]["seconds"]
            expected = comparable(db_path)
            rng = random.Random(20261130)
            kills = []
            for number in range(KILLS):
                killed = folder / f"killed-{number}" / "corpus.db"
                killed.parent.mkdir()
                after = rng.uniform(0.5, uninterrupted)
                assert_kill_then_converge(killed, plan, after, expected)
                kills.append(round(after, 1))
                print(f"kill {number + 1}/{KILLS} after {after:.1f} s: intact, converged")
            results["kills"] = {"count": KILLS, "after_seconds": kills, "all_intact_and_converged": True}
    finally:
        sources.close()
    out = HERE / "results" / "nightly.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
