"""The database schema and its explicit, versioned migrations.

`PRAGMA user_version` holds the number of migrations applied; opening a database applies the
missing ones in order, each in its own transaction, so an older database is upgraded in place.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils


def _core(db: sqlite_utils.Database) -> None:
    """Documents and their identity: permanent ids, identifiers, redirects, authors."""
    db.execute("""
        CREATE TABLE documents (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            title TEXT,
            abstract TEXT,
            body TEXT,
            url TEXT,
            venue TEXT,
            venue_abbrev TEXT,
            volume TEXT,
            issue TEXT,
            pages TEXT,
            publisher TEXT,
            published TEXT,
            year INTEGER,
            language TEXT,
            licence TEXT,
            publication_types TEXT,
            keywords TEXT,
            study_design TEXT,
            relevance TEXT,
            retracted INTEGER NOT NULL DEFAULT 0,
            unverified_fields TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            content_hash TEXT
        )""")
    db.execute("""
        CREATE TABLE identifiers (
            scheme TEXT NOT NULL,
            value TEXT NOT NULL,
            document_id TEXT NOT NULL REFERENCES documents(id),
            PRIMARY KEY (scheme, value)
        )""")
    db.execute("CREATE INDEX identifiers_document ON identifiers(document_id)")
    db.execute("""
        CREATE TABLE redirects (
            old_id TEXT PRIMARY KEY,
            new_id TEXT NOT NULL REFERENCES documents(id),
            reason TEXT,
            merged_at TEXT
        )""")
    db.execute("""
        CREATE TABLE authors (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            last_name TEXT,
            fore_name TEXT,
            initials TEXT,
            collective_name TEXT,
            orcid TEXT
        )""")
    db.execute("""
        CREATE TABLE document_authors (
            document_id TEXT NOT NULL REFERENCES documents(id),
            position INTEGER NOT NULL,
            author_id TEXT NOT NULL REFERENCES authors(id),
            role TEXT NOT NULL DEFAULT 'author',
            affiliations TEXT,
            PRIMARY KEY (document_id, role, position)
        )""")
    db.execute("CREATE INDEX document_authors_author ON document_authors(author_id)")
    db.execute("""
        CREATE TABLE document_mesh (
            document_id TEXT NOT NULL REFERENCES documents(id),
            descriptor TEXT NOT NULL,
            descriptor_ui TEXT,
            major INTEGER NOT NULL DEFAULT 0,
            qualifiers TEXT,
            PRIMARY KEY (document_id, descriptor)
        )""")
    db.execute("""
        CREATE TABLE citations (
            citing_id TEXT NOT NULL REFERENCES documents(id),
            cited_id TEXT NOT NULL REFERENCES documents(id),
            method TEXT NOT NULL,
            context TEXT,
            PRIMARY KEY (citing_id, cited_id)
        )""")


def _provenance(db: sqlite_utils.Database) -> None:
    """Where each document was seen, and what each harvest run did."""
    db.execute("""
        CREATE TABLE document_sources (
            document_id TEXT NOT NULL REFERENCES documents(id),
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            url TEXT,
            first_fetched TEXT NOT NULL,
            last_fetched TEXT NOT NULL,
            archive_file TEXT,
            archive_record_id TEXT,
            content_hash TEXT,
            PRIMARY KEY (document_id, source, source_id)
        )""")
    db.execute("""
        CREATE TABLE harvest_runs (
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            started TEXT NOT NULL,
            finished TEXT,
            status TEXT NOT NULL,
            parameters TEXT,
            found INTEGER NOT NULL DEFAULT 0,
            added INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            cursor TEXT,
            archive_file TEXT,
            error TEXT
        )""")


def _search(db: sqlite_utils.Database) -> None:
    """Full-text search over titles and abstracts, kept in step by triggers."""
    db["documents"].enable_fts(["title", "abstract"], fts_version="FTS5", create_triggers=True,
                               tokenize="porter unicode61 remove_diacritics 2", replace=True)
    db["documents_fts"].rebuild_fts()


def _tags(db: sqlite_utils.Database) -> None:
    """Themes, entities and the evidence sentences behind them; curators' corrections."""
    db.execute("""
        CREATE TABLE themes (
            id TEXT PRIMARY KEY,
            label TEXT NOT NULL,
            definition TEXT
        )""")
    db.execute("""
        CREATE TABLE document_themes (
            document_id TEXT NOT NULL REFERENCES documents(id),
            theme TEXT NOT NULL REFERENCES themes(id),
            score REAL,
            method TEXT NOT NULL,
            pipeline_version TEXT,
            curator TEXT,
            reason TEXT,
            PRIMARY KEY (document_id, theme)
        )""")
    db.execute("CREATE INDEX document_themes_theme ON document_themes(theme)")
    db.execute("""
        CREATE TABLE entities (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            name TEXT NOT NULL,
            aliases TEXT
        )""")
    db.execute("""
        CREATE TABLE document_entities (
            document_id TEXT NOT NULL REFERENCES documents(id),
            entity_id TEXT NOT NULL REFERENCES entities(id),
            mentions INTEGER NOT NULL,
            PRIMARY KEY (document_id, entity_id)
        )""")
    db.execute("CREATE INDEX document_entities_entity ON document_entities(entity_id)")
    db.execute("""
        CREATE TABLE evidence (
            id INTEGER PRIMARY KEY,
            document_id TEXT NOT NULL REFERENCES documents(id),
            theme TEXT REFERENCES themes(id),
            entity_id TEXT REFERENCES entities(id),
            field TEXT NOT NULL,
            sentence TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            matched TEXT,
            rule TEXT NOT NULL,
            negated INTEGER NOT NULL DEFAULT 0,
            hedged INTEGER NOT NULL DEFAULT 0,
            pipeline_version TEXT
        )""")
    db.execute("CREATE INDEX evidence_document ON evidence(document_id)")
    db.execute("""
        CREATE TABLE theme_curations (
            document_id TEXT NOT NULL REFERENCES documents(id),
            theme TEXT NOT NULL,
            action TEXT NOT NULL,
            curator TEXT,
            reason TEXT,
            PRIMARY KEY (document_id, theme)
        )""")
    for column in ("relevance_reason", "study_design_source", "tagged_version", "tagged_hash"):
        db.execute(f"ALTER TABLE documents ADD COLUMN {column} TEXT")


