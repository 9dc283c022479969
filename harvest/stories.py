"""Wire copies and syndicated reprints of one story, found from their text and grouped.

An AP or Reuters story reprinted by ten outlets is one story, not ten reports. Each news text is
cut into word 5-shingles and summarised by a MinHash (datasketch); locality-sensitive hashing
finds pairs whose estimated Jaccard similarity passes THRESHOLD, and connected pairs form a story
(networkx). Every outlet stays a document of its own; `documents.story_id` names the story's
earliest report, and `story_similarity` says how close each copy is to it.
"""

from __future__ import annotations

import re

import networkx as nx
from datasketch import MinHash, MinHashLSH

from .db import transaction

SHINGLE_WORDS = 5
PERMUTATIONS = 128
THRESHOLD = 0.5       # estimated Jaccard similarity of shingle sets; reprints with a new headline,
                      # a trimmed ending or an added editor's note stay well above it
MIN_WORDS = 60        # shorter texts (link-only records, teasers) share too little to judge


def shingles(text: str) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i:i + SHINGLE_WORDS]) for i in range(max(0, len(words) - SHINGLE_WORDS + 1))}


def signature(text: str) -> MinHash | None:
    pieces = shingles(text)
    if len(pieces) < MIN_WORDS:
        return None
    minhash = MinHash(num_perm=PERMUTATIONS, seed=1)
    minhash.update_batch([piece.encode() for piece in pieces])
    return minhash


def find_stories(texts: dict[str, str], order: dict[str, str] | None = None) -> dict[str, tuple[str, float]]:
    """document id -> (story id, similarity to the story's first report) for every id in a
    group of two or more. `order` (id -> date) decides which report came first."""
    signatures = {doc_id: sig for doc_id, text in texts.items() if (sig := signature(text)) is not None}
    index = MinHashLSH(threshold=THRESHOLD, num_perm=PERMUTATIONS)
    graph = nx.Graph()
    for doc_id in sorted(signatures):
        for other in index.query(signatures[doc_id]):
            if signatures[doc_id].jaccard(signatures[other]) >= THRESHOLD:
                graph.add_edge(doc_id, other)
        index.insert(doc_id, signatures[doc_id])
    order = order or {}
    found = {}
    for members in nx.connected_components(graph):
        first = min(members, key=lambda d: (order.get(d) or "9999", d))
        for member in members:
            found[member] = (first, 1.0 if member == first else round(signatures[member].jaccard(signatures[first]), 3))
    return found


def group_stories(db) -> int:
    """Recompute the stories of all news documents; returns how many documents share a story."""
    rows = db.execute("SELECT id, body, published FROM documents WHERE kind = 'news' AND body IS NOT NULL").fetchall()
    found = find_stories({r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows})
    with transaction(db):  # only rows whose story changed are written (unchanged news changes nothing)
        grouped = [r[0] for r in db.execute("SELECT id FROM documents WHERE story_id IS NOT NULL")]
        db.conn.executemany("UPDATE documents SET story_id = NULL, story_similarity = NULL WHERE id = ?",
                            [(doc_id,) for doc_id in grouped if doc_id not in found])
        db.conn.executemany("UPDATE documents SET story_id = ?, story_similarity = ? WHERE id = ? AND "
                            "(story_id IS NOT ? OR story_similarity IS NOT ?)",
                            [(story, similarity, doc_id, story, similarity) for doc_id, (story, similarity) in found.items()])
    return len(found)
