"""Documents similar to one document: the search page's "similar documents" (`/-/search?similar=ID`).

A neighbour is scored on two things, blended half and half, each scaled to 0..1 by the best
neighbour's score:

- wording: the document's most distinctive words (title and abstract; tf-idf, each word's
  document frequency counted in the full-text index, no further than COMMON_DOCUMENTS) searched
  in the other documents' titles and abstracts, ranked by FTS5's bm25 (title over abstract);
- shared facts: entities (2 each), themes (1 each), a citation either way (3), references in
  common (2), the same news story (4).

Bounded at any corpus size, with nothing precomputed: only words found in at most a tenth of
the corpus and at most COMMON_DOCUMENTS documents are searched, only as many as keep the
postings read under POSTINGS_BUDGET, chosen among the LOOKED_UP words weighing most in the
document (a word's count stops at COMMON_DOCUMENTS + 1); facts
are collected from the citations, the story and entities held by at most ENTITY_DOCUMENTS
documents, then counted for those candidates only (themes, shared by thousands, are counted only
for the candidates). `why_similar` says for each neighbour what it shares.

Words are stemmed as the index stems them (Porter over unicode61 with diacritics removed): a tiny
in-memory FTS5 table with the same tokenizer does it, so `delusions` and `delusional` meet.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import threading
from dataclasses import dataclass

from .db import file_of

WORD = re.compile(r"[^\W_]+")
STOP = frozenset("""a about above after again against all also an and any are as at be because been before being
    between both but by can could did do does during each few for from further had has have having here how if in
    into is it its itself just more most no nor not now of off on once only or other our out over own same she should
    so some such than that the their them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your using used use based study studies new
    however among within without may might one two three also results methods conclusions background objective
    says said""".split())
TOKENIZER = "porter unicode61 remove_diacritics 2"  # as documents_fts (harvest.db)
MAX_TERMS = 16
LOOKED_UP = 40  # words of the document whose frequency is counted
POSTINGS_BUDGET = 20_000  # documents read for the wording part, all words together
COMMON_SHARE = 0.10  # a word in more than this share of the corpus says little about a document,
COMMON_DOCUMENTS = 1_000  # nor one in more documents than this (so counting a word's documents stays cheap)
TEXT_LIMIT = 200
ENTITY_DOCUMENTS = 500  # an entity in more documents (ChatGPT) is counted for the candidates, not searched from
LIMIT = 500
WEIGHTS = {"entity": 2.0, "theme": 1.0, "cites": 3.0, "cited_by": 3.0, "co_cited": 2.0, "story": 4.0}
TEXT_SHARE = 0.5


@dataclass
class Wording:
    """A document's distinctive words: stem -> the word as the document writes it, best first."""
    words: dict[str, str]


def stems(words: list[str]) -> dict[str, str]:
    """word -> its stem as documents_fts indexes it (several words may share one stem)."""
    if not words:
        return {}
    memory = sqlite3.connect(":memory:")
    try:
        memory.execute(f"CREATE VIRTUAL TABLE w USING fts5(x, tokenize='{TOKENIZER}')")
        memory.executemany("INSERT INTO w(rowid, x) VALUES (?, ?)", enumerate(words, 1))
        memory.execute("CREATE VIRTUAL TABLE v USING fts5vocab(w, instance)")
        return {words[doc - 1]: term for term, doc in memory.execute("SELECT term, doc FROM v")}
    finally:
        memory.close()


def _text(conn, document_id: str) -> tuple[str, str] | None:
    row = conn.execute("SELECT coalesce(title, ''), coalesce(abstract, substr(body, 1, 3000), '') FROM documents WHERE id = ?",
                       [document_id]).fetchone()
    return (row[0], row[1]) if row else None


