"""Writes to the corpus: identity resolution, idempotent upserts, provenance and merges.

Every source's `save_*` goes through `save_document`, so the rules live in one place:
the same work arriving from several sources becomes one document; ids are never reused;
a merge leaves a redirect; values marked unverified never overwrite verified ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import sqlite_utils

from .dates import iso_date, plausible
from .identifiers import stable_id
from .text import clean, normalised

DOCUMENT_FIELDS = (
    "kind", "title", "abstract", "body", "url", "venue", "venue_abbrev", "volume", "issue", "pages",
    "publisher", "published", "year", "language", "licence", "publication_types", "keywords",
    "retracted", "extraction_status", "extraction_reason", "jurisdiction", "legislative_session",
    "bill_identifier", "bill_status",
)
KEPT_ONCE_SET = ("kind", "url")  # the first source to set these keeps them
JSON_FIELDS = ("publication_types", "keywords")
# Which source wins a field, best first; a source not listed ranks below those listed. A value
# from a better source is never replaced by one from a worse source, and `field_sources` on the
# document says where each value came from.
SOURCE_RANK = {
    "default": ("pubmed", "jmir", "europepmc", "crossref", "arxiv", "news", "guidance", "legislation", "landing", "import", "seed"),
    "licence": ("crossref", "jmir", "europepmc", "pubmed", "arxiv", "seed"),
    "publisher": ("crossref", "jmir", "europepmc", "pubmed", "arxiv", "seed"),
    "abstract": ("pubmed", "jmir", "europepmc", "arxiv", "crossref", "seed"),
}


def _rank(field_name: str, source: str | None) -> int:
    order = SOURCE_RANK.get(field_name, SOURCE_RANK["default"])
    return order.index(source) if source in order else len(order)


@dataclass
class Provenance:
    """Where a record came from: which source and id, and which archived bytes."""

    source: str
    source_id: str
    fetched_at: str
    url: str | None = None
    archive_file: str | None = None
    archive_record_id: str | None = None


@dataclass
class DocumentRecord:
    """A normalised document as a source hands it to the store."""

    fields: dict
    identifiers: list[tuple[str, str]]
    authors: list[dict] = field(default_factory=list)
    editors: list[dict] = field(default_factory=list)
    mesh: list[dict] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)

    def content_hash(self) -> str:
        payload = json.dumps([self.fields, sorted(self.identifiers), self.authors, self.editors,
                              self.mesh, sorted(self.unverified)], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()


def intake(record: DocumentRecord) -> DocumentRecord:
    """The record with every string in it normalised (harvest.text: NFC, no soft hyphens,
    zero-width or control characters, no-break spaces as spaces), and a publication date that
    cannot be true (year 0, 31 February, more than a year ahead) cut to its plausible part or
    left out (harvest.dates)."""
    fields = clean(record.fields)
    if fields.get("published"):
        published = str(fields["published"])
        possible = plausible(published)
        following = published[len(possible):len(possible) + 1] if possible else ""
        whole = bool(possible) and published.startswith(possible) and not (following == "-" or following.isdigit())
        fields["published"] = published if whole else possible
        fields["year"] = int(possible[:4]) if possible else None
    elif fields.get("year") is not None and not iso_date(fields["year"]):
        fields["year"] = None
    return DocumentRecord(fields=fields, identifiers=clean(record.identifiers),
                          authors=clean(record.authors), editors=clean(record.editors),
                          mesh=clean(record.mesh), unverified=list(record.unverified))


def resolve(db: sqlite_utils.Database, identifiers: list[tuple[str, str]]) -> list[str]:
    """Ids of the documents that hold any of these identifiers, oldest first."""
    found = []
    for scheme, value in identifiers:
        row = db.execute("SELECT document_id FROM identifiers WHERE scheme = ? AND value = ?",
                         [scheme, value]).fetchone()
        if row and row[0] not in found:
            found.append(row[0])
    if len(found) > 1:
        found = [r[0] for r in db.execute(
            f"SELECT id FROM documents WHERE id IN ({','.join('?' * len(found))}) "
            "ORDER BY first_seen, id", found)]
    return found


def current_id(db: sqlite_utils.Database, document_id: str) -> str:
    """Follow redirects left by merges to the document's present id."""
    seen = set()
    while document_id not in seen:
        seen.add(document_id)
        row = db.execute("SELECT new_id FROM redirects WHERE old_id = ?", [document_id]).fetchone()
        if not row:
            return document_id
        document_id = row[0]
    return document_id