def _references(db: sqlite_utils.Database) -> None:
    """Reference lists (resolved or not), typed links between works (a preprint and its
    published version stay two documents), which source set each field, and run notes."""
    db.execute("""
        CREATE TABLE work_references (
            citing_id TEXT NOT NULL REFERENCES documents(id),
            source TEXT NOT NULL,
            position INTEGER NOT NULL,
            doi TEXT,
            title TEXT,
            year TEXT,
            cited_id TEXT REFERENCES documents(id),
            PRIMARY KEY (citing_id, source, position)
        )""")
    db.execute("CREATE INDEX work_references_doi ON work_references(doi)")
    db.execute("""
        CREATE TABLE document_links (
            from_id TEXT NOT NULL REFERENCES documents(id),
            relation TEXT NOT NULL,
            to_doi TEXT NOT NULL,
            to_id TEXT REFERENCES documents(id),
            source TEXT NOT NULL,
            PRIMARY KEY (from_id, relation, to_doi)
        )""")
    db.execute("CREATE INDEX document_links_doi ON document_links(to_doi)")
    db.execute("ALTER TABLE documents ADD COLUMN field_sources TEXT")
    db.execute("ALTER TABLE harvest_runs ADD COLUMN notes TEXT")


def _news(db: sqlite_utils.Database) -> None:
    """News: how a page's extraction went, wire copies grouped into stories, incidents with their
    reports, curated or machine-matched, and search that reaches the article text."""
    for column in ("extraction_status", "extraction_reason", "story_id"):
        db.execute(f"ALTER TABLE documents ADD COLUMN {column} TEXT")
    db.execute("ALTER TABLE documents ADD COLUMN story_similarity REAL")
    db.execute("CREATE INDEX documents_story ON documents(story_id)")
    db["documents"].disable_fts()
    db["documents"].enable_fts(["title", "abstract", "body"], fts_version="FTS5", create_triggers=True,
                               tokenize="porter unicode61 remove_diacritics 2", replace=True)
    db["documents_fts"].rebuild_fts()
    db.execute("""
        CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            summary TEXT,
            event_date TEXT,
            first_reported TEXT,
            location TEXT,
            products TEXT,
            companies TEXT,
            harms TEXT,
            age_group TEXT,
            outcome TEXT,
            status TEXT NOT NULL,
            method TEXT NOT NULL,
            curator TEXT
        )""")
    db.execute("""
        CREATE TABLE incident_documents (
            incident_id TEXT NOT NULL REFERENCES incidents(id),
            document_id TEXT NOT NULL REFERENCES documents(id),
            role TEXT NOT NULL,
            method TEXT NOT NULL,
            score REAL,
            reason TEXT,
            PRIMARY KEY (incident_id, document_id)
        )""")
    db.execute("CREATE INDEX incident_documents_document ON incident_documents(document_id)")
    db.execute("""
        CREATE TABLE incident_redirects (
            old_id TEXT PRIMARY KEY,
            new_id TEXT NOT NULL,
            reason TEXT
        )""")
    db.execute("""
        CREATE TABLE incident_candidates (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            products TEXT,
            harms TEXT,
            first_reported TEXT,
            document_ids TEXT NOT NULL,
            score REAL NOT NULL,
            reason TEXT NOT NULL
        )""")
    db["incidents"].enable_fts(["title", "summary", "location", "products", "companies", "harms", "outcome"],
                               fts_version="FTS5", create_triggers=True,
                               tokenize="porter unicode61 remove_diacritics 2", replace=True)
    db.execute("""
        CREATE VIEW incident_timeline AS
        SELECT i.id AS incident_id, i.title AS incident, d.published AS date, l.role, d.kind,
               d.title, d.venue AS outlet, d.url, l.method, d.id AS document_id
        FROM incident_documents l JOIN incidents i ON i.id = l.incident_id
        JOIN documents d ON d.id = l.document_id
        ORDER BY i.id, d.published""")