def _counted_words(title: str, abstract: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for weight, text in ((3.0, title), (1.0, abstract)):
        for word in WORD.findall(text.lower()):
            if len(word) > 2 and word not in STOP and not word.isdigit():
                counts[word] = counts.get(word, 0.0) + weight
    return counts


_WORDINGS: dict[tuple, Wording] = {}  # (database file, its version, document id) -> Wording; the page asks twice
_LOCK = threading.Lock()


def _version(conn) -> tuple:
    """The main database file and the size and time of it and its WAL: a write makes a new version."""
    path = file_of(conn)
    stamps = []
    for name in (path, f"{path}-wal"):
        try:
            found = os.stat(name)
            stamps.append((found.st_size, found.st_mtime_ns))
        except (FileNotFoundError, ValueError):
            stamps.append(None)
    return (path, *stamps) if path else ()


def wording(conn, document_id: str) -> Wording:
    """The document's distinctive words (see the module's description); empty when it has none.
    Kept for the version of the database file it was read from (not for an in-memory database)."""
    key = (*_version(conn), document_id)
    with _LOCK:
        if len(key) > 1 and key in _WORDINGS:
            return _WORDINGS[key]
    found = _wording(conn, document_id)
    if len(key) > 1:
        with _LOCK:
            if len(_WORDINGS) >= 256:
                _WORDINGS.pop(next(iter(_WORDINGS)))
            _WORDINGS[key] = found
    return found


def _wording(conn, document_id: str) -> Wording:
    text = _text(conn, document_id)
    counts = _counted_words(*text) if text else {}
    stem_of = stems(list(counts))
    by_stem: dict[str, tuple[float, str]] = {}
    for word, n in counts.items():
        stem = stem_of.get(word)
        if stem:
            total, shown = by_stem.get(stem, (0.0, word))
            by_stem[stem] = (total + n, shown if len(shown) <= len(word) else word)
    if not by_stem:
        return Wording({})
    size = conn.execute("SELECT max(rowid) FROM documents").fetchone()[0] or 1  # about the count, read from the index
    common = int(min(COMMON_DOCUMENTS, max(3, COMMON_SHARE * size)))
    looked_up = sorted(by_stem.items(), key=lambda item: (-item[1][0], -len(item[1][1]), item[0]))[:LOOKED_UP]
    by_stem = dict(looked_up)  # the words weighing most (in the title, repeated; then the longest)
    frequency = {}
    for stem, (_, word) in by_stem.items():  # documents holding the word, counted no further than `common`
        frequency[stem] = conn.execute("SELECT count(*) FROM (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ? LIMIT ?)",
                                       ['{title abstract} : "' + word + '"', common + 1]).fetchone()[0]
    ranked = sorted(((n * math.log(size / frequency[s]), s) for s, (n, _) in by_stem.items() if 1 < frequency[s] <= common),
                    reverse=True)
    chosen, read = {}, 0
    for _, stem in ranked:
        if len(chosen) == MAX_TERMS or read + frequency[stem] > POSTINGS_BUDGET:
            continue
        chosen[stem] = by_stem[stem][1]
        read += frequency[stem]
    return Wording(chosen)


def _by_wording(conn, document_id: str, words: Wording) -> dict[str, float]:
    if not words.words:
        return {}
    match = "{title abstract} : (" + " OR ".join(f'"{w}"' for w in words.words.values()) + ")"
    rows = conn.execute("SELECT d.id, s.score FROM (SELECT rowid, -bm25(documents_fts, 3.0, 1.0, 0.0) AS score FROM documents_fts "
                        "WHERE documents_fts MATCH ? ORDER BY score DESC LIMIT ?) s JOIN documents d ON d.rowid = s.rowid",
                        [match, TEXT_LIMIT + 1]).fetchall()
    return {other: score for other, score in rows if other != document_id}


def _facts(conn, document_id: str, candidates: set[str]) -> dict[str, dict[str, float]]:
    """Per candidate: how many entities and themes it shares, citations either way, references in common, same story."""
    found: dict[str, dict[str, float]] = {c: {} for c in candidates}
    ids = sorted(candidates)

    def add(kind, rows):
        for other, n in rows:
            if other in found:
                found[other][kind] = found[other].get(kind, 0) + n
    for start in range(0, len(ids), 500):
        batch = ids[start:start + 500]
        marks = ", ".join("?" * len(batch))
        add("entity", conn.execute(f"SELECT document_id, count(*) FROM document_entities WHERE document_id IN ({marks}) AND "
                                   "entity_id IN (SELECT entity_id FROM document_entities WHERE document_id = ?) GROUP BY document_id",
                                   [*batch, document_id]))
        add("theme", conn.execute(f"SELECT document_id, count(*) FROM document_themes WHERE document_id IN ({marks}) AND "
                                  "theme IN (SELECT theme FROM document_themes WHERE document_id = ?) GROUP BY document_id",
                                  [*batch, document_id]))
        add("co_cited", conn.execute(f"SELECT citing_id, count(*) FROM citations WHERE citing_id IN ({marks}) AND "
                                     "cited_id IN (SELECT cited_id FROM citations WHERE citing_id = ?) GROUP BY citing_id",
                                     [*batch, document_id]))
    add("cites", conn.execute("SELECT citing_id, 1 FROM citations WHERE cited_id = ?", [document_id]))
    add("cited_by", conn.execute("SELECT cited_id, 1 FROM citations WHERE citing_id = ?", [document_id]))
    add("story", [(other, 1) for other in _same_story(conn, document_id)])
    return found


def _same_story(conn, document_id: str) -> list[str]:
    """The other reports of the document's news story (read by the story's id: an index look-up, never a scan)."""
    row = conn.execute("SELECT story_id FROM documents WHERE id = ?", [document_id]).fetchone()
    if not row or row[0] is None:
        return []
    return [r[0] for r in conn.execute("SELECT id FROM documents INDEXED BY documents_story WHERE story_id = ? AND id != ?",
                                       [row[0], document_id])]


def _fact_candidates(conn, document_id: str) -> set[str]:
    rows = conn.execute(f"""
        SELECT citing_id FROM citations WHERE cited_id = :id
        UNION SELECT cited_id FROM citations WHERE citing_id = :id
        UNION SELECT * FROM (SELECT b.citing_id FROM citations a JOIN citations b ON b.cited_id = a.cited_id
                             WHERE a.citing_id = :id LIMIT 2000)
        UNION SELECT * FROM (SELECT b.document_id FROM document_entities a JOIN document_entities b ON b.entity_id = a.entity_id
                             WHERE a.document_id = :id AND (SELECT count(*) FROM document_entities c
                                                            WHERE c.entity_id = a.entity_id) <= {ENTITY_DOCUMENTS} LIMIT 2000)""",
                        {"id": document_id}).fetchall()
    return {r[0] for r in rows if r[0] and r[0] != document_id} | set(_same_story(conn, document_id))


def similar_documents(conn, document_id: str, limit: int = LIMIT) -> list[tuple[int, float]]:
    """(rowid, score 0..1) of the documents most similar to `document_id`, best first, at most
    `limit`; [] for an unknown id or a document that shares nothing with any other."""
    words = wording(conn, document_id)
    by_wording = _by_wording(conn, document_id, words)
    facts = _facts(conn, document_id, set(by_wording) | _fact_candidates(conn, document_id))
    fact_score = {other: sum(WEIGHTS[k] * n for k, n in found.items()) for other, found in facts.items()}
    best_text = max(by_wording.values(), default=0.0) or 1.0
    best_fact = max(fact_score.values(), default=0.0) or 1.0
    blended = {other: TEXT_SHARE * by_wording.get(other, 0.0) / best_text + (1 - TEXT_SHARE) * fact_score.get(other, 0.0) / best_fact
               for other in set(by_wording) | set(fact_score)}
    ranked = sorted(((score, other) for other, score in blended.items() if score > 0), key=lambda pair: (-pair[0], pair[1]))[:limit]
    rowids = dict(conn.execute(f"SELECT id, rowid FROM documents WHERE id IN ({', '.join('?' * len(ranked))})",
                               [other for _, other in ranked]).fetchall()) if ranked else {}
    return [(rowids[other], round(score, 6)) for score, other in ranked if other in rowids]


def why_similar(conn, document_id: str, others: list[str]) -> dict[str, list[str]]:
    """For each of `others`, what it shares with `document_id`, as short phrases for people:
    "similar wording: psychosis, delusions", "themes: Safety, Symptoms", "entities: Character.AI",
    "cites it", "cited by it", "2 references in common", "the same news story"."""
    if not others:
        return {}
    words = wording(conn, document_id)
    facts = _facts(conn, document_id, set(others))
    marks = ", ".join("?" * len(others))
    themes, entities = {}, {}
    for other, label in conn.execute(f"SELECT t.document_id, coalesce(th.label, t.theme) FROM document_themes t LEFT JOIN themes th "
                                     f"ON th.id = t.theme WHERE t.document_id IN ({marks}) AND t.theme IN "
                                     "(SELECT theme FROM document_themes WHERE document_id = ?) ORDER BY 2", [*others, document_id]):
        themes.setdefault(other, []).append(label)
    for other, name in conn.execute(f"SELECT e.document_id, x.name FROM document_entities e JOIN entities x ON x.id = e.entity_id "
                                    f"WHERE e.document_id IN ({marks}) AND e.entity_id IN "
                                    "(SELECT entity_id FROM document_entities WHERE document_id = ?) ORDER BY 2", [*others, document_id]):
        entities.setdefault(other, []).append(name)
    their_words = {}
    starts = tuple({stem[:3] for stem in words.words})  # a stem begins as its words do: only those are stemmed
    for other in others if words.words else []:
        text = _text(conn, other)
        their_words[other] = [w for w in _counted_words(*text) if w.startswith(starts)] if text else []
    stem_of = stems(sorted({w for found in their_words.values() for w in found}))  # one tokenizer for the page
    reasons = {}
    for other in others:
        shown = []
        theirs = {stem_of.get(w) for w in their_words.get(other, [])}
        shared = [word for stem, word in words.words.items() if stem in theirs][:6]
        if shared:
            shown.append("similar wording: " + ", ".join(shared))
        if themes.get(other):
            shown.append("themes: " + ", ".join(themes[other]))
        if entities.get(other):
            shown.append("entities: " + ", ".join(entities[other][:6]))
        found = facts.get(other, {})
        if found.get("cites"):
            shown.append("cites it")
        if found.get("cited_by"):
            shown.append("cited by it")
        if found.get("co_cited"):
            n = int(found["co_cited"])
            shown.append(f"{n} reference{'s' if n > 1 else ''} in common")
        if found.get("story"):
            shown.append("the same news story")
        reasons[other] = shown
    return reasons
