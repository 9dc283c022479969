"""Benchmark: article extraction on the shared news pages, harvest's parse_article against
trafilatura called bare (`trafilatura.extract(page, url=url)`), for speed, memory and agreement.

Reads ../shared/fixtures/news_html (179 pages); writes benchmarks/results/news_extract.json.
Each extractor runs in a process of its own, so peak memory (VmHWM) is its own.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import platform
import re
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[1] / "shared" / "fixtures"


def _pages() -> list[tuple[str, bytes, dict]]:
    expected = json.loads((FIXTURES / "expected" / "news_html.json").read_text())["files"]
    pages = []
    for name, facts in sorted(expected.items()):
        data = (FIXTURES / "news_html" / name).read_bytes()
        pages.append((name, gzip.decompress(data) if name.endswith(".gz") else data, facts))
    return pages


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def _run(extractor: str, queue) -> None:
    import trafilatura
    from harvest.formats.extract import parse_article, token_f1
    pages = _pages()
    started = time.perf_counter()
    texts = {}
    for name, data, facts in pages:
        url = facts.get("url") or f"https://example.org/{name}"
        texts[name] = parse_article(data, url)["text"] if extractor == "harvest" else trafilatura.extract(data, url=url) or ""
    seconds = time.perf_counter() - started
    keep = [_fold(p) in _fold(texts[n]) for n, _, f in pages for p in f.get("must_contain", [])]
    drop = [_fold(p) not in _fold(texts[n]) for n, _, f in pages for p in f.get("must_not_contain", [])]
    f1 = [token_f1(texts[n], f["article_body"]) for n, _, f in pages if "article_body" in f]
    peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM")) // 1024
    queue.put({"extractor": extractor, "pages": len(pages), "seconds": round(seconds, 2),
               "pages_per_second": round(len(pages) / seconds, 1), "peak_rss_mb": peak,
               "must_contain_kept": round(sum(keep) / len(keep), 3), "must_not_contain_dropped": round(sum(drop) / len(drop), 3),
               "body_token_f1": round(sum(f1) / len(f1), 3), "bodies": len(f1)})


def main() -> None:
    results = []
    for extractor in ("harvest", "trafilatura_bare"):
        queue = multiprocessing.Queue()
        process = multiprocessing.Process(target=_run, args=(extractor, queue))
        process.start()
        results.append(queue.get())
        process.join()
    report = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, CPython {platform.python_version()}",
              "results": results}
    (HERE / "results" / "news_extract.json").write_text(json.dumps(report, indent=2) + "\n")
    for row in results:
        print(row)


if __name__ == "__main__":
    main()
