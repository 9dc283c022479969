# Two set-up commands: `make serve` (build the seed corpus and browse it) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB ?= corpus.db

.PHONY: install serve test harvest resolve bench clean

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

# every source in turn (a source that fails in part does not stop the others), then tags
harvest: $(DB)
	-$(BIN)/harvest resolve $(DB)
	-$(BIN)/harvest pubmed $(DB)
	-$(BIN)/harvest europepmc $(DB)
	-$(BIN)/harvest jmir $(DB)
	-$(BIN)/harvest arxiv $(DB)
	-$(BIN)/harvest crossref $(DB)
	-$(BIN)/harvest news $(DB)
	-$(BIN)/harvest guidance $(DB)
	-$(BIN)/harvest legislation $(DB)
	$(BIN)/harvest tag $(DB)
	$(BIN)/harvest incidents $(DB)
	$(BIN)/harvest graph $(DB)

bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_pubmed_parse.py
	$(BIN)/python benchmarks/bench_tagging.py
	$(BIN)/python benchmarks/bench_news_extract.py
	$(BIN)/python benchmarks/bench_serve.py
	$(BIN)/python benchmarks/bench_exports.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
