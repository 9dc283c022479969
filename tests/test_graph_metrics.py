"""The evidence graph's metrics at any size: arrays, PageRank as networkx defines it, scikit-network's Louvain, and a
diff written through SQL. Small corpora written here: two groups of papers that cite within the
group and once across, a theme, two entities two papers share, an incident."""

import json
import random

import networkx as nx
import pytest

from harvest import db as database
from harvest.db import transaction
from harvest.graph import build_graph, export_graph, read_graph, save_graph

GROUPS = {"a": [f"a{n}" for n in range(6)], "b": [f"b{n}" for n in range(6)]}


def corpus_rows() -> dict:
    documents = [(doc, "paper", f"Paper {doc}") for group in GROUPS.values() for doc in group]
    citations = [(citing, cited) for group in GROUPS.values() for i, citing in enumerate(group)
                 for cited in group[:i]]  # each paper cites every earlier one of its group
    citations += [("b0", "a5"), ("a2", "a3")]  # a bridge; a2 and a3 cite each other
    return {"documents": documents, "citations": citations,
            "themes": [("safety", "Safety"), ("unused", "A theme no document has")],
            "document_themes": [("a0", "safety", 0.9), ("b0", "safety", 0.5)],
            "entities": [("chatgpt", "product", "ChatGPT"), ("replika", "product", "Replika")],
            "document_entities": [("a0", "chatgpt", 3), ("a0", "replika", 1), ("a1", "chatgpt", 1), ("a1", "replika", 2)],
            "incidents": [("case-1", "A case")], "incident_documents": [("case-1", "b1", "report")]}


def write_corpus(path, seed: int):
    """The same rows, each table's rows inserted in an order drawn from `seed`."""
    db = database.connect(path)
    rows = corpus_rows()
    for table in rows.values():
        random.Random(seed).shuffle(table)
    with transaction(db):
        db.conn.executemany("INSERT INTO documents (id, kind, title, retracted, first_seen, last_seen) "
                            "VALUES (?, ?, ?, 0, '2025-01-01', '2025-01-01')", rows["documents"])
        db.conn.executemany("INSERT INTO citations (citing_id, cited_id, method) VALUES (?, ?, 'test')", rows["citations"])
        db.conn.executemany("INSERT INTO themes (id, label) VALUES (?, ?)", rows["themes"])
        db.conn.executemany("INSERT INTO document_themes (document_id, theme, score, method) VALUES (?, ?, ?, 'test')",
                            rows["document_themes"])
        db.conn.executemany("INSERT INTO entities (id, type, name) VALUES (?, ?, ?)", rows["entities"])
        db.conn.executemany("INSERT INTO document_entities (document_id, entity_id, mentions) VALUES (?, ?, ?)",
                            rows["document_entities"])
        db.conn.executemany("INSERT INTO incidents (id, title, status, method) VALUES (?, ?, 'open', 'test')", rows["incidents"])
        db.conn.executemany("INSERT INTO incident_documents (incident_id, document_id, role, method) "
                            "VALUES (?, ?, ?, 'test')", rows["incident_documents"])
    return db


def stored(db) -> dict:
    return {"nodes": db.execute("SELECT * FROM graph_nodes ORDER BY id").fetchall(),
            "edges": db.execute("SELECT * FROM graph_edges ORDER BY source, target, type").fetchall()}


@pytest.fixture
def graphed(tmp_path):
    db = write_corpus(tmp_path / "one.db", seed=1)
    summary = save_graph(db, read_graph(db))
    return db, summary


def test_the_same_rows_in_any_order_give_the_same_stored_graph(graphed, tmp_path):
    db, _ = graphed
    for seed in (2, 3):
        other = write_corpus(tmp_path / f"other{seed}.db", seed=seed)
        save_graph(other, read_graph(other))
        assert stored(other) == stored(db)


def test_communities_pagerank_and_degrees_mean_what_they_say(graphed):
    db, summary = graphed
    nodes = {row[0]: dict(zip(("type", "degree", "weighted_degree", "pagerank", "community"), row[1:]))
             for row in db.execute("SELECT id, type, degree, weighted_degree, pagerank, community FROM graph_nodes")}
    assert "theme:unused" not in nodes and "theme:safety" in nodes, "vocabulary nobody mentions is left out"
    assert summary.nodes == len(nodes) == 12 + 1 + 2 + 1
    for group in GROUPS.values():  # each group of mutually citing papers is one community, the groups two
        assert len({nodes[f"document:{doc}"]["community"] for doc in group}) == 1
    assert nodes["document:a0"]["community"] != nodes["document:b0"]["community"]
    assert summary.communities == len({node["community"] for node in nodes.values()})
    assert sum(node["pagerank"] for node in nodes.values()) == pytest.approx(1.0, abs=1e-4)
    papers = [node for node_id, node in nodes.items() if node_id.startswith("document:")]
    leaf = nodes["incident:case-1"]  # linked to one paper only
    assert 0 < leaf["pagerank"] < min(paper["pagerank"] for paper in papers)
    for node_id, node in nodes.items():
        degree, weight = db.execute("SELECT count(*), total(weight) FROM graph_edges WHERE source = ? OR target = ?",
                                    [node_id, node_id]).fetchone()
        assert (node["degree"], node["weighted_degree"]) == (degree, round(weight, 4)), node_id
    assert summary.edge_types == {"about": 2, "cites": 30, "mentions": 4, "shares_entities": 1, "tells": 1}


