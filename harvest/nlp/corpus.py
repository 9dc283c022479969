"""Tagging the corpus: pick what is new or changed, tag it, write themes, entities, evidence and
study design as rows, then apply the curators' corrections, which always win."""

from __future__ import annotations

import itertools
import json
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import sqlite_utils
from .. import config

from .. import __version__
from ..db import transaction
from ..runs import change_counters, files_digest, read_marker, save_marker
from ..store import current_id, find_document
from .pipeline import build_pipeline
from .tagger import RELEVANCE_STATES, TextInput, tag_documents
from .learned import MODEL
from .vocab import ANNOTATIONS, ENTITIES, SETTINGS, TAXONOMY, load_entities, load_taxonomy

CORRECTIONS = ANNOTATIONS / "corrections.yaml"
BATCH = 200
PARALLEL_AFTER = 2  # chunks of BATCH documents: fewer are tagged here, not worth starting workers


NLP_CODE = Path(__file__).resolve().parent


def pipeline_version(taxonomy_path: Path = TAXONOMY, entities_path: Path = ENTITIES,
                     settings_path: Path = SETTINGS, model_path: Path = MODEL) -> str:
    """`<package version>+<10 hex digits>`: a digest of every input to a judgement (the
    vocabularies, the cues and weights, the learned layer's parameters, the tagger's code), so
    changing any of them tags every document again on the next run."""
    digest = files_digest(taxonomy_path, entities_path, settings_path, model_path, *sorted(NLP_CODE.glob("*.py")))
    return f"{__version__}+{digest[:10]}"


@dataclass
class TagSummary:
    tagged: int = 0
    relevant: int = 0
    themes: dict = field(default_factory=dict)
    corrections: int = 0
    problems: list[str] = field(default_factory=list)
    unchanged: bool = False  # nothing it reads changed since the last run: returned at once, nothing written


TEXT_COLUMNS = "id, kind, title, abstract, body, publication_types, content_hash, unverified_fields"
NEEDS_TAGGING = "(tagged_version IS NOT ? OR tagged_hash IS NOT content_hash)"
CHANGED_SINCE = "id IN (SELECT document_id FROM derive_changes WHERE seq > ?)"


def tag_corpus(db: sqlite_utils.Database, everything: bool = False, progress: Callable | None = None,
               corrections_path: Path = CORRECTIONS) -> TagSummary:
    """Tag documents that are new, changed, or tagged by an older pipeline (all with
    `everything`), in transactions of 200, then apply corrections.

    Change marker (`derive_markers` row `tag`): the `documents` change counter, the pipeline
    version and the corrections file's digest after the last run. When all three are the same,
    this returns at once (`unchanged`), reading four counter rows and no document, writing nothing.
    When only documents changed, only those changed since the marker (`derive_changes`, indexed
    by change number) are looked at; a new pipeline version looks at all of them."""
    load_corrections(corrections_path)  # a broken file stops the run here, before any write
    version = pipeline_version()
    corrections = files_digest(corrections_path)
    marker, counters = read_marker(db, "tag"), change_counters(db)
    same_pipeline = bool(marker) and marker.get("pipeline_version") == version
    if not everything and same_pipeline and marker == _tag_inputs(counters, version, corrections):
        return TagSummary(unchanged=True)
    full = everything or not same_pipeline
    _write_vocabulary(db, load_taxonomy())
    if full:
        where, params = ("", []) if everything else (f"WHERE {NEEDS_TAGGING}", [version])
    else:
        where, params = f"WHERE {CHANGED_SINCE} AND {NEEDS_TAGGING}", [marker["documents"], version]
    rows = db.execute(f"SELECT {TEXT_COLUMNS} FROM documents {where} ORDER BY id", params).fetchall()
    summary = TagSummary()
    touched = _tag_rows(db, rows, version, summary, progress)
    if full or touched or marker.get("corrections") != corrections:
        applied, problems, corrected, withdrawn = apply_corrections(db, corrections_path)
        if withdrawn:  # a withdrawn curation: the machine's view of those documents comes back now
            placeholders = ",".join("?" * len(withdrawn))
            again = db.execute(f"SELECT {TEXT_COLUMNS} FROM documents WHERE id IN ({placeholders}) "
                               f"ORDER BY id", sorted(withdrawn)).fetchall()
            touched |= _tag_rows(db, again, version, summary, progress)
            applied, problems, more, _ = apply_corrections(db, corrections_path)
            corrected |= more
        summary.corrections, summary.problems = applied, problems
        touched |= corrected
    refresh_facets(db, None if full else touched)
    with transaction(db):
        pending = db.execute(f"SELECT count(*) FROM documents WHERE {CHANGED_SINCE} AND {NEEDS_TAGGING}",
                             [counters["documents"], version]).fetchone()[0]
        if not pending:  # else a writer came in meanwhile: no marker, the next run looks again
            save_marker(db, "tag", _tag_inputs(change_counters(db), version, corrections))
    return summary


