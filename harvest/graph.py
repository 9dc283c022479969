"""The evidence graph: documents, incidents, themes and entities, and what joins them.

read_graph    the corpus -> an EvidenceGraph (nodes in id order, edges as numpy arrays) whose typed,
              weighted edges each name the rows they came from: cites (citations), about
              (document_themes), mentions (document_entities), tells (incident_documents),
              shares_entities (two documents naming the same uncommon entities), same_story (wire copies)
save_graph    nodes with degree, weighted degree, PageRank and community, and the edges, into
              graph_nodes / graph_edges, so pages only read (only rows that differ are written)
update_graph  both, only when the graph's inputs changed since the last time (a change marker)
build_graph   the same graph as a networkx Graph, for exports and for callers that want networkx
export_graph  GraphML, GEXF or node-link JSON for Gephi, Cytoscape and the like

The metrics are computed over a scipy sparse adjacency matrix (PageRank by scipy power iteration
with networkx's definition, damping 0.85; Louvain from scikit-network, maximising Newman's
modularity with a fixed seed), so a million
documents fit in minutes and a few GB; networkx is used only to write the export files.
"""

from __future__ import annotations

import json
from array import array
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import networkx as nx
import numpy as np
from scipy import sparse

from .db import query_rows, transaction
from .escape import xml_text

SHARED_ENTITY_LIMIT = 50   # an entity named by more documents than this (ChatGPT) links too much to mean much
EXPORT_FORMATS = ("graphml", "gexf", "json")
ENTITY_TYPES = ("product", "organisation", "jurisdiction", "population", "condition")
# each kind of edge and the table its rows come from
EDGE_TYPES = {"cites": "citations", "about": "document_themes", "mentions": "document_entities",
              "shares_entities": "document_entities", "tells": "incident_documents", "same_story": "documents"}
KINDS = tuple(EDGE_TYPES)
LOUVAIN_SEED = 1
PAGERANK_DAMPING = 0.85
WRITE_CACHE_KIB = 256 * 1024  # SQLite's page cache while graph_nodes/graph_edges are written
PAGERANK_ITERATIONS = 100  # power iterations at most: the error shrinks as 0.85**n (about 1e-7 after 100)
PAGERANK_TOLERANCE = 1e-10  # stop when the L1 change of one step is below this


@dataclass
class GraphSummary:
    nodes: int
    edges: int
    communities: int
    edge_types: dict


@dataclass
class EvidenceGraph:
    """The graph as arrays. Node i is `nodes[i]` = (id, type, label, ref_table, ref_id), nodes sorted
    by id, so a smaller index is a smaller id. Edge k joins node `sources[k]` to node `targets[k]`
    (sources[k] <= targets[k], as graph_edges stores them), has kind KINDS[kinds[k]], weight
    `weights[k]` and was made from `origin_rows[k]` (a JSON list of the key of each row) of the kind's
    table. Edges are in (source, target) order; at most one edge joins two nodes."""
    nodes: list
    sources: np.ndarray
    targets: np.ndarray
    kinds: np.ndarray
    weights: np.ndarray
    origin_rows: list

    def number_of_nodes(self) -> int:
        return len(self.nodes)

    def number_of_edges(self) -> int:
        return len(self.sources)

    def edge_types(self) -> dict:
        counts = np.bincount(self.kinds, minlength=len(KINDS))
        return {kind: int(counts[k]) for k, kind in sorted(enumerate(KINDS), key=lambda item: item[1]) if counts[k]}

    def adjacency(self) -> sparse.csr_matrix:
        """The symmetric weighted adjacency matrix (n x n, float64)."""
        n = len(self.nodes)
        upper = sparse.coo_matrix((self.weights, (self.sources, self.targets)), shape=(n, n)).tocsr()
        return (upper + upper.T).tocsr()

    def to_networkx(self) -> nx.Graph:
        """The same graph as networkx holds it: node attributes type, label, ref_table, ref_id; edge
        attributes type, weight, origin_table, origin_rows."""
        graph = nx.Graph()
        graph.add_nodes_from((node_id, {"type": kind, "label": label, "ref_table": table, "ref_id": ref})
                             for node_id, kind, label, table, ref in self.nodes)
        ids = [node[0] for node in self.nodes]
        graph.add_edges_from(
            (ids[a], ids[b], {"type": KINDS[k], "weight": float(w), "origin_table": EDGE_TYPES[KINDS[k]], "origin_rows": rows})
            for a, b, k, w, rows in zip(self.sources.tolist(), self.targets.tolist(), self.kinds.tolist(),
                                        self.weights.tolist(), self.origin_rows))
        return graph

    @classmethod
    def from_networkx(cls, graph: nx.Graph) -> EvidenceGraph:
        """An EvidenceGraph of a networkx graph with the attributes to_networkx gives (e.g. one
        build_graph made and a caller changed)."""
        ids = sorted(graph)
        index = {node_id: i for i, node_id in enumerate(ids)}
        nodes = [(node_id, *(graph.nodes[node_id].get(k) for k in ("type", "label", "ref_table", "ref_id")))
                 for node_id in ids]
        edges = sorted((min(index[a], index[b]), max(index[a], index[b]), KINDS.index(data["type"]),
                        float(data["weight"]), data["origin_rows"]) for a, b, data in graph.edges(data=True))
        columns = list(zip(*edges)) or [(), (), (), (), ()]
        return cls(nodes, np.array(columns[0], dtype=np.int64), np.array(columns[1], dtype=np.int64),
                   np.array(columns[2], dtype=np.int8), np.array(columns[3], dtype=np.float64), list(columns[4]))