def _versions(db: sqlite_utils.Database) -> None:
    """Guidance and legislation: every version of a text or a bill's status, watched pages with
    their HTTP validators, bills' action histories, and the changes view."""
    for column in ("jurisdiction", "legislative_session", "bill_identifier", "bill_status",
                   "page_status", "page_status_reason"):
        db.execute(f"ALTER TABLE documents ADD COLUMN {column} TEXT")
    db.execute("""
        CREATE TABLE document_versions (
            document_id TEXT NOT NULL REFERENCES documents(id),
            version INTEGER NOT NULL,
            fetched_at TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            text TEXT,
            diff TEXT,
            change TEXT,
            url TEXT,
            archive_file TEXT,
            archive_record_id TEXT,
            PRIMARY KEY (document_id, version)
        )""")
    db.execute("""
        CREATE TABLE watched_pages (
            url TEXT PRIMARY KEY,
            organisation TEXT,
            document_id TEXT REFERENCES documents(id),
            etag TEXT,
            last_modified TEXT,
            final_url TEXT
        )""")
    db.execute("""
        CREATE TABLE bill_actions (
            document_id TEXT NOT NULL REFERENCES documents(id),
            position INTEGER NOT NULL,
            date TEXT,
            description TEXT,
            organisation TEXT,
            classification TEXT,
            url TEXT,
            PRIMARY KEY (document_id, position)
        )""")
    db.execute("""
        CREATE VIEW changes AS
        SELECT v.document_id, d.kind, d.title, coalesce(d.venue, d.jurisdiction) AS source_of_text,
               v.version, v.fetched_at AS changed_at, v.change, p.content_hash AS old_hash,
               v.content_hash AS new_hash, v.url,
               '/corpus/document_versions/' || v.document_id || ',' || v.version AS diff_page
        FROM document_versions v JOIN documents d ON d.id = v.document_id
        LEFT JOIN document_versions p ON p.document_id = v.document_id AND p.version = v.version - 1
        WHERE v.version > 1
        ORDER BY v.fetched_at DESC""")