def save_document(db: sqlite_utils.Database, record: DocumentRecord, provenance: Provenance) -> tuple[str, str]:
    """Insert or update one document with its identifiers, authors, MeSH and provenance.

    Returns (document id, 'added' | 'updated' | 'unchanged'). Call inside a transaction.
    Every text in the record (fields, identifiers, people, MeSH) is first put through
    `harvest.text.normalised`, so no source stores or indexes text any other way.
    """
    record = intake(record)
    matches = resolve(db, record.identifiers)
    digest = record.content_hash()
    if not matches:
        document_id = _new_id(db, record.identifiers)
        _insert(db, document_id, record, provenance, digest)
        return document_id, "added"
    document_id = matches[0]
    for other in matches[1:]:
        merge_documents(db, other, document_id, provenance.fetched_at,
                        reason=f"same work seen by {provenance.source} {provenance.source_id}")
    if len(matches) == 1 and _source_hash(db, document_id, provenance) == digest:
        _touch(db, document_id, provenance)
        return document_id, "unchanged"
    _update(db, document_id, record, provenance, digest)
    return document_id, "updated"


def _new_id(db, identifiers) -> str:
    scheme, value = identifiers[0]
    salt = 0
    while True:
        candidate = stable_id("d", scheme, value, *([str(salt)] if salt else []))
        taken = db.execute("SELECT 1 FROM documents WHERE id = ? UNION SELECT 1 FROM redirects "
                           "WHERE old_id = ?", [candidate, candidate]).fetchone()
        if not taken:
            return candidate
        salt += 1


def _row_values(record: DocumentRecord) -> dict:
    values = {}
    for name in DOCUMENT_FIELDS:
        value = record.fields.get(name)
        if name in JSON_FIELDS and value is not None:
            value = json.dumps(value, ensure_ascii=False) if value else None
        if name == "retracted":
            value = int(bool(value))
        values[name] = value
    return values


def _insert(db, document_id, record, provenance, digest) -> None:
    row = _row_values(record)
    row.update(id=document_id, first_seen=provenance.fetched_at, last_seen=provenance.fetched_at,
               unverified_fields=json.dumps(sorted(record.unverified)) if record.unverified else None,
               field_sources=json.dumps({k: provenance.source for k in DOCUMENT_FIELDS
                                         if row[k] is not None and k != "retracted"}, sort_keys=True))
    row["content_hash"] = _document_hash(row)
    db["documents"].insert(row)
    _write_identifiers(db, document_id, record.identifiers)
    _write_people_and_mesh(db, document_id, record)
    _write_source(db, document_id, provenance, digest)


def _update(db, document_id, record, provenance, digest) -> None:
    current = db["documents"].get(document_id)
    old_unverified = set(json.loads(current["unverified_fields"] or "[]"))
    sources = json.loads(current["field_sources"] or "{}")
    new_values = _row_values(record)
    changes = {}
    for name, value in new_values.items():
        if value is None or (name == "retracted" and not value):
            continue
        if name in KEPT_ONCE_SET and current[name] is not None:
            continue
        if name in record.unverified and current[name] is not None and name not in old_unverified:
            continue  # an unverified value never replaces a verified one
        if current[name] is not None and name not in old_unverified and \
                _rank(name, provenance.source) > _rank(name, sources.get(name)):
            continue  # a better source set this field
        changes[name] = value
        if name != "retracted":
            sources[name] = provenance.source
    changes["field_sources"] = json.dumps(sources, sort_keys=True) if sources else None
    verified_now = {n for n, v in new_values.items() if v is not None} - set(record.unverified)
    unverified = (old_unverified - verified_now) | (set(record.unverified) & set(changes))
    changes["unverified_fields"] = json.dumps(sorted(unverified)) if unverified else None
    changes["last_seen"] = max(current["last_seen"], provenance.fetched_at)
    merged = {**current, **changes}
    changes["content_hash"] = _document_hash(merged)
    db["documents"].update(document_id, changes)
    _write_identifiers(db, document_id, record.identifiers)
    _write_people_and_mesh(db, document_id, record)
    _write_source(db, document_id, provenance, digest)


def _touch(db, document_id, provenance) -> None:
    db.execute("UPDATE documents SET last_seen = max(last_seen, ?) WHERE id = ?",
               [provenance.fetched_at, document_id])
    db.execute("UPDATE document_sources SET last_fetched = max(last_fetched, ?) WHERE document_id = ? "
               "AND source = ? AND source_id = ?",
               [provenance.fetched_at, document_id, provenance.source, provenance.source_id])