class _Candidates:
    """Edges in the order they are found, before one per pair of nodes is kept: node indexes, kind,
    weight and origin rows (JSON) of each."""

    def __init__(self):
        self.first, self.second, self.kinds = array("i"), array("i"), array("b")
        self.weights, self.rows = array("d"), []

    def add(self, a: int, b: int, kind: int, weight: float, rows: str) -> None:
        self.first.append(a)
        self.second.append(b)
        self.kinds.append(kind)
        self.weights.append(weight)
        self.rows.append(rows)

    def resolve(self, nodes: list) -> EvidenceGraph:
        """One edge per pair: of two kinds of relation the stronger is kept (the first found on a tie),
        of two of the same kind the later (as networkx's add_edge did)."""
        first = np.frombuffer(self.first, dtype=np.int32).astype(np.int64)
        second = np.frombuffer(self.second, dtype=np.int32).astype(np.int64)
        kinds, weights = np.frombuffer(self.kinds, dtype=np.int8), np.frombuffer(self.weights, dtype=np.float64)
        low, high = np.minimum(first, second), np.maximum(first, second)
        del first, second
        order = np.argsort(low * max(len(nodes), 1) + high, kind="stable")
        low, high = low[order], high[order]
        if not len(order):
            return EvidenceGraph(nodes, low, high, kinds.copy(), weights.copy(), [])
        starts = np.flatnonzero(np.r_[True, (low[1:] != low[:-1]) | (high[1:] != high[:-1])])
        ends = np.r_[starts[1:], len(order)]
        chosen = order[starts]
        for group in np.flatnonzero(ends - starts > 1).tolist():
            kept = order[starts[group]]
            for candidate in order[starts[group] + 1:ends[group]].tolist():
                if kinds[candidate] == kinds[kept] or weights[candidate] > weights[kept]:
                    kept = candidate
            chosen[group] = kept
        return EvidenceGraph(nodes, low[starts], high[starts], kinds[chosen].copy(), weights[chosen].copy(),
                             [self.rows[i] for i in chosen.tolist()])


def _key_rows(*keys: str) -> str:
    """json.dumps([[key, ...]]) for string keys, without the encoder's per-call set-up."""
    return "[[" + ", ".join(map(_json_string, keys)) + "]]"


_json_string = json.encoder.encode_basestring_ascii  # what json.dumps uses for a str (ensure_ascii)


