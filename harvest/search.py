"""Search for people, not for SQL: what the search page (`/-/search`), its exports and its feeds ask
of the corpus.

A query is what a person types: words (all required), `"quoted phrases"` (exact), `OR` between two
words or phrases, a trailing `*` for a prefix, `-word` to leave out; any other syntax is text
(`parse_query`), and a query with no word to look for matches nothing. A word that belongs to a group in
`annotations/synonyms.yaml` also finds the group's other words; the full-text index (SQLite FTS5,
Porter stemmer) already folds endings. Documents whose title matches come first, ranked by FTS5's
bm25 on the title; then the others, by bm25 over the whole record (title ten times, summary three
times the body text). Or they are sorted by date (undated last). Guidance pages, which rarely print a
date, are dated by their current version.

The relevance scope says which documents count: `relevant` (the default: about AI and mental
health, and documents the tagger has not judged yet), `related` (adds other AI or machine learning
applied to mental health) or `all` (adds off-topic and undetermined records).

Text queries on a corpus with a current text index (`harvest.textindex`, Tantivy) are found,
ranked in the same tiers, filtered and counted there (past about 50,000 matches the total and
facets are estimated from samples, and the answer says so); without one, or when it was built
from another version of the database, SQLite FTS5 answers as described above.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from markupsafe import Markup, escape

from harvest import config, textindex
from harvest.db import file_of, query_rows
from harvest.similar import similar_documents

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


def scope_clause(scope: str, column: str = "relevance") -> str:
    """The SQL condition (constants only) keeping the documents of a relevance scope."""
    if scope == "all":
        return "1"
    kept = "'relevant', 'related'" if scope == "related" else "'relevant'"
    return f"({column} IN ({kept}) OR {column} IS NULL)"


def load_synonyms(path: Path = SYNONYMS) -> dict[str, tuple[str, ...]]:
    """word (lower case) -> every word of its group, from annotations/synonyms.yaml.
    Raises ValueError naming the word that is in two groups, or a group that is not a list."""
    data = config.load(path, "synonyms") or {}
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
    """One alternative of a clause: a word (synonyms apply), a phrase (exact) or a prefix.
    An excluded term (`-word`, `NOT word`) removes the documents it matches."""
    text: str
    kind: str = "word"  # word, phrase or prefix
    excluded: bool = False

    def shown(self) -> str:
        core = f'"{self.text}"' if self.kind == "phrase" else self.text + ("*" if self.kind == "prefix" else "")
        return ("-" if self.excluded else "") + core


PIECE = re.compile(r'"([^"]*)"?|[^\s"]+')  # a quoted phrase (an unclosed one runs to the end) or a chunk
WORD = re.compile(r"\w+(?:['’.&+:/\-]\w+)*(\*?)")  # Character.AI, 14-year-old, don't, 24/7, 10:30, therap*
COLUMN = re.compile(r"^(?:\{[^}]*\}|[^\W\d]\w*):")  # title:word, {title body}: a column filter (ignored)
NEAR_GROUP = re.compile(r"\bNEAR(?:/\d+)?\(([^()\"]*?)(?:,\s*\d+\s*)?\)")  # NEAR(a b, 5): the words a b
NEAR = re.compile(r"^NEAR(?:/\d+)?\(")  # an unclosed NEAR(
NOTHING = '""'  # an FTS5 expression that matches no row (an empty phrase)


def _pieces(text: str):
    """Terms and the operators OR and NOT as a person typed them; stray syntax dropped."""
    pieces = list(PIECE.finditer(NEAR_GROUP.sub(r" \1 ", text or "")))
    negate = False
    for n, piece in enumerate(pieces):
        chunk = piece.group(0)
        if chunk.startswith('"'):
            words = [m.group(0).rstrip("*") for m in WORD.finditer(piece.group(1))]
            if words:
                yield Term(" ".join(words), "phrase", negate)
            negate = False
            continue
        if chunk in ("OR", "AND", "NOT"):  # FTS5's operators, upper case only (as in PubMed and Google)
            if chunk == "OR":
                yield "OR"
            negate = chunk == "NOT"
            continue
        if chunk.startswith("-"):
            chunk = chunk.lstrip("-")
            negate = True
            if not chunk:  # a lone `-`: excludes a phrase written right after it, else nothing
                following = pieces[n + 1] if n + 1 < len(pieces) else None
                negate = bool(following and following.start() == piece.end() and following.group(0).startswith('"'))
                continue
        following = pieces[n + 1] if n + 1 < len(pieces) else None
        if COLUMN.match(chunk) and (chunk[-1] != ":" or chunk[0] == "{" or (following and following.start() == piece.end())):
            chunk = COLUMN.sub("", chunk)  # `title:x`, `title:"a b"`, `{title}: x`; not `psychosis: a review`
        chunk = NEAR.sub("", chunk)
        terms = [Term(m.group(0).rstrip("*"), "prefix" if m.group(1) else "word", negate) for m in WORD.finditer(chunk)]
        yield from terms
        if terms:  # punctuation alone (`NOT (`) leaves the exclusion for the next word
            negate = False


def parse_query(text: str) -> list[list[Term]]:
    """A typed query as clauses (all required), each a list of alternatives (any one suffices).

    Understood: words, `"quoted phrases"`, `OR` between two terms, a trailing `*` (prefix), `-word`
    or `NOT word` (exclude). Everything else is read as text, never as FTS5 syntax: an unclosed
    quote runs to the end of the query, a lone `"`, `-`, `*` or `OR` at either end is dropped,
    `column:` prefixes, `NEAR(`, brackets and other punctuation only separate words. A query with
    no word left gives no clauses (see fts_match: it then matches nothing)."""
    clauses: list[list[Term]] = []
    join_next = False
    for piece in _pieces(text):
        if piece == "OR":
            join_next = bool(clauses) and not clauses[-1][-1].excluded
            continue
        if join_next and not piece.excluded:
            clauses[-1].append(piece)
        else:
            clauses.append([piece])
        join_next = False
    return clauses


def _quoted(text: str) -> str:
    return '"' + text.replace('"', "") + '"'


def fts_match(clauses: list[list[Term]], synonyms: dict[str, tuple[str, ...]]) -> str:
    """The FTS5 MATCH expression for parsed clauses: every token quoted (so `.`, `-` or `:` are never
    syntax), synonyms OR-ed in, clauses AND-ed, excluded terms after NOT. Clauses with no term to
    look for (none, or only exclusions) give NOTHING, which matches no row: a query of stray
    syntax finds nothing, never everything."""
    parts, excluded = [], []
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
        joined = alternatives[0] if len(alternatives) == 1 else "(" + " OR ".join(alternatives) + ")"
        (excluded if clause[0].excluded else parts).append(joined)
    if not parts:
        return NOTHING
    found = " AND ".join(parts)
    return f"({found}) NOT ({' OR '.join(excluded)})" if excluded else found


def shown_query(clauses: list[list[Term]]) -> str:
    """Parsed clauses written back as a query (the search page's "match ..." and its loosenings)."""
    return " ".join(" OR ".join(t.shown() for t in clause) for clause in clauses)


@dataclass
class SearchRequest:
    """What the search page was asked. Multi-valued filters (kind, theme) are OR-ed within, every
    filter is AND-ed with the others. `similar` and `cited` replace the text query by a document's
    neighbours (similar wording, shared entities, themes, citations: harvest.similar) or by the
    documents citing it. `refused` lists what the address asked that is not applied, each as
    (argument, value, why), for the page to show: nothing asked is dropped without a word."""
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
    refused: list[tuple[str, str, str]] = field(default_factory=list)

    FILTERS = ("kind", "theme", "year", "year_from", "year_to", "design", "product", "jurisdiction", "outlet")
    # The documents table's names for the same filters (its facet and filter links), read as the page's own.
    ALIASES = {"_theme": "theme", "_product": "product", "study_design": "design",
               "venue": "outlet", "_relevance": "scope", "year__exact": "year", "year__gte": "year_from",
               "year__lte": "year_to", "year__gt": "year_from", "year__lt": "year_to"}
    # Arguments that change no result (the exports' byte-order mark, the table's display switches).
    # Datasette's own switches, and the tracking tags links collect on the way (a feed address
    # shared with utm_source=... still answers)
    IGNORED = re.compile(r"^(_bom|_col|_nocol|_size|_facet.*|_labels|_nolabels|_nocount|_nofacet|_nosuggest|_next"
                         r"|utm_\w+|fbclid|gclid|msclkid|mc_cid|mc_eid|_ga|_)$")  # `_=123`: a cache-buster
    KNOWN = {"q", "scope", "sort", "page", "similar", "cited"}

    @classmethod
    def from_args(cls, args) -> "SearchRequest":
        """From a query string (Datasette's request.args, or a dict of lists). The documents
        table's names are read as the page's (`_theme`, `study_design`, `venue`, `year__gte`...);
        `year=2024` is `year_from=2024&year_to=2024`. A value that cannot be applied (a year that is
        not four digits, an unknown sort or scope, a second value of a one-value filter, an
        argument the page does not know) is listed in `refused`, and the rest applies."""
        names = list(dict.fromkeys(args.keys()))
        values: dict[str, list[str]] = {}
        refused: list[tuple[str, str, str]] = []
        for name in names:
            got = args.getlist(name) if hasattr(args, "getlist") else args.get(name, [])
            got = [got] if isinstance(got, str) else list(got)
            own = cls.ALIASES.get(name, name)
            if own in cls.FILTERS or own in cls.KNOWN:
                shift = {"year__gt": 1, "year__lt": -1}.get(name, 0)
                values.setdefault(own, []).extend(
                    str(int(v) + shift) if shift and v.strip().isdigit() else v for v in got)
            elif not cls.IGNORED.match(name):
                refused += [(name, v, f"the search page has no filter {name} (it filters by kind, theme, year, "
                                      "year_from, year_to, design, product, jurisdiction and outlet)") for v in got if v.strip()]

        def many(name):
            return list(dict.fromkeys(v.strip() for v in values.get(name, []) if v.strip()))

        def one(name, label=None):
            given = many(name)
            for extra in given[:-1]:
                refused.append((name, extra, f"one {label or name} at a time: {given[-1]} is applied"))
            return given[-1] if given else ""

        def year(name):
            value = one(name, "year")
            if value and not (value.isdigit() and len(value) == 4):
                refused.append((name, value, "not a year (four digits, e.g. 2024)"))
                return None
            return int(value) if value else None
        q, similar, page = one("q", "query"), one("similar", "document"), one("page", "page")
        year_from, year_to, single = year("year_from"), year("year_to"), year("year")
        if single is not None:
            for name, value in (("year_from", year_from), ("year_to", year_to)):
                if value is not None and value != single:
                    refused.append((name, str(value), f"year={single} is asked too, and applied"))
            year_from = year_to = single
        scope, sort = one("scope"), one("sort")
        if scope and scope not in SCOPES:
            refused.append(("scope", scope, "not a scope (relevant, related or all): relevant documents are shown"))
        if sort and sort not in SORTS:
            refused.append(("sort", sort, f"not an order ({', '.join(SORTS)})"))
        return cls(q=q[:500], kinds=many("kind"), themes=many("theme"), year_from=year_from, year_to=year_to,
                   design=one("design", "study design"), product=one("product"), jurisdiction=one("jurisdiction"),
                   outlet=one("outlet"), scope=scope if scope in SCOPES else "relevant",
                   sort=sort if sort in SORTS else ("relevance" if q or similar else "newest"),
                   page=max(1, min(int(page), 500)) if page.isdigit() else 1, similar=similar, cited=one("cited", "document"),
                   refused=refused)

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
        """(label, value, changes that remove it) for each filter in use; one year asked as a range
        of one (`year=2024`, or a year facet) shows as `year: 2024`."""
        found = [("kind", k, {"kinds": [x for x in self.kinds if x != k]}) for k in self.kinds]
        found += [("theme", t, {"themes": [x for x in self.themes if x != t]}) for t in self.themes]
        if self.year_from is not None and self.year_from == self.year_to:
            found.append(("year", str(self.year_from), {"year_from": None, "year_to": None}))
        for name, label in (("year_from", "from"), ("year_to", "until"), ("design", "study design"), ("product", "product"),
                            ("jurisdiction", "jurisdiction"), ("outlet", "outlet")):
            if name.startswith("year") and self.year_from is not None and self.year_from == self.year_to:
                continue
            if getattr(self, name) not in (None, ""):
                found.append((label, str(getattr(self, name)), {name: None if name.startswith("year") else ""}))
        return found


DATE = ("CASE WHEN d.published IS NOT NULL THEN d.published WHEN d.kind = 'guidance' THEN "
        "(SELECT substr(max(v.fetched_at), 1, 10) FROM document_versions v WHERE v.document_id = d.id) END")
YEAR = f"coalesce(d.year, cast(substr({DATE}, 1, 4) AS INTEGER))"


def _codes(values) -> tuple[np.ndarray, list]:
    """Categorical values as int32 codes (-1 for none) and the list of labels."""
    labels: dict = {}
    codes = np.fromiter((-1 if v is None else labels.setdefault(v, len(labels)) for v in values), dtype=np.int32,
                        count=len(values))
    return codes, list(labels)


def _date_number(value) -> int:
    """2025-03-05 -> 20250305, 2025-03 -> 20250300, 2025 -> 20250000; none -> -1 (sorts as undated)."""
    digits = re.sub(r"\D", "", str(value or ""))[:8]
    return int(digits.ljust(8, "0")) if len(digits) >= 4 else -1


class SearchIndex:
    """The facts the search page filters, counts and sorts by, for every document, held in numpy
    arrays (a few MB for 100,000 documents) so that a search touching 60,000 documents filters and
    counts its facets in milliseconds. Built from the database on first use and rebuilt when the
    database file (or its WAL) changes; see `index_for`."""

    def __init__(self, conn):
        self._remembered: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        rows = conn.execute(f"SELECT d.rowid, d.id, d.kind, {YEAR}, d.study_design, d.venue, {DATE}, d.relevance, d.year "
                            "FROM documents d ORDER BY d.rowid").fetchall()
        self.size = len(rows)
        self.ids = np.array([r[1] for r in rows], dtype=object)
        rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=self.size)
        self.position = np.full(int(rowids.max()) + 1 if self.size else 1, -1, dtype=np.int64)
        self.position[rowids] = np.arange(self.size)
        self.kind, self.kinds = _codes([r[2] for r in rows])
        self.year = np.fromiter((r[3] or 0 for r in rows), dtype=np.int32, count=self.size)
        self.design, self.designs = _codes([r[4] for r in rows])
        self.venue, self.venues = _codes([r[5] for r in rows])
        self.date = np.fromiter((_date_number(r[6]) for r in rows), dtype=np.int64, count=self.size)
        self.relevance, self.relevances = _codes([r[7] for r in rows])
        self.stated_year = np.fromiter((r[8] if isinstance(r[8], int) else -1 for r in rows), dtype=np.int32, count=self.size)
        self.theme_labels = dict(conn.execute("SELECT id, label FROM themes").fetchall())
        themes = conn.execute("SELECT d.rowid, t.theme FROM document_themes t JOIN documents d ON d.id = t.document_id").fetchall()
        self.theme_doc = self.position[np.fromiter((r[0] for r in themes), dtype=np.int64, count=len(themes))]
        self.theme, self.themes = _codes([r[1] for r in themes])
        entities = conn.execute("SELECT d.rowid, x.type, x.name FROM document_entities e JOIN entities x ON x.id = e.entity_id "
                                "JOIN documents d ON d.id = e.document_id WHERE x.type IN ('product', 'jurisdiction') "
                                "UNION SELECT d.rowid, 'jurisdiction', d.jurisdiction FROM documents d "
                                "WHERE d.jurisdiction IS NOT NULL").fetchall()
        self.entity_doc, self.entity_kind, self.entity, self.entities = {}, {}, {}, {}
        for kind in ("product", "jurisdiction"):
            found = [r for r in entities if r[1] == kind]
            self.entity_doc[kind] = self.position[np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found))]
            self.entity[kind], self.entities[kind] = _codes([r[2] for r in found])
        self.entity_names: dict[str, dict[str, str]] = {"product": {}, "jurisdiction": {}}  # id or alias -> name
        for kind, name, entity_id, aliases in conn.execute(
                "SELECT type, name, id, aliases FROM entities WHERE type IN ('product', 'jurisdiction') AND name IS NOT NULL"):
            try:
                aliases = json.loads(aliases or "[]")
            except ValueError:
                aliases = []
            for known in [entity_id] + (aliases if isinstance(aliases, list) else []):
                if isinstance(known, str):
                    self.entity_names[kind].setdefault(known.lower(), name)

    def unknown(self, request: "SearchRequest") -> list[tuple[str, str, list[str]]]:
        """(filter, value, the values it knows) for each theme, product or jurisdiction the request
        names that the corpus does not know by id, label, name or alias: the page says so, as the
        documents table does, rather than only finding nothing."""
        found = []
        themes = {str(t).lower() for pair in self.theme_labels.items() for t in pair}
        found += [("theme", t, sorted(map(str, self.theme_labels.values()))) for t in request.themes
                  if t.lower() not in themes]
        for kind in ("product", "jurisdiction"):
            value = getattr(request, kind)
            names = {str(n).lower() for n in self.entities[kind]}
            if value and value.lower() not in self.entity_names[kind] and value.lower() not in names:
                found.append((kind, value, sorted(map(str, self.entities[kind]))))
        return found

    def entity_codes(self, kind: str, value: str) -> np.ndarray:
        """Codes of the product or jurisdiction `value` names: its name, id or an alias, in any case
        ("chat gpt" is ChatGPT), as the documents table reads `_product=`."""
        return self._matching(self.entities[kind], [self.entity_names[kind].get(value.lower(), value)])

    @staticmethod
    def _matching(labels: list, wanted: list[str]) -> np.ndarray:
        lowered = {w.lower() for w in wanted}
        return np.array([n for n, label in enumerate(labels) if str(label).lower() in lowered], dtype=np.int32)

    def _having(self, doc: np.ndarray, codes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """A per-document flag: does the document have one of `values` in a multi-valued column?"""
        flag = np.zeros(self.size, dtype=bool)
        flag[doc[np.isin(codes, values)]] = True
        return flag

    def keep(self, positions: np.ndarray, request: "SearchRequest") -> np.ndarray:
        """Which of the candidate positions pass the request's scope and filters."""
        keep = positions >= 0
        positions = np.where(keep, positions, 0)
        if request.scope != "all":
            allowed = self._matching(self.relevances, ["relevant", "related"] if request.scope == "related" else ["relevant"])
            relevance = self.relevance[positions]
            keep &= np.isin(relevance, allowed) | (relevance == -1)
        if request.kinds:
            keep &= np.isin(self.kind[positions], self._matching(self.kinds, request.kinds))
        if request.themes:
            wanted = {t.lower() for t in request.themes}
            codes = np.array([n for n, t in enumerate(self.themes) if t.lower() in wanted
                              or str(self.theme_labels.get(t, "")).lower() in wanted], dtype=np.int32)
            keep &= self._having(self.theme_doc, self.theme, codes)[positions]
        if request.year_from:
            keep &= self.year[positions] >= request.year_from
        if request.year_to:
            keep &= (self.year[positions] <= request.year_to) & (self.year[positions] > 0)
        if request.design in ("none", "not determined"):
            keep &= self.design[positions] == -1
        elif request.design:
            code = next((c for c, label in DESIGN_LABELS.items() if request.design.lower() in (c, label.lower())), request.design)
            keep &= np.isin(self.design[positions], self._matching(self.designs, [code]))
        for kind in ("product", "jurisdiction"):
            if getattr(request, kind):
                codes = self.entity_codes(kind, getattr(request, kind))
                keep &= self._having(self.entity_doc[kind], self.entity[kind], codes)[positions]
        if request.outlet:
            keep &= np.isin(self.venue[positions], self._matching(self.venues, [request.outlet]))
        return keep

    def recall(self, key):
        """A full-text answer (or the pictures' counts) remembered for this version of the database, or None."""
        with self._lock:
            found = self._remembered.get(key)
            if found is not None:
                self._remembered.move_to_end(key)
            return found

    def remember(self, key, found) -> None:
        """Keep a full-text answer (positions, scores) or the pictures' counts while the full-text
        answers hold fewer than MATCH_CACHE_VALUES positions, forgetting the least recently used first."""
        with self._lock:
            self._remembered[key] = found
            while len(self._remembered) > 1 and (len(self._remembered) > REMEMBERED_ANSWERS or sum(
                    len(v[0]) for v in self._remembered.values() if isinstance(v, tuple)) > MATCH_CACHE_VALUES):
                self._remembered.popitem(last=False)

    TABLE_COLUMNS = ("kind", "year", "study_design", "venue", "relevance", "themes", "products")

    def _column(self, column: str) -> tuple[np.ndarray | None, np.ndarray, list]:
        """(document of each value or None for one value per document, codes, labels) of a documents column."""
        if column == "themes":
            return self.theme_doc, self.theme, self.themes
        if column == "products":
            return self.entity_doc["product"], self.entity["product"], self.entities["product"]
        if column == "year":
            years = np.unique(self.stated_year[self.stated_year >= 0])
            codes = np.where(self.stated_year >= 0, np.searchsorted(years, self.stated_year), -1).astype(np.int32)
            return None, codes, years.tolist()
        codes, labels = {"kind": (self.kind, self.kinds), "study_design": (self.design, self.designs),
                         "venue": (self.venue, self.venues), "relevance": (self.relevance, self.relevances)}[column]
        return None, codes, labels

    def table_mask(self, equal: list[tuple[str, str]], scope: str | None) -> np.ndarray:
        """Which documents a documents table page keeps: every (column, value) of `equal` holds
        (Datasette's `column=value`; for themes and products, the document has the value), and the
        relevance `scope` (None: no scope filter). Raises KeyError for a column not in TABLE_COLUMNS."""
        mask = np.ones(self.size, dtype=bool)
        if scope is not None and scope != "all":
            allowed = self._matching(self.relevances, ["relevant", "related"] if scope == "related" else ["relevant"])
            mask &= np.isin(self.relevance, allowed) | (self.relevance == -1)
        for column, value in equal:
            doc, codes, labels = self._column(column)
            wanted = np.array([n for n, label in enumerate(labels) if str(label) == value], dtype=np.int32)
            mask &= np.isin(codes, wanted) if doc is None else self._having(doc, codes, wanted)
        return mask

    def table_counts(self, column: str, mask: np.ndarray) -> list[tuple]:
        """[(value, documents)] of a documents column over the documents `mask` keeps, most first
        (ties by value); None counts the documents without a value (single-valued columns only)."""
        doc, codes, labels = self._column(column)
        if doc is not None:
            codes = codes[mask[doc]] if len(doc) else codes[:0]
        else:
            codes = codes[mask]
        counts = np.bincount(codes + 1, minlength=len(labels) + 1)
        found = [(None if n == 0 else labels[n - 1], int(c)) for n, c in enumerate(counts) if c]
        found.sort(key=lambda vc: (-vc[1], vc[0] is None, str(vc[0])))
        return found

    def picture_counts(self, scope: str) -> dict:
        """What the charts and the evidence map draw, for the documents of a relevance scope:
        {"year_kind": {(year, kind): documents}, "year_theme": {(year, theme): documents},
        "theme_design": {(theme, study design or None): documents}, "undated": documents in scope
        without a year, "outside": documents the scope leaves out}. Years are the documents' own
        `year`; a document counts once per theme. Counted once per scope and version of the database."""
        found = self.recall(("pictures", scope))
        if found is None:
            found = self._picture_counts(scope)
            self.remember(("pictures", scope), found)
        return found

    def _picture_counts(self, scope: str) -> dict:
        mask = self.table_mask([], scope)
        dated = mask & (self.stated_year >= 0)

        def pairs(first: np.ndarray, first_labels: list, second: np.ndarray, second_labels: list) -> dict:
            if not len(first):
                return {}
            width = len(second_labels) + 1
            counts = np.bincount((first.astype(np.int64) + 1) * width + second + 1, minlength=(len(first_labels) + 1) * width)
            return {(None if a == 0 else first_labels[a - 1], None if b == 0 else second_labels[b - 1]): int(n)
                    for (a, b), n in ((divmod(int(k), width), n) for k, n in enumerate(counts)) if n}
        _, years, year_labels = self._column("year")
        themed = mask[self.theme_doc] if len(self.theme_doc) else np.zeros(0, dtype=bool)
        dated_themes = themed & (self.stated_year[self.theme_doc] >= 0) if len(self.theme_doc) else themed
        return {"year_kind": pairs(years[dated], year_labels, self.kind[dated], self.kinds),
                "year_theme": pairs(years[self.theme_doc[dated_themes]], year_labels, self.theme[dated_themes], self.themes),
                "theme_design": pairs(self.theme[themed], self.themes, self.design[self.theme_doc[themed]], self.designs),
                "undated": int((mask & (self.stated_year < 0)).sum()), "outside": int((~mask).sum())}

    def order(self, positions: np.ndarray, scores: np.ndarray, sort: str, needed: int | None = None) -> np.ndarray:
        """Indices that put the positions in the request's order (undated last when by date): all
        of them, or only the first `needed` (found by partition, ties at the cut included, then sorted)."""
        dates = self.date[positions]
        undated = np.iinfo(np.int64).max
        if sort == "newest":
            keys = (-scores, np.where(dates < 0, undated, -dates))
        elif sort == "oldest":
            keys = (-scores, np.where(dates < 0, undated, dates))
        else:
            keys = (-dates, -scores)
        if needed and len(positions) > 4 * needed:
            primary = keys[-1]
            cut = np.partition(primary, needed - 1)[needed - 1]
            chosen = np.nonzero(primary <= cut)[0]
            return chosen[np.lexsort(tuple(key[chosen] for key in keys))][:needed]
        return np.lexsort(keys)

    def facets(self, positions: np.ndarray) -> dict:
        """The search page's facets over the documents at `positions` (see `shown_facets`)."""
        chosen = np.zeros(self.size, dtype=bool)
        chosen[positions] = True

        def single(codes):
            return np.bincount(codes[codes >= 0] + 1, minlength=1)

        def multi(doc, codes):
            return single(codes[chosen[doc]]) if len(doc) else np.zeros(1, dtype=np.int64)
        years = self.year[positions]
        counted = {"kind": single(self.kind[positions]), "theme": multi(self.theme_doc, self.theme),
                   "design": single(self.design[positions]), "venue": single(self.venue[positions]),
                   "year": np.bincount(years[years > 0], minlength=1)}
        for kind in ("product", "jurisdiction"):
            counted[kind] = multi(self.entity_doc[kind], self.entity[kind])
        return self.shown_facets({name: {n: int(c) for n, c in enumerate(counts.tolist()) if c}
                                  for name, counts in counted.items()})

    def shown_facets(self, counted: dict) -> dict:
        """The facets as the page lists them: {facet: [{value, label, n}]}, most documents first
        (years newest first), outlets, products and jurisdictions the FACET_LIMIT largest, from
        `counted`: {kind, theme, design, venue, product, jurisdiction: {label code + 1: documents},
        year: {year: documents}} (code 0 and year 0, no value, are not listed)."""
        def listed(name, labels, limit=None):
            found = [(labels[code - 1], n) for code, n in counted.get(name, {}).items() if 0 < code <= len(labels) and n]
            found.sort(key=lambda kv: (-kv[1], str(kv[0])))
            return found[:limit] if limit else found
        years = sorted(((year, n) for year, n in counted.get("year", {}).items() if year > 0 and n), reverse=True)
        facets = {
            "kind": [{"value": v, "label": v, "n": n} for v, n in listed("kind", self.kinds)],
            "theme": [{"value": v, "label": self.theme_labels.get(v, v), "n": n} for v, n in listed("theme", self.themes)],
            "year": [{"value": int(v), "label": int(v), "n": n} for v, n in years],
            "design": [{"value": v, "label": DESIGN_LABELS.get(v, v), "n": n} for v, n in listed("design", self.designs)],
            "outlet": [{"value": v, "label": v, "n": n} for v, n in listed("venue", self.venues, FACET_LIMIT)],
        }
        for kind in ("product", "jurisdiction"):
            facets[kind] = [{"value": v, "label": v, "n": n} for v, n in listed(kind, self.entities[kind], FACET_LIMIT)]
        return facets


_INDEXES: dict = {}
_LOCK = threading.Lock()
_BUILDING: dict = {}


def _stamp(path: str) -> tuple:
    """A file's size and modification time; an empty or missing file (a WAL opened by a reader) is ()."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return ()
    return (found.st_size, found.st_mtime_ns) if found.st_size else ()


STALE_AFTER = 50_000  # documents: a larger index is rebuilt in the background while the old one answers


def index_for(conn) -> SearchIndex:
    """The SearchIndex of the database `conn` reads, built once per version of the file: a change
    to the database or its write-ahead log (a harvest, a tagging run) makes the next search rebuild it.
    Threads asking for the same file while it is built wait for that build rather than repeat it,
    except that an index of more than STALE_AFTER documents keeps answering while its successor is
    built on a thread of its own (seconds at a million documents; documents added meanwhile wait
    for it, as `_positions` says), so a nightly run's writes never hold up the site."""
    path = file_of(conn)
    signature = (_stamp(path), _stamp(f"{path}-wal")) if path else None
    with _LOCK:
        building = _BUILDING.setdefault(path, threading.Lock())
        cached = _INDEXES.get(path)
    if cached and signature is not None and cached[0] != signature and len(cached[1].ids) > STALE_AFTER:
        if building.acquire(blocking=False):  # nobody is building it yet: start, and answer with the old one
            threading.Thread(target=_rebuild, args=(path, building), name="search-index", daemon=True).start()
        return cached[1]
    with building:
        return _build(conn, path, signature)


def _build(conn, path: str, signature) -> SearchIndex:
    """The index for `signature` (built unless it is there already); call holding the path's lock."""
    with _LOCK:
        cached = _INDEXES.get(path)
        if cached and signature is not None and cached[0] == signature:
            return cached[1]
    built = SearchIndex(conn)
    if signature is not None:
        with _LOCK:
            _INDEXES[path] = (signature, built)
    return built


def _rebuild(path: str, building: threading.Lock) -> None:
    """Build the index of the file at `path` on a read-only connection of its own, then release
    `building` (acquired by the caller)."""
    import sqlite3
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        try:
            _build(conn, path, (_stamp(path), _stamp(f"{path}-wal")))
        finally:
            conn.close()
    finally:
        building.release()


def warm(path: str) -> threading.Thread:
    """Build the SearchIndex of the database file at `path` on a thread of its own (read-only), so
    the first visitor of a large corpus does not wait for it; returns the started thread."""
    def build():
        import sqlite3
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        try:
            index = index_for(conn)
            if index.size > textindex.BUILD_AT and textindex.current(conn, index) is None:
                textindex.build_soon(path, wait=True)
        finally:
            conn.close()
    thread = threading.Thread(target=build, name="search-index", daemon=True)
    thread.start()
    return thread


def _positions(index: SearchIndex, rows) -> tuple[np.ndarray, np.ndarray]:
    """(rowid, score) rows as index positions (-1 for a document added since the index was built:
    it waits for the next build) and scores."""
    rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    scores = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    return _inside(index, rowids), scores


def _inside(index: SearchIndex, rowids: np.ndarray) -> np.ndarray:
    positions = np.full(len(rowids), -1, dtype=np.int64)
    inside = rowids < len(index.position)
    positions[inside] = index.position[rowids[inside]]
    return positions


FTS_CHUNK = 200_000  # rowids read as one string (1.6 MB at seven digits; the site's limit on a value is 4 MB)
MATCH_CACHE_VALUES = 4_000_000  # positions (and scores) kept per index for repeated full-text matches
REMEMBERED_ANSWERS = 2_000  # answers of any kind kept per index (the text index's are a page and counts each)


def _fts(conn, index: SearchIndex, match: str, score: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions (and, when `score` is an SQL expression, scores) of a full-text match, read as
    comma-separated lists (for 80,000 matches, four times faster than a row each). The answer is
    kept with the index (see `SearchIndex.remember`), so the same words asked again with other
    filters, another page, an export or a feed do not read the full-text index again."""
    key = (match, score)
    found = index.recall(key)
    if found is not None:
        return found
    rowids, scores = [], []
    after, chunk = -(2 ** 63), FTS_CHUNK if score is None else FTS_CHUNK // 4
    while True:  # in rowid order, a chunk at a time: one string per chunk stays under SQLite's length limit
        listed, scored, count, last = conn.execute(
            f"SELECT group_concat(r), group_concat(s), count(*), max(r) FROM (SELECT rowid AS r, {score or 'NULL'} AS s "
            "FROM documents_fts WHERE documents_fts MATCH ? AND rowid > ? ORDER BY rowid LIMIT ?)", [match, after, chunk]).fetchone()
        if listed:
            rowids.append(np.fromstring(listed, sep=",", dtype=np.int64))
            if score is not None:
                scores.append(np.fromstring(scored, sep=",", dtype=np.float64))
        if count < chunk:
            break
        after = last
    found = (_inside(index, np.concatenate(rowids) if rowids else np.zeros(0, dtype=np.int64)),
             None if score is None else (np.concatenate(scores) if scores else np.zeros(0)))
    index.remember(key, found)
    return found


def _candidates(conn, index: SearchIndex, request: SearchRequest, match: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in the index) of the documents a request starts from, and their scores (higher
    is better; full-text matches are scored later, by `_ranked`): the full-text matches, a
    document's neighbours (harvest.similar), the documents citing one, or every document."""
    if request.similar:  # wording and shared facts, blended (harvest.similar)
        return _positions(index, similar_documents(conn, request.similar))
    elif request.cited:
        sql, params = ("SELECT d.rowid, 0.0 FROM citations c JOIN documents d ON d.id = c.citing_id WHERE c.cited_id = :cited",
                       {"cited": request.cited})
    elif match:
        positions, _ = _fts(conn, index, match)
        return positions, np.zeros(len(positions))
    else:
        return np.arange(index.size), np.zeros(index.size)
    return _positions(index, conn.execute(sql, params).fetchall())


TITLE_TIER = 1e6  # added to a title match's score: above any bm25 over the whole text


def _ranked(conn, index: SearchIndex, match: str, positions: np.ndarray, kept: np.ndarray, needed: int | None) -> np.ndarray:
    """Relevance scores of full-text matches: documents whose title matches the query first,
    ranked by bm25 on the title; then the others, by bm25 over title, summary and text (weights
    10, 3, 1). The second ranking is computed only when the page asked for reaches past the title
    matches (`needed`; None for all), which keeps a broad query over 100,000 documents fast."""
    score = np.zeros(index.size)
    title_positions, title_scores = _fts(conn, index, "{title} : (" + match + ")", "-bm25(documents_fts)")
    inside = title_positions >= 0
    score[title_positions[inside]] = TITLE_TIER + title_scores[inside]
    scores = score[np.where(positions >= 0, positions, 0)]
    if needed is None or int((scores[kept] > 0).sum()) < needed:
        full_positions, full_scores = _fts(conn, index, match, "-bm25(documents_fts, 10.0, 3.0, 1.0)")
        inside = full_positions >= 0
        rest = np.zeros(index.size)
        rest[full_positions[inside]] = full_scores[inside]
        scores = np.where(scores > 0, scores, rest[np.where(positions >= 0, positions, 0)])
    return scores


def _matches(conn, index: SearchIndex, request: SearchRequest, match: str,
             needed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(every matching position, in no particular order; the first `needed` of them in the
    request's order, or all of them when `needed` is None)."""
    positions, scores = _candidates(conn, index, request, match)
    keep = index.keep(positions, request)
    if match and not (request.similar or request.cited) and request.sort == "relevance":
        scores = _ranked(conn, index, match, positions, keep, needed)
    elif match and not (request.similar or request.cited):
        scores = np.zeros(len(positions))  # by date: ties keep the index order
    positions, scores = positions[keep], scores[keep]
    return positions, positions[index.order(positions, scores, request.sort, needed)]


def ordered_ids(conn, request: SearchRequest, synonyms=None) -> list[str]:
    """Every matching document's id, in the request's order (for exports and feeds)."""
    synonyms = synonyms if synonyms is not None else load_synonyms()
    match = fts_match(parse_query(request.q), synonyms) if request.q else ""
    index = index_for(conn)
    engine = _engine(conn, index, request, match)
    rowids = _asked(engine, lambda: engine.ordered_rowids(index, request, parse_query(request.q), synonyms))
    if rowids is not None:
        positions = _inside(index, np.array(rowids, dtype=np.int64))
        return index.ids[positions[positions >= 0]].tolist()
    _, ordered = _matches(conn, index, request, match)
    return index.ids[ordered].tolist()


def _engine(conn, index: SearchIndex, request: SearchRequest, match: str):
    """The text index (harvest.textindex) that answers this request, when the request is a text
    query and an index built from this very version of the database is there; else None (FTS5
    answers). A missing or stale one on a large corpus is (re)built on a thread of its own."""
    if not match or match == NOTHING or request.similar or request.cited:
        return None
    engine = textindex.current(conn, index)
    if engine is None and index.size > textindex.BUILD_AT:
        path = file_of(conn)
        if path:
            textindex.build_soon(path)
    return engine


def _asked(engine, call):
    """What the text index answers to `call`, or None when there is no index or it cannot be read
    (then it is set aside, said once on stderr, and FTS5 answers: a damaged index never fails a page)."""
    if engine is None:
        return None
    try:
        return call()
    except (OSError, ValueError) as error:
        textindex.damaged(engine.directory, error)
        return None


def highlighted(text: str | None) -> Markup:
    """A snippet made by snippet() with MARK_OPEN/MARK_CLOSE: the text escaped, then each pair of
    marks made <mark>...</mark>; an unpaired mark character (one the text itself held) is dropped."""
    escaped = str(escape(text or ""))
    marked = re.sub(f"{MARK_OPEN}([^{MARK_OPEN}{MARK_CLOSE}]*){MARK_CLOSE}", r"<mark>\1</mark>", escaped)
    return Markup(marked.replace(MARK_OPEN, "").replace(MARK_CLOSE, ""))


def readable_text(value: str | None) -> str:
    """A column's value as a person reads it: JSON text (an array or object, as the incidents' lists
    are stored) becomes its items joined by ", " and an object's pairs "key: value" joined by "; "
    (nested likewise, empty values left out); any other value is returned as it is. Snippet marks
    inside the JSON strings are kept (marks around a bare number are dropped)."""
    text = (value or "").strip()
    if not text.startswith(("[", "{")):
        return value or ""
    try:
        data = json.loads(text, strict=False)  # strict=False: a mark (a control character) inside a string
    except ValueError:
        try:  # a mark outside a string (around a number): the readable text without marks
            data = json.loads(text.replace(MARK_OPEN, "").replace(MARK_CLOSE, ""), strict=False)
        except ValueError:
            return value or ""

    def flat(item) -> str:
        if isinstance(item, list):
            return ", ".join(flat(x) for x in item if x not in (None, "", [], {}))
        if isinstance(item, dict):
            return "; ".join(f"{k}: {flat(x)}" for k, x in item.items() if x not in (None, "", [], {}))
        return str(item)
    return flat(data)


def readable_snippet(conn, table: str, rowid: int, match: str, tokens: int = 24) -> Markup | None:
    """The snippet of one row of an FTS5 `table` for `match`, readable whatever its columns hold:
    the text column with most matches as an FTS5 snippet of about `tokens` tokens, followed by each
    matching JSON column (a list of harms, products...) as "column: item, item" with the match
    marked (readable_text). Escaped, with <mark>; None when no column holds a match."""
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    parts = []
    for n, column in enumerate(columns):
        # a JSON list or object, not text that opens with a bracket ("[Chatbots and psychosis].", a translated title)
        is_json = (f"(CASE WHEN ltrim({column}) GLOB '[[{{]*' AND json_valid({column}) "
                   f"THEN json_type({column}) IN ('array', 'object') ELSE 0 END)")
        parts.append(f"{is_json}, CASE WHEN {is_json} THEN highlight({table}, {n}, '{MARK_OPEN}', '{MARK_CLOSE}') "
                     f"ELSE snippet({table}, {n}, '{MARK_OPEN}', '{MARK_CLOSE}', ' … ', {tokens}) END")
    row = conn.execute(f"SELECT {', '.join(parts)} FROM {table} WHERE {table} MATCH ? AND rowid = ?", [match, rowid]).fetchone()
    if row is None:
        return None
    found = [(column, bool(row[2 * n]), row[2 * n + 1] or "") for n, column in enumerate(columns)]
    texts = [text for _, is_json, text in found if not is_json and MARK_OPEN in text]
    shown = [max(texts, key=lambda text: text.count(MARK_OPEN))] if texts else []
    shown += [f"{column}: {readable_text(text)}" for column, is_json, text in found if is_json and MARK_OPEN in text]
    return highlighted(" · ".join(shown)) if shown else None


def _page(conn, ids: list[str], match: str) -> list[dict]:
    """One page of results, in the order of `ids`, with what the list shows of each."""
    if not ids:
        return []
    found = {r["id"]: r for r in query_rows(conn, f"""SELECT d.rowid AS rowid_, d.id, {DATE} AS date, d.kind, d.title, d.venue,
                                                       d.url, d.abstract, d.relevance, d.retracted FROM documents d
                                                       WHERE d.id IN ({', '.join('?' * len(ids))})""", ids)}
    rows = [found[i] for i in ids if i in found]
    for row in rows:
        row["themes"] = query_rows(conn, "SELECT t.theme AS id, coalesce(th.label, t.theme) AS label FROM document_themes t "
                                         "LEFT JOIN themes th ON th.id = t.theme WHERE t.document_id = ? ORDER BY t.score DESC",
                                   [row["id"]])
        row["cited_by"] = conn.execute("SELECT count(*) FROM citations WHERE cited_id = ?", [row["id"]]).fetchone()[0]
        row["incidents"] = query_rows(conn, "SELECT i.id, i.title FROM incident_documents l JOIN incidents i ON "
                                            "i.id = l.incident_id WHERE l.document_id = ?", [row["id"]])
        snippet = None
        if match:
            snippet = readable_snippet(conn, "documents_fts", row["rowid_"], match, 28)
        row["snippet"] = snippet or (row["abstract"] or "")[:300]
        del row["abstract"], row["rowid_"]
    return rows


def _incidents(conn, match: str) -> list[dict]:
    """The five incidents best matching `match` (bm25 over their text), each with its snippet and
    what a reader needs to follow it up: `documents` (every linked document), `roles` [(role,
    count)] (report, filing, response, ...), `first_report` and `last_report` (the earliest and
    latest publication dates of its dated documents, as precise as known), `undated` (linked
    documents without a date) and `latest` (the newest dated one: id, title, venue, published)."""
    rows = query_rows(conn, """SELECT i.id, i.title, i.status, i.first_reported, i.rowid AS rowid_, i.summary
                                FROM incidents_fts JOIN incidents i ON i.rowid = incidents_fts.rowid
                                WHERE incidents_fts MATCH ? ORDER BY bm25(incidents_fts, 10.0, 3.0, 1.0, 2.0, 1.0, 2.0, 1.0)
                                LIMIT 5""", [match])
    for row in rows:
        row["snippet"] = readable_snippet(conn, "incidents_fts", row.pop("rowid_"), match, 20) or row["summary"] or ""
        del row["summary"]
        row["documents"], row["first_report"], row["last_report"], row["undated"] = conn.execute(
            "SELECT count(*), min(d.published), max(d.published), sum(d.published IS NULL) FROM incident_documents l "
            "JOIN documents d ON d.id = l.document_id WHERE l.incident_id = ?", [row["id"]]).fetchone()
        row["undated"] = row["undated"] or 0
        row["roles"] = conn.execute("SELECT l.role, count(*) AS n FROM incident_documents l JOIN documents d ON "
                                    "d.id = l.document_id WHERE l.incident_id = ? GROUP BY l.role ORDER BY n DESC, l.role",
                                    [row["id"]]).fetchall()
        latest = query_rows(conn, "SELECT d.id, d.title, d.url, d.venue, d.published FROM incident_documents l JOIN documents d "
                                  "ON d.id = l.document_id WHERE l.incident_id = ? AND d.published IS NOT NULL "
                                  "ORDER BY d.published DESC, d.id LIMIT 1", [row["id"]])
        row["latest"] = latest[0] if latest else None
    return rows


def _loosenings(conn, index: SearchIndex, request: SearchRequest, clauses, synonyms) -> list[dict]:
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
            if term.kind == "phrase" and " " in term.text and not term.excluded:  # an excluded phrase stays excluded
                words = [c for c in clauses if c is not clause] + [[Term(w)] for w in term.text.split()]
                tries.append((f'search the words of "{term.text}" anywhere, not as a phrase', {"q": shown_query(words)}))
    found = []
    for label, changes in tries[:8]:
        loosened = replace(request, page=1, **changes)
        match = fts_match(parse_query(loosened.q), synonyms) if loosened.q else ""
        if match == NOTHING:  # only exclusions left
            continue
        engine = _engine(conn, index, loosened, match)
        n = _asked(engine, lambda: engine.count(index, loosened, parse_query(loosened.q), synonyms))
        if n is None:
            positions, _ = _candidates(conn, index, loosened, match)
            n = int(index.keep(positions, loosened).sum())
        if n:
            found.append({"label": label, "n": n, "args": loosened.args()})
    return found


def search(conn, request: SearchRequest, synonyms: dict | None = None) -> dict:
    """Run a search on a sqlite3 connection. Returns {total, estimated (None, or the share of the
    matches the total and facets were counted on: see harvest.textindex), results (one page),
    facets, unknown (filters naming a theme, product or place the corpus does not know; see
    SearchIndex.unknown), incidents (the five best matching, on the first page), incidents_total
    (how many match), suggestions (only when nothing matched), query (as understood), match (the
    FTS5 expression), engine ("tantivy" when the text index answered, else "fts5")}.
    A query with nothing searchable in it (only quotes or punctuation) finds nothing, never everything."""
    synonyms = load_synonyms() if synonyms is None else synonyms
    clauses = parse_query(request.q)
    match = fts_match(clauses, synonyms) if request.q.strip() else ""  # stray syntax alone: NOTHING
    index = index_for(conn)
    start = (request.page - 1) * PAGE_SIZE
    engine = _engine(conn, index, request, match)
    key = ("engine", tuple(request.args()))
    found = index.recall(key) if engine is not None else None
    if engine is not None and found is None:
        answer = _asked(engine, lambda: engine.search(index, request, clauses, synonyms, start, PAGE_SIZE))
        if answer is None:
            engine = None
        else:
            total, rowids, counted, share = answer
            found = {"total": total, "positions": _inside(index, np.array(rowids, dtype=np.int64)), "counted": counted,
                     "share": share}
            index.remember(key, found)
    if engine is not None:
        total, page, facets, share = found["total"], found["positions"], index.shown_facets(found["counted"]), found["share"]
    else:
        positions, ordered = _matches(conn, index, request, match, needed=start + PAGE_SIZE)
        total, page, facets, share = len(positions), ordered[start:start + PAGE_SIZE], index.facets(positions), None
    return {"total": total, "estimated": share, "results": _page(conn, index.ids[page[page >= 0]].tolist(), match),
            "facets": facets, "unknown": index.unknown(request),
            "incidents": _incidents(conn, match) if match and request.page == 1 else [],
            "incidents_total": conn.execute("SELECT count(*) FROM incidents_fts WHERE incidents_fts MATCH ?", [match]
                                            ).fetchone()[0] if match and match != NOTHING and request.page == 1 else 0,
            "query": shown_query(clauses), "match": match, "engine": "tantivy" if engine is not None else "fts5",
            "suggestions": _loosenings(conn, index, request, clauses, synonyms) if not total else []}
