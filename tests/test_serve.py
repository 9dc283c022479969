"""`harvest serve` starts real Datasette on 127.0.0.1 over the seed corpus."""

import subprocess
import sys

import pytest
import requests

from conftest import free_port, harvest_serve
from harvest.sources.seed import load_seed
from harvest import db as database


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "corpus.db"
    db = database.connect(path)
    load_seed(db, tmp_path / "archive")
    db.conn.close()
    with harvest_serve(path) as base:
        yield base


def test_serves_the_seed_corpus_with_metadata(served):
    home = requests.get(served + "/", timeout=5).text
    assert "LLMs &amp; Mental Health Evidence Base" in home
    documents = requests.get(served + "/corpus/documents.json?_shape=array&_size=max", timeout=5).json()
    assert len(documents) == 23
    assert any(d["title"] == "LLMs and Mental Health" for d in documents)
    page = requests.get(served + "/corpus/documents", timeout=5).text
    assert "One row per work" in page  # table description from metadata.yml


def test_full_text_search_and_identifier_links(served):
    hits = requests.get(served + "/corpus/documents.json?_search=stigma&_shape=array", timeout=5).json()
    assert [h["title"][:19] for h in hits] == ["Expressing stigma a"]
    page = requests.get(served + "/corpus/identifiers?scheme=doi", timeout=5).text
    assert '<a href="https://doi.org/10.2196/59479" rel="nofollow">10.2196/59479</a>' in page


def test_plugins_directory_is_loaded(served):
    assert requests.get(served + "/-/feeds/documents.atom", timeout=5).status_code == 200  # atom_feeds.py
    assert requests.get(served + "/-/plugins.json", timeout=5).status_code == 404  # limits.py hides the list


def test_serve_refuses_a_missing_database(tmp_path):
    result = subprocess.run([sys.executable, "-m", "harvest", "serve", str(tmp_path / "none.db")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "harvest seed" in result.stderr


def test_immutable_mode_refuses_an_old_schema(tmp_path):
    path = tmp_path / "corpus.db"
    database.connect(path, upto=5).conn.close()
    run = subprocess.run([sys.executable, "-m", "harvest", "serve", str(path), "--immutable", "--port", str(free_port())],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "schema version 5" in run.stderr and "without --immutable" in run.stderr


def test_served_site_is_read_only(served):
    response = requests.post(served + "/corpus/documents", timeout=5)
    assert response.status_code == 405 and "read-only" in response.text