def read_graph(db) -> EvidenceGraph:
    """The graph from the tables. The same rows give the same graph (and the same communities)
    whatever order they were written in: nodes are numbered in id order, candidate edges read in key
    order. Themes and entities no document mentions are left out."""
    nodes = [(f"document:{doc_id}", kind or "document", title or url or doc_id, "documents", doc_id)
             for doc_id, title, url, kind in db.execute("SELECT id, title, url, kind FROM documents")]
    nodes += [(f"theme:{theme}", "theme", label or theme, "themes", theme)
              for theme, label in db.execute("SELECT id, label FROM themes")]
    nodes += [(f"entity:{entity}", kind, name or entity, "entities", entity)
              for entity, kind, name in db.execute("SELECT id, type, name FROM entities")]
    nodes += [(f"incident:{incident}", "incident", title or incident, "incidents", incident)
              for incident, title in db.execute("SELECT id, title FROM incidents")]
    nodes.sort(key=lambda node: node[0])
    index = {table: {} for table in ("documents", "themes", "entities", "incidents")}  # table -> key -> node
    for number, node in enumerate(nodes):
        index[node[3]][node[4]] = number
    documents, themes, entities, incidents = (index[t] for t in ("documents", "themes", "entities", "incidents"))
    edges = _Candidates()
    add = edges.add
    cites, about, mentions, shares, tells, same_story = (KINDS.index(k) for k in (
        "cites", "about", "mentions", "shares_entities", "tells", "same_story"))

    for citing, cited in db.execute("SELECT citing_id, cited_id FROM citations ORDER BY 1, 2"):
        a, b = documents.get(citing), documents.get(cited)
        if a is not None and b is not None:
            add(a, b, cites, 1.0, _key_rows(citing, cited))
    for doc_id, theme, score in db.execute("SELECT document_id, theme, coalesce(score, 1.0) FROM document_themes ORDER BY 1, 2"):
        a, b = documents.get(doc_id), themes.get(theme)
        if a is not None and b is not None:
            add(a, b, about, float(score), _key_rows(doc_id, theme))
    by_entity = defaultdict(list)
    for doc_id, entity, count in db.execute("SELECT document_id, entity_id, mentions FROM document_entities ORDER BY 1, 2"):
        a, b = documents.get(doc_id), entities.get(entity)
        if a is not None and b is not None:
            add(a, b, mentions, float(count), _key_rows(doc_id, entity))
            by_entity[entity].append(doc_id)
    shared = defaultdict(list)
    for entity, docs in by_entity.items():
        if len(docs) <= SHARED_ENTITY_LIMIT:
            for a, b in combinations(sorted(docs), 2):
                shared[(a, b)].append(entity)
    del by_entity
    for (a, b), names in shared.items():
        if len(names) >= 2:
            add(documents[a], documents[b], shares, float(len(names)),
                json.dumps([[a, e] for e in names] + [[b, e] for e in names]))
    del shared
    for incident, doc_id, role in db.execute("SELECT incident_id, document_id, role FROM incident_documents ORDER BY 1, 2"):
        a, b = incidents.get(incident), documents.get(doc_id)
        if a is not None and b is not None:
            add(a, b, tells, 1.0, json.dumps([[incident, doc_id, role]]))
    for doc_id, story in db.execute("SELECT id, story_id FROM documents WHERE story_id IS NOT NULL AND story_id != id ORDER BY id"):
        a, b = documents.get(doc_id), documents.get(story)
        if a is not None and b is not None:
            add(a, b, same_story, 1.0, json.dumps([[doc_id], [story]]))
    del index, documents, themes, entities, incidents
    graph = edges.resolve(nodes)
    del edges

    degree = np.bincount(graph.sources, minlength=len(nodes)) + np.bincount(graph.targets, minlength=len(nodes))
    vocabulary = ("theme",) + ENTITY_TYPES
    keep = np.array([bool(d) or node[1] not in vocabulary for node, d in zip(nodes, degree.tolist())], dtype=bool)
    if not keep.all():  # vocabulary nobody mentions
        renumber = np.cumsum(keep) - 1
        graph.nodes = [node for node, kept in zip(nodes, keep.tolist()) if kept]
        graph.sources, graph.targets = renumber[graph.sources], renumber[graph.targets]
    return graph


def build_graph(db) -> nx.Graph:
    """read_graph as a networkx Graph (node attributes type, label, ref_table, ref_id; edge attributes
    type, weight, origin_table, origin_rows): for exports, and callers that want networkx."""
    return read_graph(db).to_networkx()


def louvain(adjacency: sparse.csr_matrix) -> np.ndarray:
    """Louvain communities (scikit-network; Newman's modularity, resolution 1, seed LOUVAIN_SEED, nodes
    visited in index order): a label per node."""
    from sknetwork.clustering import Louvain
    return Louvain(resolution=1, modularity="newman", random_state=LOUVAIN_SEED, shuffle_nodes=False,
                   sort_clusters=False, return_probs=False, return_aggregate=False).fit_predict(adjacency)