def _graph(db: sqlite_utils.Database) -> None:
    """Facets by theme and product on documents, and the evidence graph with its metrics."""
    for column in ("themes", "products"):
        db.execute(f"ALTER TABLE documents ADD COLUMN {column} TEXT")
    for column in ("published", "first_seen", "kind", "year", "study_design"):  # sorts and facets of big tables
        db.execute(f"CREATE INDEX IF NOT EXISTS documents_{column} ON documents({column})")
    for table, column in (("citations", "cited_id"), ("work_references", "cited_id"), ("document_links", "to_id"),
                          ("redirects", "new_id")):  # "cited by" and the row page's links from other tables
        db.execute(f"CREATE INDEX IF NOT EXISTS {table}_{column} ON {table}({column})")
    db.execute("""
        CREATE TABLE graph_nodes (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            label TEXT,
            ref_table TEXT NOT NULL,
            ref_id TEXT NOT NULL,
            degree INTEGER,
            weighted_degree REAL,
            pagerank REAL,
            community INTEGER
        )""")
    db.execute("""
        CREATE TABLE graph_edges (
            source TEXT NOT NULL REFERENCES graph_nodes(id),
            target TEXT NOT NULL REFERENCES graph_nodes(id),
            type TEXT NOT NULL,
            weight REAL NOT NULL,
            origin_table TEXT NOT NULL,
            origin_rows TEXT NOT NULL,
            PRIMARY KEY (source, target, type)
        )""")
    db.execute("CREATE INDEX graph_edges_target ON graph_edges(target)")


def _name_suffixes(db: sqlite_utils.Database) -> None:
    """Authors keep a generational suffix (Jr, 3rd) apart from their names, for citations."""
    db.execute("ALTER TABLE authors ADD COLUMN suffix TEXT")


def _feed_validators(db: sqlite_utils.Database) -> None:
    """A feed's HTTP validators from its last full answer, so the next run asks conditionally."""
    db.execute("CREATE TABLE feed_validators (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, "
               "fetched TEXT)")


# Columns of `documents` that tag, incidents or graph read or that tagging writes: a change to any of
# them (by value, so re-saving an unchanged record does not count) moves the `documents` counter.
DERIVE_COLUMNS = ("kind", "title", "abstract", "body", "url", "published", "publication_types",
                  "unverified_fields", "content_hash", "story_id", "retracted", "relevance", "study_design",
                  "tagged_version", "tagged_hash", "themes", "products")
# derive_counters name -> the tables whose every insert, update or delete moves it
COUNTED_TABLES = {"links": ("citations", "document_links", "redirects", "identifiers"),
                  "vocabulary": ("themes", "entities", "theme_curations"),
                  "incidents": ("incidents", "incident_documents", "incident_redirects", "incident_candidates")}


def _bump(name: str) -> str:
    return f"UPDATE derive_counters SET value = value + 1 WHERE name = '{name}';"