def _tag_inputs(counters: dict, version: str, corrections: str) -> dict:
    return {"documents": counters["documents"], "pipeline_version": version, "corrections": corrections}


def _tag_rows(db, rows: list, version: str, summary: TagSummary, progress: Callable | None) -> set[str]:
    """Tag `rows` (TEXT_COLUMNS) and write their tags, a transaction per chunk; their ids."""
    inputs = [TextInput(id=r[0], kind=r[1], title=r[2] or "", abstract=r[3] or "", body=r[4] or "",
                        publication_types=json.loads(r[5] or "[]"), unverified=_unverified(r[7]))
              for r in rows]
    hashes = {r[0]: r[6] for r in rows}
    done = 0
    for results in tag_chunks(chunked(inputs)):
        with transaction(db):
            save_tags(db, results, version, hashes)
        for result in results:
            summary.tagged += 1
            summary.relevant += result["relevant"]
            for theme in result["themes"]:
                summary.themes[theme["theme"]] = summary.themes.get(theme["theme"], 0) + 1
        done += len(results)
        if progress:
            progress(done, len(inputs))
    return set(hashes)


_worker_pipeline = None


def _start_worker() -> None:
    global _worker_pipeline
    _worker_pipeline = (build_pipeline(), load_taxonomy())


def _tag_chunk(chunk: list[TextInput]) -> list[dict]:
    nlp, taxonomy = _worker_pipeline
    return list(tag_documents(nlp, taxonomy, chunk))


def tag_chunks(chunks: Iterable[list[TextInput]], workers: int | None = None) -> Iterator[list[dict]]:
    """Results chunk by chunk, in order. With more than PARALLEL_AFTER chunks and more than one
    core, every core tags (each worker builds its own pipeline once); otherwise this process does.
    `chunks` may be a stream (read as the workers need them, a few chunks ahead)."""
    workers = workers or min(os.cpu_count() or 1, 8)
    chunks = iter(chunks)
    first = list(itertools.islice(chunks, PARALLEL_AFTER + 1))
    if workers > 1 and len(first) > PARALLEL_AFTER:
        with ProcessPoolExecutor(workers, initializer=_start_worker) as pool:
            pending = deque()  # a few chunks ahead of the writer: memory stays bounded
            for chunk in itertools.chain(first, chunks):
                pending.append(pool.submit(_tag_chunk, chunk))
                if len(pending) > 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        return
    _start_worker()
    for chunk in itertools.chain(first, chunks):
        yield _tag_chunk(chunk)


def chunked(items: Iterable, size: int = BATCH) -> Iterator[list]:
    """Lists of `size` items (the last may be shorter), read lazily."""
    items = iter(items)
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _unverified(value: str | None) -> list[str]:
    """documents.unverified_fields (a JSON list, or words) as tagger field names."""
    if not value:
        return []
    try:
        fields = json.loads(value)
    except ValueError:
        fields = value.replace(",", " ").split()
    return [{"summary": "abstract"}.get(f, f) for f in fields if isinstance(f, str)]


def refresh_facets(db, document_ids: set[str] | None = None) -> None:
    """documents.themes and documents.products as JSON arrays, so Datasette can facet and filter
    documents by them (`themes__arraycontains=treatment`); only rows that differ are written.
    With `document_ids`, only those documents are looked at."""
    themes = ("(SELECT json_group_array(theme) FROM (SELECT theme FROM document_themes "
              "WHERE document_id = documents.id ORDER BY theme))")
    products = ("(SELECT json_group_array(name) FROM (SELECT e.name FROM document_entities d JOIN entities e "
                "ON e.id = d.entity_id WHERE d.document_id = documents.id AND e.type = 'product' ORDER BY e.name))")
    update = (f"UPDATE documents SET themes = {themes}, products = {products} "
              f"WHERE (themes IS NOT {themes} OR products IS NOT {products})")
    with transaction(db):
        if document_ids is None:
            db.execute(update)
            return
        ids = sorted(document_ids)
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            db.execute(f"{update} AND id IN ({','.join('?' * len(part))})", part)


