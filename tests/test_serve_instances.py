"""Read capacity scales out: several `harvest serve --immutable` instances over one release file
answer every query alike, so any of them can stand behind a proxy (deploy/serving/)."""

import configparser
import re
from pathlib import Path

import requests

from conftest import harvest_serve
from harvest import db as database
from harvest.nlp.corpus import tag_corpus
from harvest.release import make_release
from harvest.sources.seed import load_seed

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "serving"
QUERIES = [
    "/corpus/documents.json?_shape=array&_size=max&_sort=id",            # a table, whole
    "/corpus/documents.json?_shape=array&_search=chatbot&_sort=id",      # its full-text search
    "/corpus/document_themes.json?_shape=array&_size=max&_sort=document_id",
    "/corpus.json?sql=select+kind,+count(*)+as+n+from+documents+group+by+kind+order+by+kind&_shape=array",
    "/-/search.json?q=chatbot",                                          # the search page's export
    "/-/search.csljson?q=stigma",
    "/-/feeds/documents.atom",
]


def released(tmp_path) -> Path:
    path = tmp_path / "corpus.db"
    db = database.connect(path)
    load_seed(db, tmp_path / "archive")
    tag_corpus(db)
    db.conn.close()
    return make_release(path, tmp_path / "releases" / "one").folder / "corpus.db"


def comparable(body: str, base: str) -> str:
    """An answer with the instance's own address (in feed links) put aside."""
    return body.replace(base, "http://instance")


def test_two_immutable_instances_on_one_release_answer_alike(tmp_path):
    release = released(tmp_path)
    with harvest_serve(release, "--immutable") as first, harvest_serve(release, "--immutable") as second:
        assert first != second
        for query in QUERIES:
            a, b = requests.get(first + query, timeout=30), requests.get(second + query, timeout=30)
            assert a.status_code == b.status_code == 200, query
            assert comparable(a.text, first) == comparable(b.text, second), query
        kinds = requests.get(first + QUERIES[3], timeout=30).json()
        assert sum(k["n"] for k in kinds) == 23  # the seed list, whole
        assert requests.get(first + QUERIES[0], timeout=30).json()
        # publishing mode: the file is not offered whole, and nothing writes to it
        assert requests.get(first + "/corpus.db", timeout=30).status_code in (403, 404)
        assert requests.post(second + "/corpus/documents", timeout=30).status_code == 405
    assert not list(release.parent.glob("corpus.db-*"))  # no journal or WAL file: opened read-only


def test_the_shipped_units_and_proxy_run_what_the_test_runs():
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(DEPLOY / "evidence-site@.service")
    command = unit["Service"]["ExecStart"]
    assert re.search(r"harvest serve \S+/corpus\.db --immutable --port %i\b", command), command
    proxy = (DEPLOY / "nginx-evidence.conf").read_text()
    upstreams = re.findall(r"^\s*server 127\.0\.0\.1:(\d+)", proxy, re.M)
    assert len(upstreams) >= 2 and len(set(upstreams)) == len(upstreams)
    readme = (DEPLOY / "README.md").read_text()
    assert all(f"evidence-site@{port}" in readme for port in upstreams)