def _derive_markers(db: sqlite_utils.Database) -> None:
    """Only the work that is needed: change counters kept by triggers, and what each derivation
    (tag, incidents, graph) was last computed from; the nightly run's bookkeeping tables (until now
    made on first use) and the indexes the tagger's writes need.

    derive_counters  name (documents, links, vocabulary, incidents) -> a number that every write to
                     what it names moves on; O(1) to read, so an unchanged corpus is seen at once
    derive_changes   document id -> the `documents` counter's value when its row last changed
                     (DERIVE_COLUMNS), indexed by it: "documents changed since N" reads only those
    derive_markers   step -> the inputs it was computed from (JSON: counters, file digests, versions)
    """
    db.execute("CREATE TABLE derive_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    db.execute("INSERT INTO derive_counters VALUES ('documents', 0), ('links', 0), ('vocabulary', 0), "
               "('incidents', 0)")
    db.execute("CREATE TABLE derive_markers (step TEXT PRIMARY KEY, inputs TEXT NOT NULL, computed TEXT NOT NULL)")
    db.execute("CREATE TABLE derive_changes (document_id TEXT PRIMARY KEY, seq INTEGER NOT NULL)")
    db.execute("CREATE INDEX derive_changes_seq ON derive_changes(seq)")
    # (a separate table: updating the documents row from its own trigger would upset the FTS triggers)
    stamp = ("INSERT OR REPLACE INTO derive_changes VALUES (NEW.id, "
             "(SELECT value FROM derive_counters WHERE name = 'documents'));")
    differs = " OR ".join(f'OLD."{c}" IS NOT NEW."{c}"' for c in ("id",) + DERIVE_COLUMNS)
    db.execute(f"CREATE TRIGGER documents_derive_insert AFTER INSERT ON documents BEGIN {_bump('documents')} "
               f"{stamp} END")
    db.execute(f"CREATE TRIGGER documents_derive_update AFTER UPDATE ON documents WHEN {differs} BEGIN "
               f"{_bump('documents')} {stamp} END")
    db.execute(f"CREATE TRIGGER documents_derive_delete AFTER DELETE ON documents BEGIN {_bump('documents')} "
               f"DELETE FROM derive_changes WHERE document_id = OLD.id; END")
    for name, tables in COUNTED_TABLES.items():
        for table in tables:
            for event in ("INSERT", "UPDATE", "DELETE"):
                db.execute(f"CREATE TRIGGER {table}_derive_{event.lower()} AFTER {event} ON {table} "
                           f"BEGIN {_bump(name)} END")
    # a replaced vocabulary row checked every evidence row for references: index them
    db.execute("CREATE INDEX IF NOT EXISTS evidence_theme ON evidence(theme)")
    db.execute("CREATE INDEX IF NOT EXISTS evidence_entity ON evidence(entity_id)")
    # the default views read relevant documents only: counting them scanned the whole table
    db.execute("CREATE INDEX IF NOT EXISTS documents_relevance ON documents(relevance)")
    # the nightly run's and the releases' bookkeeping (older databases made these on first use)
    _create_or_complete(db, "nightly_runs", """CREATE TABLE nightly_runs (
        id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
        exit_code INTEGER, since TEXT, before TEXT, derived_fingerprint TEXT, digest TEXT)""")
    _create_or_complete(db, "nightly_steps", """CREATE TABLE nightly_steps (
        nightly_id TEXT NOT NULL REFERENCES nightly_runs(id), step TEXT NOT NULL, position INTEGER,
        status TEXT NOT NULL, started TEXT, finished TEXT, seconds REAL, harvest_run_ids TEXT,
        rows_written INTEGER, message TEXT, PRIMARY KEY (nightly_id, step))""")
    _create_or_complete(db, "releases", """CREATE TABLE releases (released TEXT NOT NULL, folder TEXT NOT NULL,
        documents INTEGER NOT NULL, relevant INTEGER NOT NULL, forced INTEGER NOT NULL)""")


def _create_or_complete(db: sqlite_utils.Database, table: str, create: str) -> None:
    """Create `table`, or, where an older program already made it, add the columns it lacks."""
    have = {row[1] for row in db.execute(f"PRAGMA table_info([{table}])")}
    if not have:
        db.execute(create)
        return
    scratch = sqlite3.connect(":memory:")
    scratch.execute(create)
    for _, name, kind, *_ in scratch.execute(f"PRAGMA table_info([{table}])").fetchall():
        if name not in have:
            db.execute(f"ALTER TABLE [{table}] ADD COLUMN [{name}] {kind}")
    scratch.close()


MIGRATIONS = [_core, _provenance, _search, _tags, _references, _news, _versions, _graph, _name_suffixes,
              _feed_validators, _derive_markers]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: str | Path, migrate: bool = True, upto: int | None = None) -> sqlite_utils.Database:
    """Open (creating if needed) the corpus database in WAL mode and bring its schema up to date."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    db = sqlite_utils.Database(conn)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    if migrate:
        apply_migrations(db, upto)
    return db


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def apply_migrations(db: sqlite_utils.Database, upto: int | None = None) -> list[str]:
    """Apply the missing migrations in order; returns the names of those applied."""
    target = SCHEMA_VERSION if upto is None else upto
    current = schema_version(db)
    if current > SCHEMA_VERSION:
        raise RuntimeError(f"database schema version {current} is newer than this program "
                           f"understands ({SCHEMA_VERSION}); upgrade the harvest package")
    applied = []
    for number in range(current, target):
        migration = MIGRATIONS[number]
        with transaction(db):
            migration(db)
            db.execute(f"PRAGMA user_version = {number + 1}")
        applied.append(migration.__name__.strip("_"))
    return applied


def file_of(conn: sqlite3.Connection) -> str:
    """The file a sqlite3 connection's main database is ("" for an in-memory one)."""
    return next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "") or ""


def query_rows(conn, sql: str, params=()) -> list[dict]:
    """Rows as dicts, from a sqlite3 connection or a sqlite_utils Database (the Datasette plugins
    get the former, harvest code the latter)."""
    cursor = conn.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


class transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error: nothing half-written survives."""

    def __init__(self, db: sqlite_utils.Database):
        self.conn = db.conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
