"""Search for people, not for SQL: what the search page (`/-/search`), its exports and its feeds ask
of the corpus.

A query is what a person types: words (all required), `"quoted phrases"` (exact), `OR` between two
words or phrases, a trailing `*` for a prefix. A word that belongs to a group in
`annotations/synonyms.yaml` also finds the group's other words; the full-text index (SQLite FTS5,
Porter stemmer) already folds endings. Documents are ranked by FTS5's bm25 (title ten times, summary
three times the body text), or sorted by date (undated last). Guidance pages, which rarely print a
date, are dated by their current version.

The relevance scope says which documents count: `relevant` (the default: about AI and mental
health, and documents the tagger has not judged yet), `related` (adds other AI or machine learning
applied to mental health) or `all` (adds off-topic and undetermined records).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from markupsafe import Markup, escape

from harvest.db import query_rows

SYNONYMS = Path(__file__).resolve().parents[1] / "annotations" / "synonyms.yaml"
SCOPES = {"relevant": "documents about AI and mental health",
          "related": "relevant documents and related work (other AI or machine learning in mental health)",
          "all": "every record, off-topic and undetermined ones included"}
SORTS = {"relevance": "best match", "newest": "newest first", "oldest": "oldest first"}
PAGE_SIZE = 20
FACET_LIMIT = 12
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"  # snippet() markers, made <mark> only after the text is escaped
DESIGN_LABELS = {"systematic_review": "Systematic review", "rct": "Randomised controlled trial",
                 "observational": "Observational study", "qualitative": "Qualitative study", "evaluation": "Evaluation",
                 "case_report": "Case report", "commentary": "Commentary"}
TOKEN = re.compile(r'"([^"]*)"?|([^\s"]+)')


def scope_clause(scope: str, column: str = "relevance") -> str:
    """The SQL condition (constants only) keeping the documents of a relevance scope."""
    if scope == "all":
        return "1"
    kept = "'relevant', 'related'" if scope == "related" else "'relevant'"
    return f"({column} IN ({kept}) OR {column} IS NULL)"


def load_synonyms(path: Path = SYNONYMS) -> dict[str, tuple[str, ...]]:
    """word (lower case) -> every word of its group, from annotations/synonyms.yaml.
    Raises ValueError naming the word that is in two groups, or a group that is not a list."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    index: dict[str, tuple[str, ...]] = {}
    for number, group in enumerate(data.get("groups") or [], 1):
        if not isinstance(group, list) or not all(isinstance(w, str) and w.strip() for w in group):
            raise ValueError(f"{path}: group {number} must be a list of words")
        words = tuple(dict.fromkeys(w.strip().lower() for w in group))
        for word in words:
            if word in index:
                raise ValueError(f"{path}: {word!r} is in two groups")
            index[word] = words
    return index


@dataclass
class Term:
    """One alternative of a clause: a word (synonyms apply), a phrase (exact) or a prefix."""
    text: str
    kind: str = "word"  # word, phrase or prefix

    def shown(self) -> str:
        return f'"{self.text}"' if self.kind == "phrase" else self.text + ("*" if self.kind == "prefix" else "")


def parse_query(text: str) -> list[list[Term]]:
    """A typed query as clauses (all required), each a list of alternatives (any one suffices)."""
    clauses: list[list[Term]] = []
    join_next = False
    for phrase, word in TOKEN.findall(text or ""):
        if word == "OR" and clauses:
            join_next = True
            continue
        if phrase or (not word and phrase == ""):
            words = re.findall(r"[\w'.\-]+", phrase)
            term = Term(" ".join(words), "phrase") if words else None
        else:
            prefix = word.endswith("*")
            core = word.strip("*").strip(".,;:!?()[]{}'")
            term = Term(core, "prefix" if prefix else "word") if re.search(r"\w", core) else None
        if term is None:
            continue
        if join_next:
            clauses[-1].append(term)
        else:
            clauses.append([term])
        join_next = False
    return clauses


def _quoted(text: str) -> str:
    return '"' + text.replace('"', "") + '"'


