"""The evidence graph (built, measured, exported, traceable) and citation formats."""

import json
import subprocess
import sys

import networkx as nx
import pytest

from harvest.cite import apa, bibtex_key, csl_item
from harvest.db import transaction
from harvest.graph import build_graph, export_graph, save_graph
from harvest.incidents import update_incidents
from harvest.nlp.corpus import tag_corpus
from harvest.sources.seed import load_seed
from harvest.store import DocumentRecord, Provenance, save_document


@pytest.fixture
def graph_corpus(tmp_path, corpus):
    load_seed(corpus, tmp_path / "archive")
    with transaction(corpus):
        for n in range(2):
            save_document(corpus, DocumentRecord(
                fields={"kind": "news", "title": f"Character.AI suicide lawsuit report {n}", "year": 2024,
                        "abstract": "A Florida teen's suicide after Character.AI chats; ChatGPT and Replika compared."},
                identifiers=[("url", f"https://n{n}.example/report")]), Provenance("news", str(n), "2025-01-01T00:00:00Z"))
    tag_corpus(corpus)
    update_incidents(corpus)
    return corpus


def test_graph_edges_are_typed_weighted_and_traceable(graph_corpus):
    graph = build_graph(graph_corpus)
    types = {data["type"] for _, _, data in graph.edges(data=True)}
    assert {"cites", "about", "mentions", "tells", "shares_entities"} <= types
    for a, b, data in graph.edges(data=True):
        rows = json.loads(data["origin_rows"])
        assert data["weight"] > 0 and rows, (a, b)
        if data["type"] == "cites":
            citing, cited = rows[0]
            assert graph_corpus.execute("SELECT 1 FROM citations WHERE citing_id = ? AND cited_id = ?", [citing, cited]).fetchone()
    summary = save_graph(graph_corpus, graph)
    assert summary.nodes == graph_corpus["graph_nodes"].count and summary.edges == graph_corpus["graph_edges"].count
    top = graph_corpus.execute("SELECT ref_id, degree FROM graph_nodes WHERE type = 'blog' ORDER BY pagerank DESC").fetchone()
    assert top[1] >= 20, "the founding article cites its 22 references"
    assert graph_corpus.execute("SELECT count(DISTINCT community) FROM graph_nodes").fetchone()[0] >= 2
    before = [tuple(r) for r in graph_corpus.execute("SELECT * FROM graph_edges ORDER BY source, target, type")]
    save_graph(graph_corpus, build_graph(graph_corpus))
    assert [tuple(r) for r in graph_corpus.execute("SELECT * FROM graph_edges ORDER BY source, target, type")] == before


def test_exports_read_back(graph_corpus, tmp_path):
    graph = build_graph(graph_corpus)
    for suffix, read in (("graphml", nx.read_graphml), ("gexf", nx.read_gexf),
                         ("json", lambda p: nx.node_link_graph(json.loads(p.read_text()), edges="edges"))):
        path = tmp_path / f"graph.{suffix}"
        export_graph(graph, path)
        again = read(path)
        assert again.number_of_nodes() == graph.number_of_nodes() and again.number_of_edges() == graph.number_of_edges()
    with pytest.raises(ValueError, match="graphml, .gexf or .json"):
        export_graph(graph, tmp_path / "graph.png")


def test_graph_command(tmp_path):
    db_path = tmp_path / "corpus.db"
    subprocess.run([sys.executable, "-m", "harvest", "seed", str(db_path), "--quiet"], check=True)
    run = subprocess.run([sys.executable, "-m", "harvest", "graph", str(db_path), "--export", str(tmp_path / "g.gexf")],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "cites 22" in run.stdout and (tmp_path / "g.gexf").exists()
    bad = subprocess.run([sys.executable, "-m", "harvest", "graph", str(db_path), "--export", str(tmp_path / "g.svg")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "use a .graphml, .gexf or .json file name" in bad.stderr


def test_citation_keys_are_stable_and_apa_escapes_the_record():
    record = {"id": "d0123456789ab", "kind": "paper", "title": "The chatbot & the <clinic>", "year": 2024,
              "authors": [{"name": "José Núñez", "last_name": "Núñez", "fore_name": "José"}], "identifiers": {"doi": "10.1/x"}}
    item = csl_item(record)
    assert bibtex_key(item) == bibtex_key(csl_item(dict(record))) == "nunez2024chatbot_" + bibtex_key(item)[-4:]
    other = csl_item({**record, "id": "d0123456789ac"})
    assert bibtex_key(other) != bibtex_key(item), "same metadata, different works, different keys"
    rendered = apa([item])[0]
    assert "The chatbot &amp; the &lt;clinic&gt;" in rendered and "<clinic>" not in rendered
    assert apa([item], html=False)[0].startswith("Núñez, J. (2024). The chatbot & the <clinic>.")
    assert item["DOI"] == "10.1/x" and "URL" not in item


def test_placeholder_fields_are_flagged_in_exports():
    item = csl_item({"id": "d1", "kind": "news", "title": "one case where a teenager has died by suicide",
                     "unverified_fields": '["title"]', "venue": "AP News"})
    assert "Not yet checked against the source: title" in item["note"]
