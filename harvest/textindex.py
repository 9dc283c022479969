"""The search page's text index on a large corpus: a Tantivy index (a folder beside the database,
`corpus.db` -> `corpus.db.search/`) that finds, counts, filters, ranks (top-k, block-max pruning)
and counts facets in Rust, so a broad word over a million documents answers in tens of
milliseconds where SQLite FTS5 must read and score every match.

It answers what `harvest.search` asks of FTS5 (the same documents, except where the two
stemmers below differ), from the same parsed query (`parse_query`;
words with their synonyms, "phrases", prefixes, OR, exclusions): title, abstract and body text
tokenized as FTS5's `porter unicode61 remove_diacritics 2` does (words of letters and digits,
lower case, accents folded, English stemming: Tantivy's Snowball English, the successor of the
Porter stemmer FTS5 uses; the two stem a few rare words differently), and the facts the page filters
and counts by (kind, relevance, year, date, study design, outlet, themes, products,
jurisdictions), copied from the `SearchIndex` of the same database version. Past EXACT_UNDER
estimated matches, the total and the facet counts are estimated from samples (`TextIndex.counts`).

The index records what it was built from (`fingerprint`: a digest of those facts and the
database's `documents` change counter, or the file's size and time on a database without one);
`harvest.search` uses it only when that matches the database it serves, and otherwise falls back
to FTS5, so a stale or missing index makes a search slower, never wrong. Built by
`harvest search-index DB` and, when missing or stale on a corpus of more than BUILD_AT documents,
by `harvest serve` on a thread of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np

from .db import file_of

FORMAT = 5  # the schema below; an index of another format is rebuilt
BUILD_AT = 50_000  # documents: a smaller corpus is searched with FTS5 alone
FIELDS = {"title": 10.0, "abstract": 3.0, "body": 1.0}  # bm25 weights, as harvest.search gives FTS5
CODED = ("kind", "relevance", "design", "venue", "theme", "product", "jurisdiction")
SAMPLES = 64  # every document is in one of 64 samples (`sample_of` its rowid)
LEVELS = (1, 2, 4, 8, 16, 32)  # a document is indexed `within` each level above its sample: one posting list a share
EXACT_UNDER = 50_000  # matches (estimated from one sample): fewer are counted exactly, more on samples
SAMPLE_TARGET = 20_000  # matches a sampled count reads (about)
SCOPE_CODES = {"relevant": 0, "related": 1}  # a document's narrowest scope (relevant or not judged: 0); others 2
UNDATED_LAST = 99_999_999  # the `oldest` sort key of an undated document


RUN = 1024  # consecutive rowids that share a sample


def sample_of(rowid: int) -> int:
    """The sample (0 to SAMPLES - 1) a rowid belongs to: runs of RUN consecutive rowids share one,
    chosen by a multiplicative hash of the run's number, so that each sample is spread over the
    whole corpus (old documents and new alike) while a sampled count reads whole runs of
    neighbouring documents (a phrase is then checked only inside them, not between them)."""
    return (((rowid // RUN) * 0x9E3779B97F4A7C15) % 2**64) >> 58


def directory_for(database: str | os.PathLike) -> Path:
    """Where the index of the database file at `database` lives: `<file>.search/` beside it."""
    return Path(str(database) + ".search")


def _analyzer(stem: bool):
    import tantivy
    builder = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.remove_long(255))
               .filter(tantivy.Filter.lowercase()).filter(tantivy.Filter.ascii_fold()))
    if stem:
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


def _schema():
    import tantivy
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("rowid", stored=False, indexed=True, fast=True)
    for name in FIELDS:
        builder.add_text_field(name, stored=False, tokenizer_name="harvest", index_option="position")
    for name in CODED:  # the SearchIndex's code of the value + 1 (0: none); themes, products, jurisdictions: several
        builder.add_unsigned_field(name, stored=False, indexed=True, fast=True)
    builder.add_unsigned_field("scope", stored=False, indexed=True, fast=False)  # SCOPE_CODES
    builder.add_unsigned_field("within", stored=False, indexed=True, fast=False)  # each of LEVELS above sample_of(rowid)
    for name in ("year", "date", "date_oldest"):
        builder.add_integer_field(name, stored=False, indexed=True, fast=True)
    return builder.build()


def _open_index(path: Path):
    import tantivy
    index = tantivy.Index(_schema(), path=str(path), reuse=True)
    index.register_tokenizer("harvest", _analyzer(stem=True))
    return index


def text_marker(conn) -> list:
    """What says the indexed text changed: the `documents` change counter (moved by every insert,
    delete and change of title, abstract or body: harvest.db's derive_counters) with the number of
    documents and the largest rowid; on a database without counters, also the file's size and time."""
    count, largest = conn.execute("SELECT count(*), max(rowid) FROM documents").fetchone()
    try:
        counter = conn.execute("SELECT value FROM derive_counters WHERE name = 'documents'").fetchone()
    except Exception:  # noqa: BLE001 - an older schema: no counters
        counter = None
    if counter is not None:
        return [count, largest, counter[0]]
    path = file_of(conn)
    stamps = []
    for name in (path, f"{path}-wal"):
        try:
            found = os.stat(name)
            stamps.append([found.st_size, found.st_mtime_ns] if found.st_size else [])
        except (FileNotFoundError, TypeError):
            stamps.append([])
    return [count, largest, None, stamps]


def facts_digest(facts) -> str:
    """A digest of every fact of a SearchIndex that the text index copies (ids, rowids, codes and labels)."""
    digest = hashlib.sha256()
    for array in (facts.position, facts.kind, facts.year, facts.design, facts.venue, facts.date, facts.relevance,
                  facts.theme_doc, facts.theme, *[facts.entity_doc[k] for k in ("product", "jurisdiction")],
                  *[facts.entity[k] for k in ("product", "jurisdiction")]):
        digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(b"|")
    labels = [facts.kinds, facts.designs, facts.venues, facts.relevances, facts.themes,
              facts.entities["product"], facts.entities["jurisdiction"]]
    digest.update(json.dumps(labels, default=str).encode())
    digest.update("\n".join(map(str, facts.ids)).encode())
    return digest.hexdigest()


def fingerprint(conn, facts) -> dict:
    """What an index built now from `conn` and its SearchIndex `facts` would record: read once per
    SearchIndex (which is itself built once per version of the database file)."""
    found = getattr(facts, "_text_fingerprint", None)
    if found is None:
        found = {"format": FORMAT, "text": text_marker(conn), "facts": facts_digest(facts)}
        facts._text_fingerprint = found
    return found


def build(conn, facts, directory: Path | None = None, heap_mb: int = 256) -> Path:
    """Build the text index of the database `conn` reads (its SearchIndex given as `facts`) into
    `directory` (default: `directory_for` the database), replacing an older one only when the new
    one is complete. Returns the directory. Raises ValueError for an in-memory database."""
    import tantivy
    path = file_of(conn)
    if directory is None:
        if not path:
            raise ValueError("an in-memory database has no place for a text index: give a directory")
        directory = directory_for(path)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} is a file, not a text index folder: move it away")
    made_from = fingerprint(conn, facts)
    partial = directory.with_name(directory.name + f".building-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    index = _open_index(partial)
    writer = index.writer(heap_mb * 2**20, 1)
    multi = {"theme": (facts.theme_doc, facts.theme)}
    for kind in ("product", "jurisdiction"):
        multi[kind] = (facts.entity_doc[kind], facts.entity[kind])
    values: dict[str, dict[int, list]] = {}
    for name, (doc, codes) in multi.items():
        found: dict[int, list] = {}
        for position, code in zip(doc.tolist(), codes.tolist()):
            if position >= 0 and code >= 0:
                found.setdefault(position, []).append(code + 1)
        values[name] = found
    single = {"kind": facts.kind, "relevance": facts.relevance, "design": facts.design, "venue": facts.venue}
    scope_of = {n: SCOPE_CODES.get(label, 2) for n, label in enumerate(facts.relevances)}
    for rowid, title, abstract, body in conn.execute("SELECT rowid, title, abstract, body FROM documents ORDER BY rowid"):
        position = int(facts.position[rowid]) if rowid < len(facts.position) else -1
        if position < 0:
            continue  # added after the facts were read: the fingerprint will not match, the index is not used
        date = int(facts.date[position])
        document = tantivy.Document()
        document.add_unsigned("rowid", rowid)
        for level in LEVELS:
            if sample_of(rowid) < level:
                document.add_unsigned("within", level)
        document.add_integer("year", int(facts.year[position]))
        document.add_integer("date", date)
        document.add_integer("date_oldest", date if date >= 0 else UNDATED_LAST)
        for name, text in (("title", title), ("abstract", abstract), ("body", body)):
            if text:
                document.add_text(name, text)
        for name, codes in single.items():
            document.add_unsigned(name, int(codes[position]) + 1)
        relevance = int(facts.relevance[position])
        document.add_unsigned("scope", 0 if relevance < 0 else scope_of[relevance])
        for name, found in values.items():
            for value in found.get(position, ()):
                document.add_unsigned(name, value)
        writer.add_document(document)
    writer.commit()
    writer.wait_merging_threads()
    (partial / "harvest.json").write_text(json.dumps(made_from))
    old = directory.with_name(directory.name + f".old-{os.getpid()}-{threading.get_ident()}")
    if directory.exists():
        directory.rename(old)
    partial.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def recorded(directory: Path) -> dict | None:
    """The fingerprint an index folder records, or None (no index, or not a complete one)."""
    try:
        return json.loads((Path(directory) / "harvest.json").read_text())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


VOWELS = frozenset("aeiouy")


def acronym_forms(word: str) -> list[str]:
    """The other number of an acronym (LLM <-> LLMs, RCT <-> RCTs): FTS5's Porter stemmer reads
    both as one word, the index's Snowball stemmer keeps the s of a word with no vowel before it,
    so a query for one asks for the other too."""
    lower = word.lower()
    if not lower.isalpha() or len(lower) < 2:
        return []
    if lower.endswith("s") and len(lower) > 2 and not VOWELS & set(lower[:-1]):
        return [word[:-1]]
    if not VOWELS & set(lower):
        return [word + "s"]
    return []


class TextIndex:
    """An opened text index: `search` and `ordered_rowids` for the search page and its exports."""

    def __init__(self, directory: Path):
        import tantivy
        self.directory = Path(directory)
        self.fingerprint = recorded(self.directory)
        self.index = _open_index(self.directory)
        self.schema = self.index.schema
        self.searcher = self.index.searcher()
        self._stemmed = _analyzer(stem=True)
        self._tantivy = tantivy

    # -- the query --------------------------------------------------------------------------
    def _unit(self, term, text: str, fields) -> object | None:
        """One alternative (a word or quoted text: a phrase of its tokens; a prefix) over `fields`,
        each weighted as FTS5's bm25 weights them; None when it holds no token."""
        Q, Occur = self._tantivy.Query, self._tantivy.Occur
        tokens = self._stemmed.analyze(text)  # a prefix too: FTS5 stems the text before its `*`
        if not tokens:
            return None
        per_field = []
        for field in fields:
            if term.kind == "prefix" and len(tokens) > 1:
                query = Q.phrase_prefix_query(self.schema, field, tokens)
            elif term.kind == "prefix":
                query = Q.regex_query(self.schema, field, _regex_escape(tokens[0]) + ".*")
            elif len(tokens) == 1:
                query = Q.term_query(self.schema, field, tokens[0], index_option="freq")
            else:
                query = Q.phrase_query(self.schema, field, tokens)
            per_field.append((Occur.Should, Q.boost_query(query, FIELDS[field])))
        return per_field[0][1] if len(per_field) == 1 else Q.boolean_query(per_field)

    def _clause(self, clause, synonyms, fields) -> object | None:
        Q, Occur = self._tantivy.Query, self._tantivy.Occur
        units = []
        for term in clause:
            texts = [term.text] if term.kind != "word" else list(synonyms.get(term.text.lower(), (term.text,)))
            if term.kind == "word":
                texts += [form for text in texts for form in acronym_forms(text)]
            for text in dict.fromkeys(texts):
                unit = self._unit(term, text, fields)
                if unit is not None:
                    units.append((Occur.Should, unit))
        if not units:
            return None
        return units[0][1] if len(units) == 1 else Q.boolean_query(units)

    def text_query(self, clauses, synonyms) -> tuple[object | None, object | None]:
        """(the query of every document matching, the query of those whose title matches every
        required clause) for parsed clauses; (None, None) when nothing is left to look for."""
        Q, Occur = self._tantivy.Query, self._tantivy.Occur
        required, title, excluded = [], [], []
        for clause in clauses:
            whole = self._clause(clause, synonyms, FIELDS)
            if whole is None:
                if not clause[0].excluded:
                    return None, None  # FTS5: an empty quoted string matches nothing
                continue
            if clause[0].excluded:
                excluded.append((Occur.MustNot, whole))
            else:
                required.append((Occur.Must, whole))
                title.append((Occur.Must, self._clause(clause, synonyms, ["title"])))
        if not required:
            return None, None
        return Q.boolean_query(required + excluded), Q.boolean_query(title + excluded)

    def filter_query(self, facts, request) -> list:
        """The request's scope and filters as (Occur.Must, query) pairs: the codes of the values
        `SearchIndex.keep` would keep (the same matching of names and labels)."""
        from harvest.search import DESIGN_LABELS
        Q, Occur = self._tantivy.Query, self._tantivy.Occur
        integer = self._tantivy.FieldType.Integer
        found = []

        def one_of(field, codes):
            codes = sorted({int(c) + 1 for c in codes})  # stored as code + 1 (0: none)
            if not codes:
                return Occur.Must, Q.empty_query()
            if len(codes) == 1:
                return Occur.Must, Q.term_query(self.schema, field, codes[0])
            return Occur.Must, Q.term_set_query(self.schema, field, codes)
        if request.scope != "all":
            scopes = [0, 1] if request.scope == "related" else [0]
            found.append((Occur.Must, Q.term_query(self.schema, "scope", 0) if len(scopes) == 1
                          else Q.term_set_query(self.schema, "scope", scopes)))
        if request.kinds:
            found.append(one_of("kind", facts._matching(facts.kinds, request.kinds)))
        if request.themes:
            wanted = {t.lower() for t in request.themes}
            found.append(one_of("theme", [n for n, t in enumerate(facts.themes) if t.lower() in wanted
                                          or str(facts.theme_labels.get(t, "")).lower() in wanted]))
        if request.year_from:
            found.append((Occur.Must, Q.range_query(self.schema, "year", integer, lower_bound=request.year_from)))
        if request.year_to:
            found.append((Occur.Must, Q.range_query(self.schema, "year", integer, lower_bound=1, upper_bound=request.year_to)))
        if request.design in ("none", "not determined"):
            found.append(one_of("design", [-1]))
        elif request.design:
            code = next((c for c, label in DESIGN_LABELS.items() if request.design.lower() in (c, label.lower())), request.design)
            found.append(one_of("design", facts._matching(facts.designs, [code])))
        for kind in ("product", "jurisdiction"):
            if getattr(request, kind):
                found.append(one_of(kind, facts.entity_codes(kind, getattr(request, kind))))
        if request.outlet:
            found.append(one_of("venue", facts._matching(facts.venues, [request.outlet])))
        return found

    # -- answers ----------------------------------------------------------------------------
    def _const(self, filters) -> list:
        Q = self._tantivy.Query
        return [(occur, Q.const_score_query(query, 0.0)) for occur, query in filters]

    def _ordered(self, matching, title, filters, request, offset: int, limit: int) -> list:
        """DocAddresses of `limit` matches from `offset` in the request's order: by date, or the
        documents whose title matches first (by bm25 on the title), then the others (bm25 over
        title, abstract and body weighted 10, 3, 1), as harvest.search ranks with FTS5. Top-k
        searches: the title matches are read only as far as the page, the others only when the
        page reaches past the title matches."""
        Q, Occur, order = self._tantivy.Query, self._tantivy.Occur, self._tantivy.Order
        wanted = offset + limit
        if wanted <= 0:
            return []
        if request.sort in ("newest", "oldest"):
            query = Q.boolean_query([(Occur.Must, matching)] + self._const(filters))
            field, direction = ("date", order.Desc) if request.sort == "newest" else ("date_oldest", order.Asc)
            hits = self.searcher.search(query, limit, count=False, order_by_field=field, offset=offset, order=direction).hits
            return [address for _, address in hits]
        titled = self.searcher.search(Q.boolean_query([(Occur.Must, title)] + self._const(filters)), wanted, count=False).hits
        found = [address for _, address in titled]
        if len(found) < wanted:  # every title match is in `found`: the others follow
            rest = Q.boolean_query([(Occur.Must, matching), (Occur.MustNot, title)] + self._const(filters))
            found += [address for _, address in self.searcher.search(rest, wanted - len(found), count=False).hits]
        return found[offset:wanted]

    def search(self, facts, request, clauses, synonyms, offset: int, limit: int) -> tuple[int, list[int], dict, float | None]:
        """(documents matching, the rowids of `limit` of them from `offset` in the request's order,
        counts (see `counts`), the share of the matches counted: None when all were, else about
        SAMPLE_TARGET / matches, and the total and counts are estimates)."""
        matching, title = self.text_query(clauses, synonyms)
        if matching is None:
            return 0, [], {}, None
        filters = self.filter_query(facts, request)
        addresses = self._ordered(matching, title, filters, request, offset, limit)
        rowids = self.searcher.fast_field_values("rowid", addresses) if addresses else []
        total, counted, share = self.counts(facts, self._tantivy.Query.boolean_query([(self._tantivy.Occur.Must, matching)] + filters),
                                            self.estimate(facts, request, clauses, synonyms))
        return total, rowids, counted, share

    FACETS = ("kind", "theme", "design", "venue", "product", "jurisdiction", "year")

    def estimate(self, facts, request, clauses, synonyms) -> float:
        """About how many documents match, without reading a match: for each required clause, its
        alternatives' document frequencies added (a word or phrase: its rarest token, in the field
        where it is commonest; a prefix: every document), the smallest clause's, times the share of
        the corpus the request's scope and filters keep. Chooses between an exact and a sampled count."""
        documents = max(1, self.searcher.num_docs)
        smallest = documents
        for clause in clauses:
            if clause[0].excluded:
                continue
            found = 0
            for term in clause:
                texts = [term.text] if term.kind != "word" else list(synonyms.get(term.text.lower(), (term.text,)))
                for text in dict.fromkeys(texts):
                    tokens = self._stemmed.analyze(text)
                    if term.kind == "prefix" or not tokens:
                        found = documents
                    else:
                        found += max(min(self.searcher.doc_freq(field, token) for token in tokens) for field in FIELDS)
            smallest = min(smallest, found)
        return smallest * self.kept_share(facts, request)

    def kept_share(self, facts, request) -> float:
        """The share of all documents the request's scope and filters keep (remembered per filters)."""
        key = ("kept share", tuple(pair for pair in request.args(q="", page=1, sort="relevance") if pair[0] != "q"))
        found = facts.recall(key)
        if found is None:
            found = {"share": float(facts.keep(np.arange(facts.size), request).mean()) if facts.size else 0.0}
            facts.remember(key, found)
        return found["share"]

    @staticmethod
    def _years(facts) -> list:
        found = facts.recall(("years",))
        if found is None:
            found = {"years": np.unique(facts.year).tolist()}
            facts.remember(("years",), found)
        return found["years"]

    def counts(self, facts, query, estimate: float = 0) -> tuple[int, dict, float | None]:
        """(documents matching `query`, {facet: {value code + 1 (a year for `year`): documents}},
        the share counted). When the `estimate` of the matches is at most EXACT_UNDER every match is
        counted; past that, enough samples for about SAMPLE_TARGET matches, and the total and each
        count are scaled up (estimates, rounded), which keeps a word in most documents of a large
        corpus about as quick to count as a rare one."""
        Q, Occur = self._tantivy.Query, self._tantivy.Occur
        share = None
        if estimate > EXACT_UNDER:
            wanted = SAMPLE_TARGET * SAMPLES / estimate  # samples for about SAMPLE_TARGET matches
            taken = next((level for level in LEVELS if level >= wanted), SAMPLES)
            if taken < SAMPLES:
                share = taken / SAMPLES
                query = Q.boolean_query([(Occur.Must, query), (Occur.Must, Q.term_query(self.schema, "within", taken))])
        sizes = {"kind": facts.kinds, "theme": facts.themes, "design": facts.designs, "venue": facts.venues,
                 "product": facts.entities["product"], "jurisdiction": facts.entities["jurisdiction"],
                 "year": self._years(facts)}  # every value's bucket is asked for, and no more (more costs time)
        aggregations = {name: {"terms": {"field": name, "size": len(values) + 1}} for name, values in sizes.items()}
        aggregations["total"] = {"value_count": {"field": "rowid"}}  # every document has one rowid
        answer = self.searcher.aggregate(query, aggregations)
        total = int(answer["total"]["value"])
        scale = 1 / share if share else 1
        counted = {name: {int(b["key"]): round(b["doc_count"] * scale) for b in answer[name]["buckets"]} for name in self.FACETS}
        return round(total * scale), counted, share

    def count(self, facts, request, clauses, synonyms) -> int:
        """How many documents match the request (its query, scope and filters), exactly."""
        matching, _ = self.text_query(clauses, synonyms)
        if matching is None:
            return 0
        query = self._tantivy.Query.boolean_query([(self._tantivy.Occur.Must, matching)] + self.filter_query(facts, request))
        return self.searcher.search(query, 1, count=True).count

    def ordered_rowids(self, facts, request, clauses, synonyms) -> list[int]:
        """Every matching document's rowid in the request's order (for exports and feeds)."""
        matching, title = self.text_query(clauses, synonyms)
        if matching is None:
            return []
        total = self.count(facts, request, clauses, synonyms)
        addresses = self._ordered(matching, title, self.filter_query(facts, request), request, 0, total)
        return self.searcher.fast_field_values("rowid", addresses) if addresses else []


def _regex_escape(text: str) -> str:
    return "".join("\\" + c if c in r".^$*+?()[]{}|\\-" else c for c in text)


_OPENED: dict = {}
_OPEN_LOCK = threading.Lock()


def current(conn, facts) -> TextIndex | None:
    """The text index of the database `conn` reads when one is there and was built from exactly
    this version of it (`fingerprint`), else None (the caller falls back to FTS5)."""
    path = file_of(conn)
    if not path:
        return None
    directory = directory_for(path)
    found = recorded(directory)
    if found is None or found != fingerprint(conn, facts) or _DAMAGED.get(str(directory)) == _made(directory):
        return None
    with _OPEN_LOCK:
        opened = _OPENED.get(str(directory))
        if opened is None or opened.fingerprint != found:
            try:
                opened = TextIndex(directory)
            except (OSError, ValueError) as error:  # files missing or corrupt: FTS5 answers
                damaged(directory, error)
                return None
            _OPENED[str(directory)] = opened
        return opened


_DAMAGED: dict = {}  # directory -> `_made` of an index that could not be read


def _made(directory: Path) -> tuple:
    """Which build of the index in `directory` this is (its record's path and modification time):
    a build after a damaged one is another build, even of the same version of the database."""
    try:
        return ("made", (Path(directory) / "harvest.json").stat().st_mtime_ns)
    except OSError:
        return ("missing",)


def damaged(directory: Path, error: Exception) -> None:
    """Set aside the index in `directory` that failed to open or to answer: searches use FTS5
    until it is built again (`harvest search-index`, or the server's own rebuild). Said once on
    stderr."""
    import sys
    _OPENED.pop(str(directory), None)
    made = _made(directory)
    if _DAMAGED.get(str(directory)) != made:
        _DAMAGED[str(directory)] = made
        print(f"harvest: the text index in {directory} cannot be read ({error}); searches use SQLite FTS5 "
              f"until it is built again: harvest search-index --force {str(directory)[:-len('.search')]}",
              file=sys.stderr)


_BUILDING: dict = {}
_FAILED: dict = {}


def build_soon(path: str, wait: bool = False) -> threading.Thread | None:
    """(Re)build the text index of the database file at `path` on a thread of its own (one at a
    time per file) from a read-only connection and the file's SearchIndex; `wait` joins it. A build
    that fails (an unwritable folder, a full disk) is reported on stderr once per version of the
    database and not retried for it; searches keep using FTS5. Returns the thread, or None when a
    build is already running."""
    with _OPEN_LOCK:
        running = _BUILDING.get(path)
        if running is not None and running.is_alive():
            return None

        def run():
            import sqlite3
            import sys

            from harvest.search import index_for
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            try:
                facts = index_for(conn)
                wanted = fingerprint(conn, facts)
                directory = directory_for(path)
                if (recorded(directory) == wanted and _DAMAGED.get(str(directory)) != _made(directory)) \
                        or _FAILED.get(path) == wanted:
                    return
                try:
                    build(conn, facts, directory_for(path))
                except (OSError, ValueError) as error:
                    _FAILED[path] = wanted
                    print(f"harvest: the text index of {path} could not be built ({error}); "
                          "searches use SQLite FTS5", file=sys.stderr)
            finally:
                conn.close()
        thread = threading.Thread(target=run, name="text-index", daemon=True)
        _BUILDING[path] = thread
        thread.start()
    if wait:
        thread.join()
    return thread