def pagerank(adjacency: sparse.csr_matrix) -> np.ndarray:
    """PageRank of each node over the weighted undirected graph (n x n symmetric adjacency -> n
    floats summing to 1), as networkx's `pagerank` defines it: damping PAGERANK_DAMPING, uniform
    teleport, and the rank of a node without edges (dangling) spread uniformly over all nodes. So an
    isolated node gets only its teleport share, below any node that receives links. Power iteration,
    PAGERANK_ITERATIONS steps at most, stopped early when the L1 change is under PAGERANK_TOLERANCE.
    (scikit-network's PageRank gives an isolated node 1/n, more than most linked nodes.)"""
    n = adjacency.shape[0]
    strength = np.asarray(adjacency.sum(axis=1)).ravel()
    dangling = strength == 0
    inverse = np.divide(1.0, strength, out=np.zeros(n), where=~dangling)
    rank = np.full(n, 1.0 / n)
    for _ in range(PAGERANK_ITERATIONS):
        spread = (PAGERANK_DAMPING * rank[dangling].sum() + 1.0 - PAGERANK_DAMPING) / n
        # each node passes its rank to its neighbours in proportion to the edge weights (symmetric: A @ (r / s))
        new = PAGERANK_DAMPING * (adjacency @ (rank * inverse)) + spread
        change = np.abs(new - rank).sum()
        rank = new
        if change < PAGERANK_TOLERANCE:
            break
    return rank / rank.sum()


def _numbered(labels: np.ndarray) -> np.ndarray:
    """Community numbers by size (largest 0), then by smallest node id: independent of the labels
    the algorithm happened to give."""
    sizes = np.bincount(labels)
    smallest = np.full(len(sizes), len(labels))
    np.minimum.at(smallest, labels, np.arange(len(labels)))
    rank = np.empty(len(sizes), dtype=np.int64)
    rank[np.lexsort((smallest, -sizes))] = np.arange(len(sizes))
    return rank[labels]


NODE_COLUMNS = ("id", "type", "label", "ref_table", "ref_id", "degree", "weighted_degree", "pagerank", "community")
EDGE_COLUMNS = ("source", "target", "type", "weight", "origin_table", "origin_rows")


def save_graph(db, graph: EvidenceGraph | nx.Graph, marker: dict | None = None) -> GraphSummary:
    """Metrics computed once here, stored for pages to read: degree, weighted degree (rounded to 4
    places), PageRank (6 places) and community number (0 the largest) of each node. Only the rows
    that differ from the stored ones are written (the new rows are staged in a temporary table and
    compared there, so memory does not grow with the stored graph). `marker`: what the graph was made
    from, saved in the same transaction (update_graph)."""
    if isinstance(graph, nx.Graph):
        graph = EvidenceGraph.from_networkx(graph)
    n = graph.number_of_nodes()
    degree = np.bincount(graph.sources, minlength=n) + np.bincount(graph.targets, minlength=n)
    weighted = (np.bincount(graph.sources, weights=graph.weights, minlength=n)
                + np.bincount(graph.targets, weights=graph.weights, minlength=n))
    if graph.number_of_edges():
        adjacency = graph.adjacency()
        ranks, community = pagerank(adjacency).tolist(), _numbered(louvain(adjacency))
        communities = int(community.max()) + 1
        community = community.tolist()
        del adjacency
    else:
        ranks, community, communities = [0.0] * n, [None] * n, 0
    ids = [node[0] for node in graph.nodes]
    node_rows = ((*node, d, round(w, 4), round(r, 6), c) for node, d, w, r, c in
                 zip(graph.nodes, degree.tolist(), weighted.tolist(), ranks, community))
    edge_rows = ((ids[a], ids[b], KINDS[k], w, EDGE_TYPES[KINDS[k]], rows) for a, b, k, w, rows in
                 zip(graph.sources.tolist(), graph.targets.tolist(), graph.kinds.tolist(), graph.weights.tolist(),
                     graph.origin_rows))
    cache = db.execute("PRAGMA cache_size").fetchone()[0]
    db.execute(f"PRAGMA cache_size = -{WRITE_CACHE_KIB}")  # the tables' indexes in memory while they are written
    try:
        with transaction(db):
            db.execute("PRAGMA defer_foreign_keys = ON")  # edges and their nodes checked together at the end
            _write_diff(db, "graph_nodes", NODE_COLUMNS, 1, node_rows)
            _write_diff(db, "graph_edges", EDGE_COLUMNS, 3, edge_rows)
            if marker is not None:
                from .runs import save_marker
                save_marker(db, "graph", marker)
    finally:
        db.execute(f"PRAGMA cache_size = {cache}")
    return GraphSummary(n, graph.number_of_edges(), communities, graph.edge_types())