def _document_hash(row: dict) -> str:
    payload = json.dumps({k: row.get(k) for k in DOCUMENT_FIELDS}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _source_hash(db, document_id, provenance) -> str | None:
    row = db.execute("SELECT content_hash FROM document_sources WHERE document_id = ? AND source = ? "
                     "AND source_id = ?", [document_id, provenance.source, provenance.source_id]).fetchone()
    return row[0] if row else None


def _write_identifiers(db, document_id, identifiers) -> None:
    for scheme, value in identifiers:
        db.execute("INSERT OR IGNORE INTO identifiers (scheme, value, document_id) VALUES (?, ?, ?)",
                   [scheme, value, document_id])
        if scheme == "doi":  # links waiting for this work now reach it
            db.execute("UPDATE document_links SET to_id = ? WHERE to_doi = ? AND to_id IS NULL",
                       [document_id, value])


def link_documents(db, from_id: str, relation: str, to_doi: str, source: str) -> None:
    """A typed link to the work with DOI `to_doi` ("published-as" from a preprint to its journal
    version, say), resolved now if that work is in the corpus, or when it arrives."""
    db["document_links"].insert({"from_id": from_id, "relation": relation, "to_doi": to_doi,
                                 "to_id": find_document(db, "doi", to_doi), "source": source},
                                replace=True)


def _write_people_and_mesh(db, document_id, record: DocumentRecord) -> None:
    for role, people in (("author", record.authors), ("editor", record.editors)):
        if not people:
            continue
        db.execute("DELETE FROM document_authors WHERE document_id = ? AND role = ?", [document_id, role])
        for position, person in enumerate(people, start=1):
            author_id = save_author(db, person)
            affiliations = person.get("affiliations") or None
            db["document_authors"].insert({
                "document_id": document_id, "position": position, "author_id": author_id,
                "role": role,
                "affiliations": json.dumps(affiliations, ensure_ascii=False) if affiliations else None})
    if record.mesh:
        db.execute("DELETE FROM document_mesh WHERE document_id = ?", [document_id])
        db["document_mesh"].insert_all(({
            "document_id": document_id, "descriptor": m["descriptor"], "descriptor_ui": m.get("ui"),
            "major": int(bool(m.get("major"))),
            "qualifiers": json.dumps(m["qualifiers"], ensure_ascii=False) if m.get("qualifiers") else None,
        } for m in record.mesh), replace=True)


def save_author(db, person: dict) -> str:
    """One row per person: keyed by ORCID when known, else by the name as printed. A source
    that gives only a full name (arXiv) passes it as `name`; a generational suffix (Jr, 3rd) is
    its own column, `suffix`, and keeps a father and son apart."""
    suffix = person.get("suffix") or None
    name = person.get("collective_name") or " ".join(
        p for p in (person.get("fore_name"), person.get("last_name"), suffix) if p) or person.get("name") \
        or person.get("initials") or "?"
    key = person.get("orcid") or "|".join(
        (person.get("last_name") or "", person.get("fore_name") or person.get("initials") or "",
         person.get("collective_name") or "", "" if person.get("last_name") else person.get("name") or "")
        + ((suffix,) if suffix else ())).lower()
    author_id = stable_id("a", key)
    db["authors"].insert({
        "id": author_id, "name": name, "last_name": person.get("last_name"),
        "fore_name": person.get("fore_name"), "initials": person.get("initials"),
        "collective_name": person.get("collective_name"), "orcid": person.get("orcid"),
        "suffix": suffix,
    }, ignore=True)
    return author_id


def _write_source(db, document_id, provenance: Provenance, digest: str) -> None:
    existing = db.execute("SELECT first_fetched FROM document_sources WHERE document_id = ? AND "
                          "source = ? AND source_id = ?",
                          [document_id, provenance.source, provenance.source_id]).fetchone()
    first = min(existing[0], provenance.fetched_at) if existing else provenance.fetched_at
    db["document_sources"].insert({
        "document_id": document_id, "source": provenance.source, "source_id": provenance.source_id,
        "url": provenance.url, "first_fetched": first, "last_fetched": provenance.fetched_at,
        "archive_file": provenance.archive_file, "archive_record_id": provenance.archive_record_id,
        "content_hash": digest,
    }, replace=True)


def merge_documents(db, old_id: str, new_id: str, at: str, reason: str) -> None:
    """Fold document `old_id` into `new_id`; the old id lives on as a redirect."""
    for table, column in (("identifiers", "document_id"), ("document_sources", "document_id"),
                          ("citations", "citing_id"), ("citations", "cited_id"),
                          ("document_links", "from_id")):
        db.execute(f"UPDATE OR IGNORE {table} SET {column} = ? WHERE {column} = ?", [new_id, old_id])
        db.execute(f"DELETE FROM {table} WHERE {column} = ?", [old_id])
    has_authors = db.execute("SELECT 1 FROM document_authors WHERE document_id = ?", [new_id]).fetchone()
    if not has_authors:
        db.execute("UPDATE document_authors SET document_id = ? WHERE document_id = ?", [new_id, old_id])
    db.execute("DELETE FROM document_authors WHERE document_id = ?", [old_id])
    db.execute("UPDATE document_links SET to_id = ? WHERE to_id = ?", [new_id, old_id])
    db.execute("UPDATE work_references SET cited_id = ? WHERE cited_id = ?", [new_id, old_id])
    db.execute("UPDATE OR IGNORE work_references SET citing_id = ? WHERE citing_id = ?", [new_id, old_id])
    db.execute("DELETE FROM work_references WHERE citing_id = ?", [old_id])
    db.execute("UPDATE OR IGNORE document_mesh SET document_id = ? WHERE document_id = ?", [new_id, old_id])
    db.execute("DELETE FROM document_mesh WHERE document_id = ?", [old_id])
    old = db["documents"].get(old_id)
    new = db["documents"].get(new_id)
    fill = {k: old[k] for k in DOCUMENT_FIELDS if new[k] is None and old[k] is not None}
    fill["first_seen"] = min(old["first_seen"], new["first_seen"])
    fill["last_seen"] = max(old["last_seen"], new["last_seen"])
    db["documents"].update(new_id, fill)
    db.execute("DELETE FROM documents WHERE id = ?", [old_id])
    db.execute("UPDATE redirects SET new_id = ? WHERE new_id = ?", [new_id, old_id])
    db["redirects"].insert({"old_id": old_id, "new_id": new_id, "reason": reason, "merged_at": at},
                           replace=True)


def find_document(db, scheme: str, value: str) -> str | None:
    """The present id of the document holding identifier scheme:value, if any."""
    row = db.execute("SELECT document_id FROM identifiers WHERE scheme = ? AND value = ?",
                     [scheme, value]).fetchone()
    return current_id(db, row[0]) if row else None


def save_references(db, citing_id: str, references: list[dict], source: str) -> None:
    """A work's reference list from one source, every reference a row; those that resolve to a
    corpus document are citations too."""
    db.execute("DELETE FROM work_references WHERE citing_id = ? AND source = ?", [citing_id, source])
    for position, reference in enumerate(clean(references), start=1):
        cited = find_document(db, "doi", reference["doi"]) if reference["doi"] else None
        db["work_references"].insert({
            "citing_id": citing_id, "source": source, "position": position, "doi": reference["doi"],
            "title": reference["title"], "year": reference["year"], "cited_id": cited})
        if cited and cited != citing_id:
            save_citation(db, citing_id, cited, method=f"{source} reference list")


def save_citation(db, citing_id: str, cited_id: str, method: str, context: str | None = None) -> bool:
    """Record that one document cites another; True if the link is new."""
    before = db.execute("SELECT context FROM citations WHERE citing_id = ? AND cited_id = ?",
                        [citing_id, cited_id]).fetchone()
    if before is not None and before[0] == context:
        return False
    db["citations"].insert({"citing_id": citing_id, "cited_id": cited_id, "method": method,
                            "context": context}, replace=True)
    return before is None


def set_body(db, document_id: str, body: str, source: str) -> None:
    """Store a document's full text (from an open-access source), keeping its hash and field
    sources true, so the tagger reads it on its next run. The body is normalised like every
    stored text (harvest.text)."""
    body = normalised(body)
    current = db["documents"].get(document_id)
    if current["body"] == body:
        return
    sources = json.loads(current["field_sources"] or "{}")
    sources["body"] = source
    db["documents"].update(document_id, {"body": body, "field_sources": json.dumps(sources, sort_keys=True),
                                         "content_hash": _document_hash({**current, "body": body})})