def _write_vocabulary(db, taxonomy) -> int:
    """Themes and entities from the vocabulary files; only rows that differ are written (an
    upsert, never a delete-and-insert that would make SQLite check every evidence row). Rows
    written."""
    wanted = {"themes": [(t.id, t.label, t.definition) for t in taxonomy.themes.values()],
              "entities": [(e.id, e.type, e.name, json.dumps(e.aliases, ensure_ascii=False)) for e in load_entities()]}
    columns = {"themes": ("id", "label", "definition"), "entities": ("id", "type", "name", "aliases")}
    written = 0
    with transaction(db):
        for table, rows in wanted.items():
            names = columns[table]
            have = set(db.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall())
            changed = [row for row in rows if row not in have]
            if changed:
                updates = ", ".join(f"{n} = excluded.{n}" for n in names[1:])
                db.conn.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                                    f"ON CONFLICT(id) DO UPDATE SET {updates}", changed)
                written += len(changed)
    return written


EVIDENCE_COLUMNS = ("document_id", "theme", "entity_id", "field", "sentence", "start", "end", "matched", "rule",
                    "negated", "hedged", "pipeline_version")


def save_tags(db, results: list[dict], version: str, hashes: dict[str, str | None]) -> None:
    """Replace the machine-made tags of the documents in `results` (tagger output dicts), a few
    statements for the whole batch (executemany). Curated rows are left alone. `hashes`: document
    id -> the content_hash that was tagged. Call inside a transaction."""
    conn = db.conn
    ids = [result["id"] for result in results]
    if not ids:
        return
    keys = [[document_id] for document_id in ids]
    conn.executemany("DELETE FROM document_themes WHERE document_id = ? AND method = 'rules'", keys)
    conn.executemany("DELETE FROM evidence WHERE document_id = ?", keys)
    conn.executemany("DELETE FROM document_entities WHERE document_id = ?", keys)
    curated = set(conn.execute(f"SELECT document_id, theme FROM theme_curations WHERE document_id IN "
                               f"({','.join('?' * len(ids))})", ids).fetchall())
    themes, entities, evidence, documents = [], [], [], []
    for result in results:
        document_id = result["id"]
        for theme in result["themes"]:
            if (document_id, theme["theme"]) not in curated:
                themes.append((document_id, theme["theme"], theme["score"], "rules", version))
            for record in theme["evidence"] + theme["negated"]:
                evidence.append(_evidence_row(document_id, record, version, theme=theme["theme"]))
        for entity in result["entities"]:
            entities.append((document_id, entity["id"], entity["mentions"]))
            evidence.append(_evidence_row(document_id, entity["evidence"], version, entity_id=entity["id"]))
        documents.append((result["relevance"], result["relevance_reason"], result["study_design"],
                          result["study_design_source"], version, hashes.get(document_id), document_id))
    conn.executemany("INSERT INTO document_themes (document_id, theme, score, method, pipeline_version) "
                     "VALUES (?, ?, ?, ?, ?)", themes)
    conn.executemany("INSERT INTO document_entities (document_id, entity_id, mentions) VALUES (?, ?, ?)", entities)
    conn.executemany(f"INSERT INTO evidence ({', '.join(f'[{c}]' for c in EVIDENCE_COLUMNS)}) "
                     f"VALUES ({', '.join('?' * len(EVIDENCE_COLUMNS))})",
                     [tuple(row[c] for c in EVIDENCE_COLUMNS) for row in evidence])
    conn.executemany("UPDATE documents SET relevance = ?, relevance_reason = ?, study_design = ?, "
                     "study_design_source = ?, tagged_version = ?, tagged_hash = ? WHERE id = ?", documents)


def _evidence_row(document_id, record, version, theme=None, entity_id=None) -> dict:
    return {"document_id": document_id, "theme": theme, "entity_id": entity_id,
            "field": record["field"], "sentence": record["sentence"], "start": record["start"],
            "end": record["end"], "matched": record["text"], "rule": record["rule"],
            "negated": int(record["negated"]), "hedged": int(record["hedged"]),
            "pipeline_version": version}


def load_corrections(path: Path = CORRECTIONS) -> list[dict]:
    if not path.exists():
        return []
    spec = config.load(path, "corrections") or {}
    return spec.get("corrections") or []


