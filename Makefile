# Two set-up commands: `make serve` (build the seed corpus and browse it) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB ?= corpus.db

.PHONY: install serve test harvest resolve release bench bench-growth clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(DB): $(VENV)/.installed annotations/seed.yaml annotations/taxonomy.yaml annotations/entities.yaml annotations/corrections.yaml annotations/incidents.yaml annotations/reading-list.yaml
	$(BIN)/harvest seed $(DB)
	$(BIN)/harvest import $(DB) annotations/reading-list.yaml
	$(BIN)/harvest tag $(DB)
	$(BIN)/harvest incidents $(DB)
	$(BIN)/harvest graph $(DB)
	touch $(DB)

serve: $(DB)
	$(BIN)/harvest serve $(DB) --host 127.0.0.1 --port 8001

test: $(VENV)/.installed
	$(BIN)/python -m pytest

# with the network: complete the seed and starter records from Europe PMC, PubMed and Crossref
resolve: $(DB)
	$(BIN)/harvest resolve $(DB)

# every source in turn (each isolated, with a time budget), then tag, incidents and graph, and a
# digest; fails (non-zero) when the nightly run does: 3 some sources failed or are stale, 1 none worked
harvest: $(DB)
	$(BIN)/harvest nightly $(DB)

# an immutable snapshot for publishing, refused when the corpus is empty or shrank
release: $(DB)
	$(BIN)/harvest release $(DB) releases/$$(date -u +%Y-%m-%dT%H%M%SZ)

bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_pubmed_parse.py
	$(BIN)/python benchmarks/bench_tagging.py
	$(BIN)/python benchmarks/bench_news_extract.py
	$(BIN)/python benchmarks/bench_serve.py
	$(BIN)/python benchmarks/bench_exports.py
	$(BIN)/python benchmarks/bench_nightly.py
	$(BIN)/python benchmarks/bench_screen.py

# growth curves at 10k, 100k and 1M synthetic documents (long: about an hour on 2 cores); benchmarks/README.md
bench-growth: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_growth.py --sizes 10000 100000 1000000 --label $${LABEL:-before}

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