def _write_diff(db, table: str, columns: tuple, keys: int, rows) -> None:
    """Make `table` hold exactly `rows` (an iterable of tuples in `columns` order, the first `keys`
    columns its primary key, each key once), writing only the rows that differ: into an empty table
    they are inserted; otherwise staged in a temporary table, and the stored rows it lacks deleted,
    the new and changed ones upserted."""
    names = ", ".join(f"[{c}]" for c in columns)
    key = ", ".join(f"[{c}]" for c in columns[:keys])
    places = ", ".join("?" * len(columns))
    if db.execute(f"SELECT 1 FROM [{table}] LIMIT 1").fetchone() is None:
        db.conn.executemany(f"INSERT INTO [{table}] ({names}) VALUES ({places})", rows)
        return
    staged = f"temp.[staged_{table}]"
    db.execute(f"DROP TABLE IF EXISTS {staged}")
    db.execute(f"CREATE TABLE {staged} ({names}, PRIMARY KEY ({key}))")
    try:
        db.conn.executemany(f"INSERT INTO {staged} ({names}) VALUES ({places})", rows)
        same_key = " AND ".join(f"s.[{c}] = [{table}].[{c}]" for c in columns[:keys])
        db.execute(f"DELETE FROM [{table}] WHERE NOT EXISTS (SELECT 1 FROM {staged} s WHERE {same_key})")
        updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns[keys:])
        differs = " OR ".join(f"[{table}].[{c}] IS NOT excluded.[{c}]" for c in columns[keys:])
        db.execute(f"INSERT INTO [{table}] ({names}) SELECT {names} FROM {staged} WHERE true "
                   f"ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE {differs}")
    finally:
        db.execute(f"DROP TABLE IF EXISTS {staged}")


CODE = Path(__file__)


def update_graph(db, everything: bool = False, graph: EvidenceGraph | nx.Graph | None = None) -> GraphSummary | None:
    """Build and save the graph when what it is made from changed since the last time (its change
    marker in `derive_markers`: the documents, links, vocabulary and incidents change counters and
    this module's digest), or with `everything`. None when nothing changed: the counters were read,
    no other row, and nothing was written. (The graph is then rebuilt whole, Louvain included: only
    the writes are incremental.) `graph`: the graph already read from this database, if the
    caller has it (harvest graph --export), so it is not read twice."""
    from .runs import change_counters, files_digest, read_marker
    inputs = {**change_counters(db), "code": files_digest(CODE)}
    if not everything and read_marker(db, "graph") == inputs:
        return None
    return save_graph(db, graph if graph is not None else read_graph(db), marker=inputs)


def _xml_safe(graph: nx.Graph) -> nx.Graph:
    """A copy whose node ids and text attributes hold only characters XML 1.0 can carry (a title with
    a control character would make lxml refuse the GraphML and ElementTree write a GEXF no reader opens)."""
    safe = nx.relabel_nodes(graph, {node: xml_text(node) for node in graph}, copy=True)
    safe.graph.update({k: xml_text(v) for k, v in safe.graph.items()})
    for _, data in safe.nodes(data=True):
        data.update({k: xml_text(v) for k, v in data.items()})
    for _, _, data in safe.edges(data=True):
        data.update({k: xml_text(v) for k, v in data.items()})
    return safe


def export_graph(graph: EvidenceGraph | nx.Graph, path: Path) -> str:
    """Write by the file's extension: .graphml, .gexf or .json (node-link)."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in EXPORT_FORMATS:
        raise ValueError(f"cannot write {path.name}: use a .graphml, .gexf or .json file name")
    if isinstance(graph, EvidenceGraph):
        graph = graph.to_networkx()
    if suffix == "graphml":
        nx.write_graphml(_xml_safe(graph), path)
    elif suffix == "gexf":
        nx.write_gexf(_xml_safe(graph), path)
    else:
        path.write_text(json.dumps(nx.node_link_data(graph, edges="edges"), ensure_ascii=False, indent=1))
    return suffix


def neighbourhood(db, node_id: str, limit: int = 40) -> tuple[list[dict], list[dict]]:
    """A node and its strongest neighbours, from the stored graph (for the graph page)."""
    edges = query_rows(db, "SELECT source, target, type, weight FROM graph_edges WHERE source = ? OR target = ? "
                           "ORDER BY weight DESC, source, target LIMIT ?", [node_id, node_id, limit])
    ids = sorted({node_id} | {e["source"] for e in edges} | {e["target"] for e in edges})
    nodes = query_rows(db, f"SELECT id, type, label, ref_table, ref_id, pagerank FROM graph_nodes "
                           f"WHERE id IN ({','.join('?' * len(ids))})", ids)
    return nodes, edges