def apply_corrections(db, path: Path = CORRECTIONS) -> tuple[int, list[str], set[str], set[str]]:
    """Curators' additions and removals of themes (and relevance), recorded as curated. Rows are
    compared first and only differences written, so applying an unchanged file writes nothing.
    Returns (corrections applied, problems, ids of documents whose rows changed, ids of documents
    whose curation was withdrawn from the file and that need tagging again)."""
    applied, problems, changed = 0, [], set()
    known_themes = {r[0] for r in db.execute("SELECT id FROM themes")}
    listed: set[tuple[str, str]] = set()
    with transaction(db):
        curations = {(r[0], r[1]): tuple(r[2:]) for r in db.execute(
            "SELECT document_id, theme, action, curator, reason FROM theme_curations")}
        for number, entry in enumerate(load_corrections(path), start=1):
            where = f"{path.name} entry {number}"
            document_id = _find_document(db, str(entry.get("document", "")))
            if document_id is None:
                problems.append(f"{where}: no document {entry.get('document')!r} in the corpus")
                continue
            curator, reason = entry.get("by"), entry.get("why")
            if not curator or not reason:
                problems.append(f"{where}: a correction needs `by` and `why`")
                continue
            for action in ("add", "remove"):
                for theme in entry.get(action) or []:
                    if theme not in known_themes:
                        problems.append(f"{where}: unknown theme {theme!r}")
                        continue
                    listed.add((document_id, theme))
                    if curations.get((document_id, theme)) != (action, curator, reason):
                        db.execute("INSERT OR REPLACE INTO theme_curations (document_id, theme, action, curator, "
                                   "reason) VALUES (?, ?, ?, ?, ?)", [document_id, theme, action, curator, reason])
                        curations[(document_id, theme)] = (action, curator, reason)
                        changed.add(document_id)
                    have = db.execute("SELECT score, method, pipeline_version, curator, reason FROM document_themes "
                                      "WHERE document_id = ? AND theme = ?", [document_id, theme]).fetchone()
                    want = (None, "curated", None, curator, reason) if action == "add" else None
                    if have != want:
                        db.execute("DELETE FROM document_themes WHERE document_id = ? AND theme = ?",
                                   [document_id, theme])
                        if want:
                            db.execute("INSERT INTO document_themes (document_id, theme, method, curator, reason) "
                                       "VALUES (?, ?, 'curated', ?, ?)", [document_id, theme, curator, reason])
                        changed.add(document_id)
                    applied += 1
            if "relevant" in entry or "relevance" in entry:
                state = entry.get("relevance") or ("relevant" if entry["relevant"] else "off-topic")
                if state not in RELEVANCE_STATES:
                    problems.append(f"{where}: relevance {state!r} is not one of {', '.join(RELEVANCE_STATES)}")
                    continue
                cursor = db.execute("UPDATE documents SET relevance = ?, relevance_reason = ? WHERE id = ? AND "
                                    "(relevance IS NOT ? OR relevance_reason IS NOT ?)",
                                    [state, f"curated by {curator}: {reason}", document_id, state,
                                     f"curated by {curator}: {reason}"])
                if cursor.rowcount:
                    changed.add(document_id)
                applied += 1
        withdrawn = _forget_withdrawn(db, listed)
    return applied, problems, changed | withdrawn, withdrawn


def _forget_withdrawn(db, listed: set[tuple[str, str]]) -> set[str]:
    """Curations no longer in the file stop applying: their rows go, and the document is to be
    tagged again so the machine's view comes back. Returns those documents' ids."""
    withdrawn = set()
    for document_id, theme in db.execute("SELECT document_id, theme FROM theme_curations").fetchall():
        if (document_id, theme) in listed:
            continue
        db.execute("DELETE FROM theme_curations WHERE document_id = ? AND theme = ?", [document_id, theme])
        db.execute("DELETE FROM document_themes WHERE document_id = ? AND theme = ? AND method = 'curated'",
                   [document_id, theme])
        db.execute("UPDATE documents SET tagged_version = NULL WHERE id = ?", [document_id])
        withdrawn.add(document_id)
    return withdrawn


def _find_document(db, reference: str) -> str | None:
    """A document by its id or by an identifier written scheme:value (doi:10.1/x, pmid:123)."""
    if db.execute("SELECT 1 FROM documents WHERE id = ?", [reference]).fetchone():
        return reference
    scheme, _, value = reference.partition(":")
    found = find_document(db, scheme, value.lower() if scheme == "doi" else value)
    if found:
        return found
    redirected = current_id(db, reference)
    return redirected if redirected != reference else None