def fts_match(clauses: list[list[Term]], synonyms: dict[str, tuple[str, ...]]) -> str:
    """The FTS5 MATCH expression for parsed clauses: every token quoted (so `.`, `-` or `:` are never
    syntax), synonyms OR-ed in, clauses AND-ed."""
    parts = []
    for clause in clauses:
        alternatives = []
        for term in clause:
            if term.kind == "prefix":
                alternatives.append(_quoted(term.text) + "*")
            elif term.kind == "phrase":
                alternatives.append(_quoted(term.text))
            else:
                alternatives += [_quoted(w) for w in synonyms.get(term.text.lower(), (term.text,))]
        alternatives = list(dict.fromkeys(alternatives))
        parts.append(alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")")
    return " AND ".join(parts)


def shown_query(clauses: list[list[Term]]) -> str:
    return " ".join(" OR ".join(t.shown() for t in clause) for clause in clauses)


@dataclass
class SearchRequest:
    """What the search page was asked. Multi-valued filters (kind, theme) are OR-ed within, every
    filter is AND-ed with the others. `similar` and `cited` replace the text query by a document's
    neighbours (shared entities, themes and citations) or by the documents citing it."""
    q: str = ""
    kinds: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    year_from: int | None = None
    year_to: int | None = None
    design: str = ""
    product: str = ""
    jurisdiction: str = ""
    outlet: str = ""
    scope: str = "relevant"
    sort: str = "relevance"
    page: int = 1
    similar: str = ""
    cited: str = ""

    FILTERS = ("kind", "theme", "year_from", "year_to", "design", "product", "jurisdiction", "outlet")

    @classmethod
    def from_args(cls, args) -> "SearchRequest":
        """From a query string (Datasette's request.args, or a dict of lists). Bad values are
        dropped with no error: a year that is not a number, an unknown sort or scope."""
        def one(name):
            values = args.getlist(name) if hasattr(args, "getlist") else args.get(name, [])
            values = [values] if isinstance(values, str) else values
            return (values[-1] if values else "").strip()

        def many(name):
            values = args.getlist(name) if hasattr(args, "getlist") else args.get(name, [])
            values = [values] if isinstance(values, str) else values
            return [v.strip() for v in values if v.strip()]

        def year(name):
            value = one(name)
            return int(value) if value.isdigit() and len(value) == 4 else None
        page = one("page")
        return cls(q=one("q")[:500], kinds=many("kind"), themes=many("theme"), year_from=year("year_from"),
                   year_to=year("year_to"), design=one("design"), product=one("product"), jurisdiction=one("jurisdiction"),
                   outlet=one("outlet"), scope=one("scope") if one("scope") in SCOPES else "relevant",
                   sort=one("sort") if one("sort") in SORTS else ("relevance" if one("q") or one("similar") else "newest"),
                   page=max(1, min(int(page), 500)) if page.isdigit() else 1, similar=one("similar"), cited=one("cited"))

    def args(self, **changes) -> list[tuple[str, str]]:
        """This request as query-string pairs (with changes), for links that keep every filter."""
        request = replace(self, **changes)
        pairs = [("q", request.q)] if request.q else []
        pairs += [("kind", k) for k in request.kinds] + [("theme", t) for t in request.themes]
        for name in ("year_from", "year_to", "design", "product", "jurisdiction", "outlet", "similar", "cited"):
            value = getattr(request, name)
            if value not in (None, ""):
                pairs.append((name, str(value)))
        if request.scope != "relevant":
            pairs.append(("scope", request.scope))
        if request.sort != ("relevance" if request.q or request.similar else "newest"):
            pairs.append(("sort", request.sort))
        if request.page > 1:
            pairs.append(("page", str(request.page)))
        return pairs

    def active_filters(self) -> list[tuple[str, str, dict]]:
        """(label, value, changes that remove it) for each filter in use."""
        found = [("kind", k, {"kinds": [x for x in self.kinds if x != k]}) for k in self.kinds]
        found += [("theme", t, {"themes": [x for x in self.themes if x != t]}) for t in self.themes]
        for name, label in (("year_from", "from"), ("year_to", "until"), ("design", "study design"), ("product", "product"),
                            ("jurisdiction", "jurisdiction"), ("outlet", "outlet")):
            if getattr(self, name) not in (None, ""):
                found.append((label, str(getattr(self, name)), {name: None if name.startswith("year") else ""}))
        return found


DATE = ("CASE WHEN d.published IS NOT NULL THEN d.published WHEN d.kind = 'guidance' THEN "
        "(SELECT substr(max(v.fetched_at), 1, 10) FROM document_versions v WHERE v.document_id = d.id) END")
YEAR = f"coalesce(d.year, cast(substr({DATE}, 1, 4) AS INTEGER))"


