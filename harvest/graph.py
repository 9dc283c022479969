"""The evidence graph (networkx): documents, incidents, themes and entities, and what joins them.

build_graph   the corpus -> a graph whose typed, weighted edges each name the rows they came from:
              cites (citations), about (document_themes), mentions (document_entities),
              tells (incident_documents), shares_entities (two documents naming the same
              uncommon entities), same_story (wire copies)
save_graph    nodes with degree, weighted degree, PageRank and community, and the edges, into
              graph_nodes / graph_edges, so pages only read (only rows that differ are written)
update_graph  both, only when the graph's inputs changed since the last time (a change marker)
export_graph  GraphML, GEXF or node-link JSON for Gephi, Cytoscape and the like
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import networkx as nx

from .db import query_rows, transaction
from .escape import xml_text

SHARED_ENTITY_LIMIT = 50   # an entity named by more documents than this (ChatGPT) links too much to mean much
EXPORT_FORMATS = ("graphml", "gexf", "json")
ENTITY_TYPES = ("product", "organisation", "jurisdiction", "population", "condition")


@dataclass
class GraphSummary:
    nodes: int
    edges: int
    communities: int
    edge_types: dict


def _node(graph: nx.Graph, node_id: str, kind: str, label: str, table: str, ref: str) -> str:
    if node_id not in graph:
        graph.add_node(node_id, type=kind, label=label or ref, ref_table=table, ref_id=ref)
    return node_id


def _edge(graph: nx.Graph, source: str, target: str, kind: str, weight: float, table: str, rows: list) -> None:
    key = (source, target) if source <= target else (target, source)
    data = graph.get_edge_data(*key)
    if data and data["type"] != kind:  # one relation per pair: keep the stronger
        if data["weight"] >= weight:
            return
    graph.add_edge(*key, type=kind, weight=float(weight), origin_table=table, origin_rows=json.dumps(rows))


def build_graph(db) -> nx.Graph:
    """The graph from the tables, read in key order, so the same rows give the same graph (and the
    same communities) whatever order they were written in."""
    graph = nx.Graph()
    titles = {}
    for doc_id, title, url, kind in db.execute("SELECT id, title, url, kind FROM documents ORDER BY id"):
        titles[doc_id] = title
        _node(graph, f"document:{doc_id}", kind or "document", title or url, "documents", doc_id)
    for theme, label in db.execute("SELECT id, label FROM themes ORDER BY id"):
        _node(graph, f"theme:{theme}", "theme", label, "themes", theme)
    for entity, kind, name in db.execute("SELECT id, type, name FROM entities ORDER BY id"):
        _node(graph, f"entity:{entity}", kind, name, "entities", entity)
    for incident, title in db.execute("SELECT id, title FROM incidents ORDER BY id"):
        _node(graph, f"incident:{incident}", "incident", title, "incidents", incident)

    for citing, cited, method in db.execute("SELECT citing_id, cited_id, method FROM citations ORDER BY 1, 2"):
        if citing in titles and cited in titles:
            _edge(graph, f"document:{citing}", f"document:{cited}", "cites", 1.0, "citations", [[citing, cited]])
    for doc_id, theme, score in db.execute("SELECT document_id, theme, coalesce(score, 1.0) FROM document_themes ORDER BY 1, 2"):
        if doc_id in titles:
            _edge(graph, f"document:{doc_id}", f"theme:{theme}", "about", score, "document_themes", [[doc_id, theme]])
    by_entity = defaultdict(list)
    for doc_id, entity, mentions in db.execute("SELECT document_id, entity_id, mentions FROM document_entities ORDER BY 1, 2"):
        if doc_id in titles:
            _edge(graph, f"document:{doc_id}", f"entity:{entity}", "mentions", mentions, "document_entities",
                  [[doc_id, entity]])
            by_entity[entity].append(doc_id)
    shared = defaultdict(list)
    for entity, docs in by_entity.items():
        if len(docs) <= SHARED_ENTITY_LIMIT:
            for a, b in combinations(sorted(docs), 2):
                shared[(a, b)].append(entity)
    for (a, b), entities in shared.items():
        if len(entities) >= 2:
            _edge(graph, f"document:{a}", f"document:{b}", "shares_entities", len(entities), "document_entities",
                  [[a, e] for e in entities] + [[b, e] for e in entities])
    for incident, doc_id, role in db.execute("SELECT incident_id, document_id, role FROM incident_documents ORDER BY 1, 2"):
        if doc_id in titles:
            _edge(graph, f"incident:{incident}", f"document:{doc_id}", "tells", 1.0, "incident_documents",
                  [[incident, doc_id, role]])
    for doc_id, story in db.execute("SELECT id, story_id FROM documents WHERE story_id IS NOT NULL AND story_id != id ORDER BY id"):
        if doc_id in titles and story in titles:
            _edge(graph, f"document:{doc_id}", f"document:{story}", "same_story", 1.0, "documents", [[doc_id], [story]])
    unused = [n for n, d in graph.degree() if d == 0 and graph.nodes[n]["type"] in ("theme",) + ENTITY_TYPES]
    graph.remove_nodes_from(unused)  # vocabulary nobody mentions
    return graph


NODE_COLUMNS = ("id", "type", "label", "ref_table", "ref_id", "degree", "weighted_degree", "pagerank", "community")
EDGE_COLUMNS = ("source", "target", "type", "weight", "origin_table", "origin_rows")


def save_graph(db, graph: nx.Graph, marker: dict | None = None) -> GraphSummary:
    """Metrics computed once here, stored for pages to read. The stored rows are compared with
    the new ones and only the differences written, a statement per kind of change (executemany).
    `marker`: what the graph was made from, saved in the same transaction (update_graph)."""
    pagerank = nx.pagerank(graph, weight="weight") if graph.number_of_edges() else {n: 0.0 for n in graph}
    communities = nx.community.louvain_communities(graph, weight="weight", seed=1) if graph.number_of_edges() else []
    community_of = {node: number for number, members in enumerate(
        sorted(communities, key=lambda c: (-len(c), min(c)))) for node in members}
    nodes = {node: (node, *(data[k] for k in ("type", "label", "ref_table", "ref_id")), graph.degree(node),
                    round(graph.degree(node, weight="weight"), 4), round(pagerank.get(node, 0.0), 6),
                    community_of.get(node)) for node, data in graph.nodes(data=True)}
    edges = {(a, b, data["type"]): (a, b, *(data[k] for k in EDGE_COLUMNS[2:])) for a, b, data in graph.edges(data=True)}
    with transaction(db):
        stored_edges = _stored(db, "graph_edges", EDGE_COLUMNS, 3)
        _delete(db, "graph_edges", EDGE_COLUMNS, 3, stored_edges.keys() - edges.keys())  # before their nodes go
        _write_diff(db, "graph_nodes", NODE_COLUMNS, 1, nodes)
        _upsert(db, "graph_edges", EDGE_COLUMNS, 3, [row for key, row in edges.items() if stored_edges.get(key) != row])
        if marker is not None:
            from .runs import save_marker
            save_marker(db, "graph", marker)
    types = defaultdict(int)
    for _, _, kind in graph.edges(data="type"):
        types[kind] += 1
    return GraphSummary(graph.number_of_nodes(), graph.number_of_edges(), len(communities), dict(sorted(types.items())))


def _write_diff(db, table: str, columns: tuple, keys: int, wanted: dict) -> None:
    """Make `table` hold exactly `wanted` ({primary key: row tuple}; the key a tuple when `keys`
    columns make it), writing only the rows that differ."""
    stored = _stored(db, table, columns, keys)
    _delete(db, table, columns, keys, stored.keys() - wanted.keys())
    _upsert(db, table, columns, keys, [row for key, row in wanted.items() if stored.get(key) != row])


def _stored(db, table: str, columns: tuple, keys: int) -> dict:
    return {(row[:keys] if keys > 1 else row[0]): tuple(row)
            for row in db.execute(f"SELECT {', '.join(f'[{c}]' for c in columns)} FROM {table}")}


def _delete(db, table: str, columns: tuple, keys: int, gone) -> None:
    key_sql = " AND ".join(f"[{c}] = ?" for c in columns[:keys])
    db.conn.executemany(f"DELETE FROM {table} WHERE {key_sql}", [key if keys > 1 else (key,) for key in gone])


def _upsert(db, table: str, columns: tuple, keys: int, rows: list) -> None:
    updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in columns[keys:])
    db.conn.executemany(f"INSERT INTO {table} ({', '.join(f'[{c}]' for c in columns)}) "
                        f"VALUES ({', '.join('?' * len(columns))}) "
                        f"ON CONFLICT ({', '.join(f'[{c}]' for c in columns[:keys])}) DO UPDATE SET {updates}", rows)


CODE = Path(__file__)


def update_graph(db, everything: bool = False, graph: nx.Graph | None = None) -> GraphSummary | None:
    """Build and save the graph when what it is made from changed since the last time (its change
    marker in `derive_markers`: the documents, links, vocabulary and incidents change counters and
    this module's digest), or with `everything`. None when nothing changed: the counters were read,
    no other row, and nothing was written. (The graph is then rebuilt whole, Louvain included: only
    the writes are incremental.) `graph`: the graph already built from this database, if the
    caller has it (harvest graph --export), so it is not built twice."""
    from .runs import change_counters, files_digest, read_marker
    inputs = {**change_counters(db), "code": files_digest(CODE)}
    if not everything and read_marker(db, "graph") == inputs:
        return None
    return save_graph(db, graph if graph is not None else build_graph(db), marker=inputs)


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


def export_graph(graph: nx.Graph, path: Path) -> str:
    """Write by the file's extension: .graphml, .gexf or .json (node-link)."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in EXPORT_FORMATS:
        raise ValueError(f"cannot write {path.name}: use a .graphml, .gexf or .json file name")
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
