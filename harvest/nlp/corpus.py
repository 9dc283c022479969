"""Tagging the corpus: pick what is new or changed, tag it, write themes, entities, evidence and
study design as rows, then apply the curators' corrections, which always win."""

from __future__ import annotations

import hashlib
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
    digest = hashlib.sha256()
    for path in [taxonomy_path, entities_path, settings_path, model_path, *sorted(NLP_CODE.glob("*.py"))]:
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"(absent)")
    return f"{__version__}+{digest.hexdigest()[:10]}"


@dataclass
class TagSummary:
    tagged: int = 0
    relevant: int = 0
    themes: dict = field(default_factory=dict)
    corrections: int = 0
    problems: list[str] = field(default_factory=list)


def tag_corpus(db: sqlite_utils.Database, everything: bool = False, progress: Callable | None = None,
               corrections_path: Path = CORRECTIONS) -> TagSummary:
    """Tag documents that are new, changed, or tagged by an older pipeline (all with
    `everything`), in transactions of 200, then apply corrections."""
    load_corrections(corrections_path)  # a broken file stops the run here, before any write
    taxonomy, version = load_taxonomy(), pipeline_version()
    _write_vocabulary(db, taxonomy)
    where = "" if everything else \
        "WHERE tagged_version IS NOT ? OR tagged_hash IS NOT content_hash"
    rows = db.execute(f"SELECT id, kind, title, abstract, body, publication_types, content_hash, "
                      f"unverified_fields FROM documents {where} ORDER BY id",
                      [] if everything else [version]).fetchall()
    summary = TagSummary()
    inputs = [TextInput(id=r[0], kind=r[1], title=r[2] or "", abstract=r[3] or "", body=r[4] or "",
                        publication_types=json.loads(r[5] or "[]"), unverified=_unverified(r[7]))
              for r in rows]
    hashes = {r[0]: r[6] for r in rows}
    for results in tag_chunks(chunked(inputs)):
        with transaction(db):
            for result in results:
                save_tags(db, result, version, hashes[result["id"]])
                summary.tagged += 1
                summary.relevant += result["relevant"]
                for theme in result["themes"]:
                    summary.themes[theme["theme"]] = summary.themes.get(theme["theme"], 0) + 1
        if progress:
            progress(summary.tagged, len(inputs))
    applied, problems = apply_corrections(db, corrections_path)
    summary.corrections, summary.problems = applied, problems
    refresh_facets(db)
    return summary


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
    for chunk in first:
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


def refresh_facets(db) -> None:
    """documents.themes and documents.products as JSON arrays, so Datasette can facet and filter
    documents by them (`themes__arraycontains=treatment`); only rows that differ are written."""
    themes = ("(SELECT json_group_array(theme) FROM (SELECT theme FROM document_themes "
              "WHERE document_id = documents.id ORDER BY theme))")
    products = ("(SELECT json_group_array(name) FROM (SELECT e.name FROM document_entities d JOIN entities e "
                "ON e.id = d.entity_id WHERE d.document_id = documents.id AND e.type = 'product' ORDER BY e.name))")
    with transaction(db):
        db.execute(f"UPDATE documents SET themes = {themes}, products = {products} "
                   f"WHERE themes IS NOT {themes} OR products IS NOT {products}")


def _write_vocabulary(db, taxonomy) -> None:
    with transaction(db):
        db["themes"].insert_all(({"id": t.id, "label": t.label, "definition": t.definition}
                                 for t in taxonomy.themes.values()), replace=True)
        db["entities"].insert_all(({"id": e.id, "type": e.type, "name": e.name,
                                    "aliases": json.dumps(e.aliases, ensure_ascii=False)}
                                   for e in load_entities()), replace=True)


def save_tags(db, result: dict, version: str, content_hash: str | None) -> None:
    """Replace one document's machine-made tags with `result`. Curated rows are left alone."""
    document_id = result["id"]
    db.execute("DELETE FROM document_themes WHERE document_id = ? AND method = 'rules'", [document_id])
    db.execute("DELETE FROM evidence WHERE document_id = ?", [document_id])
    db.execute("DELETE FROM document_entities WHERE document_id = ?", [document_id])
    curated = {r[0] for r in db.execute("SELECT theme FROM theme_curations WHERE document_id = ?",
                                        [document_id])}
    evidence = []
    for theme in result["themes"]:
        if theme["theme"] not in curated:
            db["document_themes"].insert({
                "document_id": document_id, "theme": theme["theme"], "score": theme["score"],
                "method": "rules", "pipeline_version": version})
        for record in theme["evidence"] + theme["negated"]:
            evidence.append(_evidence_row(document_id, record, version, theme=theme["theme"]))
    for entity in result["entities"]:
        db["document_entities"].insert({"document_id": document_id, "entity_id": entity["id"],
                                        "mentions": entity["mentions"]})
        evidence.append(_evidence_row(document_id, entity["evidence"], version, entity_id=entity["id"]))
    db["evidence"].insert_all(evidence)
    db["documents"].update(document_id, {
        "relevance": result["relevance"],
        "relevance_reason": result["relevance_reason"], "study_design": result["study_design"],
        "study_design_source": result["study_design_source"], "tagged_version": version,
        "tagged_hash": content_hash})


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


def apply_corrections(db, path: Path = CORRECTIONS) -> tuple[int, list[str]]:
    """Curators' additions and removals of themes (and relevance), recorded as curated."""
    applied, problems = 0, []
    known_themes = {r[0] for r in db.execute("SELECT id FROM themes")}
    listed: set[tuple[str, str]] = set()
    with transaction(db):
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
                    db["theme_curations"].insert({"document_id": document_id, "theme": theme,
                                                  "action": action, "curator": curator,
                                                  "reason": reason}, replace=True)
                    db.execute("DELETE FROM document_themes WHERE document_id = ? AND theme = ?",
                               [document_id, theme])
                    if action == "add":
                        db["document_themes"].insert({
                            "document_id": document_id, "theme": theme, "method": "curated",
                            "curator": curator, "reason": reason})
                    applied += 1
            if "relevant" in entry or "relevance" in entry:
                state = entry.get("relevance") or ("relevant" if entry["relevant"] else "off-topic")
                if state not in RELEVANCE_STATES:
                    problems.append(f"{where}: relevance {state!r} is not one of {', '.join(RELEVANCE_STATES)}")
                    continue
                db["documents"].update(document_id, {
                    "relevance": state, "relevance_reason": f"curated by {curator}: {reason}"})
                applied += 1
        _forget_withdrawn(db, listed)
    return applied, problems


def _forget_withdrawn(db, listed: set[tuple[str, str]]) -> None:
    """Curations no longer in the file stop applying: their rows go, and the document is tagged
    again on the next run so the machine's view comes back."""
    for document_id, theme in db.execute("SELECT document_id, theme FROM theme_curations").fetchall():
        if (document_id, theme) in listed:
            continue
        db.execute("DELETE FROM theme_curations WHERE document_id = ? AND theme = ?", [document_id, theme])
        db.execute("DELETE FROM document_themes WHERE document_id = ? AND theme = ? AND method = 'curated'",
                   [document_id, theme])
        db.execute("UPDATE documents SET tagged_version = NULL WHERE id = ?", [document_id])


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