def _entity_ids(conn, kind: str, name: str) -> list[str]:
    return [r["id"] for r in query_rows(conn, "SELECT id FROM entities WHERE type = ? AND (lower(name) = lower(?) "
                                              "OR id = lower(?))", [kind, name, f"{kind}:{name}"])]


def _theme_ids(conn, names: list[str]) -> list[str]:
    ids = []
    for name in names:
        ids += [r["id"] for r in query_rows(conn, "SELECT id FROM themes WHERE id = ? OR lower(label) = lower(?)", [name, name])]
    return ids or ["(none)"] if names else []


def _candidates(request: SearchRequest, match: str) -> tuple[str, dict]:
    """SQL yielding (rowid, score), higher scores better, and its parameters."""
    if request.similar:
        return """SELECT d.rowid, s.score FROM (
                    SELECT other, sum(weight) AS score FROM (
                      SELECT b.document_id AS other, 2.0 AS weight FROM document_entities a
                        JOIN document_entities b ON b.entity_id = a.entity_id WHERE a.document_id = :similar
                      UNION ALL SELECT b.document_id, 1.0 FROM document_themes a
                        JOIN document_themes b ON b.theme = a.theme WHERE a.document_id = :similar
                      UNION ALL SELECT cited_id, 3.0 FROM citations WHERE citing_id = :similar
                      UNION ALL SELECT citing_id, 3.0 FROM citations WHERE cited_id = :similar
                      UNION ALL SELECT b.citing_id, 2.0 FROM citations a JOIN citations b ON b.cited_id = a.cited_id
                        WHERE a.citing_id = :similar
                      UNION ALL SELECT id, 4.0 FROM documents WHERE story_id = (SELECT story_id FROM documents WHERE id = :similar)
                    ) WHERE other != :similar GROUP BY other ORDER BY score DESC LIMIT 500) s
                  JOIN documents d ON d.id = s.other""", {"similar": request.similar}
    if request.cited:
        return ("SELECT d.rowid, 0.0 AS score FROM citations c JOIN documents d ON d.id = c.citing_id WHERE c.cited_id = :cited",
                {"cited": request.cited})
    if match:
        return ("SELECT rowid, -bm25(documents_fts, 10.0, 3.0, 1.0) AS score FROM documents_fts WHERE documents_fts MATCH :match",
                {"match": match})
    return "SELECT rowid, 0.0 AS score FROM documents", {}


def _filters(conn, request: SearchRequest) -> tuple[list[str], dict]:
    where, params = [scope_clause(request.scope, "d.relevance")], {}
    if request.kinds:
        names = {f"kind{n}": k for n, k in enumerate(request.kinds)}
        where.append(f"d.kind IN ({', '.join(':' + n for n in names)})")
        params.update(names)
    if request.themes:
        names = {f"theme{n}": t for n, t in enumerate(_theme_ids(conn, request.themes))}
        where.append(f"EXISTS (SELECT 1 FROM document_themes t WHERE t.document_id = d.id AND t.theme IN "
                     f"({', '.join(':' + n for n in names)}))")
        params.update(names)
    if request.year_from:
        where.append(f"{YEAR} >= :year_from")
        params["year_from"] = request.year_from
    if request.year_to:
        where.append(f"{YEAR} <= :year_to")
        params["year_to"] = request.year_to
    if request.design in ("none", "not determined"):
        where.append("d.study_design IS NULL")
    elif request.design:
        code = next((c for c, label in DESIGN_LABELS.items() if request.design.lower() in (c, label.lower())), request.design)
        where.append("d.study_design = :design")
        params["design"] = code
    for name in ("product", "jurisdiction"):
        if getattr(request, name):
            ids = {f"{name}{n}": i for n, i in enumerate(_entity_ids(conn, name, getattr(request, name)) or ["(none)"])}
            clause = f"EXISTS (SELECT 1 FROM document_entities e WHERE e.document_id = d.id AND e.entity_id IN ({', '.join(':' + n for n in ids)}))"
            if name == "jurisdiction":
                clause = f"({clause} OR lower(d.jurisdiction) = lower(:jurisdiction_name))"
                params["jurisdiction_name"] = request.jurisdiction
            where.append(clause)
            params.update(ids)
    if request.outlet:
        where.append("lower(d.venue) = lower(:outlet)")
        params["outlet"] = request.outlet
    return where, params


