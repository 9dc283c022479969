"""Benchmark: tagging throughput on title+abstract-sized texts, in one process and on every core,
against a floor measured in the same run: spaCy's bare English tokenizer over the same texts.

Measured: the tokenizer alone (the floor), the rules alone, rules + the learned layer (as
`harvest tag` runs when annotations/theme-model.json exists), and rules + learned on every core.
Uses the real texts of ../shared/gold when present (about 1,700 characters each), else the
team's own gold texts, cycled to 3,000 documents. Writes benchmarks/results/tagging.json.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import time
from pathlib import Path

from harvest.nlp.corpus import BATCH, tag_chunks
from harvest.nlp.evaluate import load_gold
from harvest.nlp.learned import load_default
from harvest.nlp.pipeline import build_pipeline
from harvest.nlp.tagger import tag_documents
from harvest.nlp.vocab import load_taxonomy

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "gold" / "gold.jsonl"
OWN = HERE.parent / "annotations" / "gold" / "gold.jsonl"
DOCUMENTS = 3000


def main() -> None:
    source = SHARED if SHARED.exists() else OWN
    gold = load_gold(source)
    inputs = [g.input for g in itertools.islice(itertools.cycle(gold), DOCUMENTS)]
    characters = sum(len(i.title) + len(i.abstract) for i in inputs) / len(inputs)
    started = time.perf_counter()
    nlp, taxonomy = build_pipeline(), load_taxonomy()
    built = time.perf_counter() - started
    texts = [f"{i.title}\n{i.abstract}" for i in inputs]
    started = time.perf_counter()
    for _ in nlp.tokenizer.pipe(texts, batch_size=256):
        pass
    floor_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rules_count = sum(1 for _ in tag_documents(nlp, taxonomy, inputs, learned=False))
    rules_seconds = time.perf_counter() - started
    layer = load_default()
    started = time.perf_counter()
    count = sum(1 for _ in tag_documents(nlp, taxonomy, inputs, learned=layer))
    seconds = time.perf_counter() - started
    chunks = [inputs[i:i + BATCH] for i in range(0, len(inputs), BATCH)]
    started = time.perf_counter()
    parallel = sum(len(results) for results in tag_chunks(chunks))  # as `harvest tag` runs: every core
    parallel_seconds = time.perf_counter() - started
    result = {"date": time.strftime("%Y-%m-%d"),
              "machine": f"{platform.machine()}, CPython {platform.python_version()}",
              "texts": str(source.relative_to(source.parents[2])) if source == SHARED else "annotations/gold",
              "documents": count, "mean_characters": round(characters),
              "pipeline_build_seconds": round(built, 2),
              "floor_bare_tokenizer": {"seconds": round(floor_seconds, 2),
                                       "documents_per_second": round(len(texts) / floor_seconds)},
              "rules_only": {"seconds": round(rules_seconds, 2),
                             "documents_per_second": round(rules_count / rules_seconds),
                             "times_the_floor": round(rules_seconds / floor_seconds, 1)},
              "learned_layer": bool(layer), "seconds": round(seconds, 2),
              "documents_per_second": round(count / seconds),
              "times_the_floor": round(seconds / floor_seconds, 1),
              "all_cores": {"workers": min(os.cpu_count() or 1, 8), "seconds": round(parallel_seconds, 2),
                            "documents_per_second": round(parallel / parallel_seconds)}}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "tagging.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