def test_one_relation_joins_two_nodes_the_stronger_kept(graphed):
    db, _ = graphed
    edges = db.execute("SELECT type, weight, origin_table, origin_rows FROM graph_edges "
                       "WHERE source = 'document:a0' AND target = 'document:a1'").fetchall()
    assert edges == [("shares_entities", 2.0, "document_entities",
                      json.dumps([["a0", "chatgpt"], ["a0", "replika"], ["a1", "chatgpt"], ["a1", "replika"]]))], \
        "two shared entities (weight 2) outweigh a1's citation of a0 (weight 1)"
    mutual = db.execute("SELECT type, origin_rows FROM graph_edges WHERE source = 'document:a2' AND target = 'document:a3'").fetchall()
    assert mutual == [("cites", '[["a3", "a2"]]')], "a2 and a3 cite each other: one edge, the later row of the two"


def test_a_second_save_writes_only_the_rows_that_differ(graphed):
    db, _ = graphed
    db.execute("CREATE TEMP TABLE written (tbl, op)")
    for table in ("graph_nodes", "graph_edges"):
        for op in ("INSERT", "UPDATE", "DELETE"):
            db.execute(f"CREATE TEMP TRIGGER count_{table}_{op} AFTER {op} ON main.{table} "
                       f"BEGIN INSERT INTO written VALUES ('{table}', '{op}'); END")
    before = stored(db)
    save_graph(db, read_graph(db))
    assert db.execute("SELECT count(*) FROM written").fetchone()[0] == 0 and stored(db) == before
    with transaction(db):
        db.execute("DELETE FROM citations WHERE citing_id = 'b0' AND cited_id = 'a5'")
    save_graph(db, read_graph(db))
    counts = dict(((t, op), n) for t, op, n in db.execute("SELECT tbl, op, count(*) FROM written GROUP BY 1, 2"))
    assert counts.get(("graph_edges", "DELETE")) == 1 and ("graph_edges", "INSERT") not in counts
    assert ("graph_edges", "UPDATE") not in counts and ("graph_nodes", "DELETE") not in counts
    assert 2 <= counts[("graph_nodes", "UPDATE")] <= 16
    assert not db.execute("SELECT 1 FROM graph_edges WHERE source = 'document:a5' AND target = 'document:b0'").fetchone()


def test_a_networkx_graph_saves_and_exports_like_the_arrays(graphed, tmp_path):
    db, _ = graphed
    other = write_corpus(tmp_path / "nx.db", seed=4)
    save_graph(other, build_graph(other))
    assert stored(other) == stored(db)
    path = tmp_path / "graph.graphml"
    export_graph(read_graph(db), path)
    again = nx.read_graphml(path)
    assert (again.number_of_nodes(), again.number_of_edges()) == (16, 38)
    assert again.edges["document:a0", "document:a1"]["type"] == "shares_entities"


def test_links_to_rows_that_are_not_nodes_are_left_out_and_no_links_store_no_metrics(tmp_path):
    db = database.connect(tmp_path / "bare.db")
    db.execute("PRAGMA foreign_keys = OFF")  # dangling rows, as an older database may hold
    with transaction(db):
        db.execute("INSERT INTO documents (id, kind, title, retracted, first_seen, last_seen) "
                   "VALUES ('d1', 'paper', 'Alone', 0, '2025-01-01', '2025-01-01')")
        db.execute("INSERT INTO document_themes (document_id, theme, method) VALUES ('d1', 'no-such-theme', 'test')")
        db.execute("INSERT INTO citations (citing_id, cited_id, method) VALUES ('d1', 'gone', 'test')")
    db.execute("PRAGMA foreign_keys = ON")
    summary = save_graph(db, read_graph(db))
    assert (summary.nodes, summary.edges, summary.communities) == (1, 0, 0)
    assert db.execute("SELECT id, degree, weighted_degree, pagerank, community FROM graph_nodes").fetchall() == \
        [("document:d1", 0, 0.0, 0.0, None)]


def test_pagerank_is_networkx_pagerank_and_an_unlinked_node_ranks_below_linked_ones(tmp_path):
    db = write_corpus(tmp_path / "isolated.db", seed=1)
    with transaction(db):
        db.conn.executemany("INSERT INTO documents (id, kind, title, retracted, first_seen, last_seen) "
                            "VALUES (?, 'paper', ?, 0, '2025-01-01', '2025-01-01')",
                            [("lone1", "Nobody cites me"), ("lone2", "Nor me")])
    save_graph(db, read_graph(db))
    ranks = dict(db.execute("SELECT id, pagerank FROM graph_nodes").fetchall())
    expected = nx.pagerank(build_graph(db), alpha=0.85, weight="weight", tol=1e-12, max_iter=1000)
    assert ranks.keys() == expected.keys()
    for node_id, rank in expected.items():
        assert ranks[node_id] == pytest.approx(rank, abs=1e-5), node_id
    linked = [rank for node_id, rank in ranks.items() if not node_id.startswith("document:lone")]
    assert ranks["document:lone1"] == ranks["document:lone2"] < min(linked)
    assert ranks["document:lone1"] < ranks["incident:case-1"], "a node with one link outranks one with none"