def _fill(conn, request: SearchRequest, match: str, table: str = "search_hits") -> int:
    """The matching documents into the temporary table `table`; returns how many."""
    candidates, params = _candidates(request, match)
    where, more = _filters(conn, request)
    conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
    conn.execute(f"CREATE TEMP TABLE {table} (rowid INTEGER PRIMARY KEY, id TEXT, score REAL, date TEXT, kind TEXT, "
                 "year INTEGER, study_design TEXT, venue TEXT)")
    conn.execute(f"""INSERT INTO temp.{table} SELECT d.rowid, d.id, c.score, {DATE}, d.kind, {YEAR}, d.study_design, d.venue
                     FROM ({candidates}) c JOIN documents d ON d.rowid = c.rowid
                     WHERE {' AND '.join(where)}""", {**params, **more})
    return conn.execute(f"SELECT count(*) FROM temp.{table}").fetchone()[0]


def _count(conn, request: SearchRequest, match: str) -> int:
    candidates, params = _candidates(request, match)
    where, more = _filters(conn, request)
    return conn.execute(f"""SELECT count(*) FROM ({candidates}) c JOIN documents d ON d.rowid = c.rowid WHERE {' AND '.join(where)}""", {**params, **more}).fetchone()[0]


ORDER = {"relevance": "h.score DESC, h.date DESC", "newest": "h.date IS NULL, h.date DESC, h.score DESC",
         "oldest": "h.date IS NULL, h.date, h.score DESC"}


def ordered_ids(conn, request: SearchRequest, synonyms=None) -> list[str]:
    """Every matching document's id, in the request's order (for exports and feeds)."""
    match = fts_match(parse_query(request.q), synonyms if synonyms is not None else load_synonyms()) if request.q else ""
    _fill(conn, request, match)
    ids = [r[0] for r in conn.execute(f"SELECT h.id FROM temp.search_hits h ORDER BY {ORDER[request.sort]}")]
    conn.execute("DROP TABLE temp.search_hits")
    return ids


def _facets(conn) -> dict:
    def counted(sql):
        return query_rows(conn, sql)
    facets = {
        "kind": counted("SELECT kind AS value, kind AS label, count(*) AS n FROM temp.search_hits GROUP BY kind ORDER BY n DESC"),
        "theme": counted("SELECT t.theme AS value, coalesce(th.label, t.theme) AS label, count(*) AS n FROM temp.search_hits h "
                         "JOIN document_themes t ON t.document_id = h.id LEFT JOIN themes th ON th.id = t.theme "
                         "GROUP BY t.theme ORDER BY n DESC"),
        "year": counted("SELECT year AS value, year AS label, count(*) AS n FROM temp.search_hits WHERE year IS NOT NULL "
                        "GROUP BY year ORDER BY year DESC"),
        "design": [dict(r, label=DESIGN_LABELS.get(r["value"], r["value"])) for r in counted(
            "SELECT study_design AS value, count(*) AS n FROM temp.search_hits WHERE study_design IS NOT NULL "
            "GROUP BY study_design ORDER BY n DESC")],
        "outlet": counted(f"SELECT venue AS value, venue AS label, count(*) AS n FROM temp.search_hits WHERE venue IS NOT NULL "
                          f"GROUP BY venue ORDER BY n DESC, venue LIMIT {FACET_LIMIT}"),
    }
    entities = counted(f"""SELECT x.type, x.name AS value, x.name AS label, count(*) AS n FROM temp.search_hits h
                          JOIN document_entities e ON e.document_id = h.id JOIN entities x ON x.id = e.entity_id
                          WHERE x.type IN ('product', 'jurisdiction') GROUP BY x.id ORDER BY n DESC""")
    for kind in ("product", "jurisdiction"):
        facets[kind] = [e for e in entities if e["type"] == kind][:FACET_LIMIT]
    return facets


def highlighted(text: str | None) -> Markup:
    """A snippet made by snippet() with MARK_OPEN/MARK_CLOSE: the text escaped, then the marks."""
    escaped = str(escape(text or ""))
    return Markup(escaped.replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>"))


def _page(conn, request: SearchRequest, match: str) -> list[dict]:
    rows = query_rows(conn, f"""SELECT h.id, h.date, h.kind, d.title, d.venue, d.url, d.abstract, d.relevance, d.retracted
                                FROM temp.search_hits h JOIN documents d ON d.rowid = h.rowid
                                ORDER BY {ORDER[request.sort]} LIMIT {PAGE_SIZE} OFFSET {(request.page - 1) * PAGE_SIZE}""")
    for row in rows:
        row["themes"] = query_rows(conn, "SELECT t.theme AS id, coalesce(th.label, t.theme) AS label FROM document_themes t "
                                         "LEFT JOIN themes th ON th.id = t.theme WHERE t.document_id = ? ORDER BY t.score DESC",
                                   [row["id"]])
        row["cited_by"] = conn.execute("SELECT count(*) FROM citations WHERE cited_id = ?", [row["id"]]).fetchone()[0]
        row["incidents"] = query_rows(conn, "SELECT i.id, i.title FROM incident_documents l JOIN incidents i ON "
                                            "i.id = l.incident_id WHERE l.document_id = ?", [row["id"]])
        snippet = None
        if match:
            found = conn.execute(f"SELECT snippet(documents_fts, -1, '{MARK_OPEN}', '{MARK_CLOSE}', ' … ', 28) FROM documents_fts "
                                 "WHERE documents_fts MATCH ? AND rowid = (SELECT rowid FROM documents WHERE id = ?)",
                                 [match, row["id"]]).fetchone()
            snippet = found[0] if found else None
        row["snippet"] = highlighted(snippet) if snippet else (row["abstract"] or "")[:300]
        del row["abstract"]
    return rows


def _incidents(conn, match: str) -> list[dict]:
    rows = query_rows(conn, f"""SELECT i.id, i.title, i.status, i.first_reported,
                                  snippet(incidents_fts, -1, '{MARK_OPEN}', '{MARK_CLOSE}', ' … ', 20) AS snippet
                                FROM incidents_fts JOIN incidents i ON i.rowid = incidents_fts.rowid
                                WHERE incidents_fts MATCH ? ORDER BY bm25(incidents_fts, 10.0, 3.0, 1.0, 2.0, 1.0, 2.0, 1.0)
                                LIMIT 5""", [match])
    for row in rows:
        row["snippet"] = highlighted(row["snippet"])
    return rows


def _loosenings(conn, request: SearchRequest, clauses, synonyms) -> list[dict]:
    """When nothing matched: each way to loosen the search that finds something, with its count."""
    tries = []
    if request.scope != "all":
        tries.append(("include related and off-topic records", {"scope": "all"}))
    for label, value, changes in request.active_filters():
        tries.append((f"drop the filter {label}: {value}", changes))
    if len(clauses) > 1:
        for n, clause in enumerate(clauses):
            rest = clauses[:n] + clauses[n + 1:]
            tries.append((f"leave out {' OR '.join(t.shown() for t in clause)}", {"q": shown_query(rest)}))
    for clause in clauses:
        for term in clause:
            if term.kind == "phrase" and " " in term.text:
                loose = [c if c is not clause else [Term(w) for w in term.text.split()] for c in clauses]
                tries.append((f"search the words of \"{term.text}\" anywhere, not as a phrase", {"q": shown_query(
                    [c for group in loose for c in ([group] if group is not clause else [[t] for t in group])])}))
    found = []
    for label, changes in tries[:8]:
        loosened = replace(request, page=1, **changes)
        match = fts_match(parse_query(loosened.q), synonyms) if loosened.q else ""
        if loosened.q and not match:
            continue
        n = _count(conn, loosened, match)
        if n:
            found.append({"label": label, "n": n, "args": loosened.args()})
    return found


def search(conn, request: SearchRequest, synonyms: dict | None = None) -> dict:
    """Run a search on a sqlite3 connection. Returns {total, results (one page), facets, incidents,
    suggestions (only when nothing matched), query (as understood), match (the FTS5 expression)}.
    A query with nothing searchable in it (only quotes or punctuation) matches like an empty one."""
    synonyms = load_synonyms() if synonyms is None else synonyms
    clauses = parse_query(request.q)
    match = fts_match(clauses, synonyms) if clauses else ""
    total = _fill(conn, request, match)
    try:
        result = {"total": total, "results": _page(conn, request, match) if total else [], "facets": _facets(conn),
                  "incidents": _incidents(conn, match) if match and request.page == 1 else [],
                  "query": shown_query(clauses), "match": match,
                  "suggestions": _loosenings(conn, request, clauses, synonyms) if not total else []}
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.search_hits")
    return result


