"""Table pages for people rather than for SQL:

- the documents table shows relevant documents (and those not tagged yet) unless asked for more:
  `?_relevance=related` adds related work, `?_relevance=all` shows every record; a relevance filter
  of one's own (`?relevance=off-topic`) replaces the default;
- the documents and incidents pages open with a few readable columns (any `_col`/`_nocol` in the
  address chooses others; the HTML page only, the JSON and CSV keep every column);
- a search query's snippets mark the matched words (<mark>, after escaping) instead of [brackets];
- themes and products show as chips, titles link to their record (in tables and in queries listing
  documents), timestamps show their day;
- the column help is folded away under the rows, facet links keep the current filters, and year
  facets are listed in year order (templates/_table_for_people.html, _facet_results.html);
- the documents table's facets are `linked` facets (`?_facet_linked=themes`, and kind, year,
  study_design, venue, relevance, products): the counts come from the in-memory search index
  (harvest.search.SearchIndex, milliseconds at a million documents) when the page's filters are
  ones it knows (column=value for those columns, `_theme=`, `_product=`, the relevance switch), and
  otherwise from SQL under the facet time limit, themes and products counted from the link tables
  `document_themes` and `document_entities`, never from the JSON columns (Datasette's array facet
  over them timed out at 10,000 documents). A theme or product value links to `?_theme=ID` or
  `?_product=NAME`, a filter answered from the same link tables through their indexes. Either
  filter takes what a person would type, in any case: a theme's id or label (`_theme=Safety`), a
  product's name, id or alias (`_product=chat gpt`); a value that is none of them filters out
  every row and the page says so, naming the known themes or products (`unknown_filters`).
"""

import json
import re
import sqlite3
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.filters import FilterArguments
from datasette.utils import path_with_added_args, path_with_removed_args
from markupsafe import Markup, escape

from harvest.search import SCOPES, SearchIndex, index_for, scope_clause, warm
from harvest.serve import served_database

DEFAULT_COLUMNS = {"documents": ["title", "kind", "venue", "published", "themes", "study_design"],
                   "incidents": ["title", "status", "first_reported", "location", "products", "harms"]}
TABLE_PAGE = re.compile(r"^/(?P<database>[^/]+)/(?P<table>documents|incidents)$")
FACET_LINKS = {"documents": [("theme", "_facet_linked", "themes"), ("product", "_facet_linked", "products"),
                             ("venue or outlet", "_facet_linked", "venue"), ("jurisdiction", "_facet", "jurisdiction"),
                             ("relevance", "_facet_linked", "relevance")],
               "incidents": [("product", "_facet_array", "products"), ("harm", "_facet_array", "harms"),
                             ("company", "_facet_array", "companies")]}
CHIP_COLUMNS = {"themes", "products", "companies", "harms"}
DOCUMENT_ID = re.compile(r"d[0-9a-f]{12}")  # a document's permanent id (incidents have words)
MARKED = re.compile(r"\[([^\[\]<>]{1,100})\]")
TIMESTAMP_COLUMNS = {"first_seen", "last_seen", "fetched_at", "changed_at", "first_fetched", "last_fetched"}


# A documents list column -> (its filter argument, the link table rows holding the same values).
LISTS = {"themes": ("_theme", "SELECT document_id, theme AS value FROM document_themes"),
         "products": ("_product", "SELECT l.document_id, e.name AS value FROM document_entities l "
                                  "JOIN entities e ON e.id = l.entity_id WHERE e.type = 'product'")}
# As EXISTS (a primary-key probe per row) rather than IN (every document of a theme first): the page's
# rows then come from the `published` index with an early stop (65 ms instead of 3.6 s at 1M documents).
LIST_FILTERS = {"_theme": ("themes", "EXISTS (SELECT 1 FROM document_themes t WHERE t.document_id = documents.id "
                                     "AND t.theme = :{p})", "theme is {v}"),
                "_product": ("products", "EXISTS (SELECT 1 FROM document_entities l JOIN entities e ON e.id = l.entity_id "
                                         "WHERE l.document_id = documents.id AND e.type = 'product' AND e.name = :{p})",
                             "product is {v}")}
# The list filters' known values: (canonical value the link tables hold, label shown, every spelling accepted).
KNOWN = {"_theme": "SELECT id, label, json_array(id, label) FROM themes ORDER BY label",
         "_product": "SELECT name, name, json_insert(CASE WHEN json_valid(aliases) AND json_type(aliases) = 'array' "
                     "THEN aliases ELSE '[]' END, '$[#]', name, '$[#]', id) FROM entities "
                     "WHERE type = 'product' ORDER BY name"}


async def known_values(datasette, database: str) -> dict[str, list[tuple[str, str, set[str]]]]:
    """{`_theme`/`_product`: [(value the link tables hold, label, spellings in lower case)]}, from the
    `themes` and `entities` tables (a database without them has none)."""
    db = datasette.get_database(database)
    found = {}
    for key, sql in KNOWN.items():
        try:
            rows = (await db.execute(sql)).rows
        except sqlite3.OperationalError:  # a database without the tables: nothing is known
            rows = []
        found[key] = [(row[0], row[1], {str(s).lower() for s in json.loads(row[2] or "[]") if s}) for row in rows]
    return found


def resolved(key: str, value: str, known: dict) -> tuple[str, str] | None:
    """(value the link tables hold, label) for what was asked (`_theme=Safety`), matched without
    regard to case or surrounding spaces, or None when it names nothing known."""
    wanted = value.strip().lower()
    return next(((canonical, label) for canonical, label, spellings in known.get(key, []) if wanted in spellings), None)


def list_filter_pairs(pairs, known: dict) -> list[tuple[str, str, str, tuple[str, str] | None]]:
    """(key, value asked, canonical value or the asked one, resolved) for each `_theme`/`_product` pair."""
    found = []
    for key, value in pairs:
        if key in LIST_FILTERS and value:
            hit = resolved(key, value, known)
            found.append((key, value, hit[0] if hit else value, hit))
    return found


# Arguments of a table page that do not filter its rows (the search index answers facets with them).
NOT_FILTERS = re.compile(r"^_(facet.*|col|nocol|size|sort|sort_desc|next|labels|nolabels|nocount|nofacet|nosuggest|"
                         r"shape|json|stream|dl|trace|relevance)$")


def _own_relevance_filter(request) -> bool:
    pairs = parse_qsl(request.query_string, keep_blank_values=True)
    return any(key.startswith("relevance") or (key.startswith("_filter_column") and value == "relevance") for key, value in pairs)


def years_in_order(results: list) -> list:
    """Facet values of a year column, newest first; the empty value last."""
    return sorted(results, key=lambda r: (r["value"] is None, -(int(r["value"]) if str(r["value"]).isdigit() else 0),
                                          str(r["value"])))


@hookimpl
def prepare_jinja2_environment(env):
    env.filters["years_in_order"] = years_in_order


def _scope(request) -> str | None:
    """The relevance scope the documents page applies (None: the page has its own relevance filter)."""
    if _own_relevance_filter(request):
        return None
    scope = request.args.get("_relevance", "relevant")
    return scope if scope in SCOPES else "all"


@hookimpl
def filters_from_request(request, database, table, datasette):
    if table != "documents":
        return None

    async def arguments():
        clauses, params, described = [], {}, []
        scope = _scope(request)
        if scope in ("relevant", "related"):
            clauses.append(scope_clause(scope, "relevance"))
            described.append("relevant documents" if scope == "relevant" else "relevant and related documents")
        pairs = parse_qsl(request.query_string, keep_blank_values=True)
        listed = list_filter_pairs(pairs, await known_values(datasette, database)) \
            if any(key in LIST_FILTERS and value for key, value in pairs) else []
        for number, (key, value, canonical, hit) in enumerate(listed):
            _, sql, words = LIST_FILTERS[key]
            if hit is None:  # names nothing: no row has it, and the page says so (unknown_filters)
                clauses.append("0")
                described.append(words.format(v=value) + f" (no such {key[1:]})")
                continue
            clauses.append(sql.format(p=f"linked{number}"))
            params[f"linked{number}"] = canonical
            described.append(words.format(v=hit[1]))
        return FilterArguments(clauses, params=params, human_descriptions=described) if clauses else None
    return arguments


def indexed_filters(pairs) -> list[tuple[str, str]] | None:
    """The documents page's filters as (column, value) pairs the search index can apply, or None
    when one of them is not one it knows (a search, an operator like `year__gte`, another column)."""
    equal = []
    for key, value in pairs:
        if key in LIST_FILTERS:
            if value:
                equal.append((LIST_FILTERS[key][0], value))
        elif key in SearchIndex.TABLE_COLUMNS and key not in LISTS:
            equal.append((key, value))
        elif not NOT_FILTERS.match(key):
            return None
    return equal


class LinkedFacet(Facet):
    """Facets of the documents table that never time out: counted from the in-memory search
    index when the page's filters allow, else by SQL (list columns from their link tables)."""
    type = "linked"

    async def suggest(self):
        return []

    async def facet_results(self):
        configs = self.get_configs() if self.table == "documents" else []
        if not configs:
            return [], []
        asked = self.get_querystring_pairs()
        listed = list_filter_pairs(asked, await known_values(self.ds, self.database)) \
            if any(key in LIST_FILTERS and value for key, value in asked) else []
        canonical = {(key, value): value_ for key, value, value_, _ in listed}
        asked_as = {(key, value_): value for key, value, value_, _ in listed}  # to remove a filter as it was typed
        pairs = [(key, canonical.get((key, value), value)) for key, value in asked]
        equal = indexed_filters(pairs)
        size = self.get_facet_size()
        results, timed_out, seen = [], [], set()
        for source_and_config in configs:
            config = source_and_config["config"]
            column = config.get("column") or config["simple"]
            if column not in SearchIndex.TABLE_COLUMNS or column in seen:
                continue
            seen.add(column)
            try:
                counts = await self._counts(column, equal, size)
            except QueryInterrupted:
                timed_out.append(column)
                continue
            results.append({"name": column, "type": self.type, "hideable": source_and_config["source"] != "metadata",
                            "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet_linked": column})),
                            "truncated": len(counts) > size,
                            "results": [self._value(column, value, count, pairs, asked_as) for value, count in counts[:size]]})
        return results, timed_out

    async def _counts(self, column: str, equal, size: int) -> list[tuple]:
        database = self.ds.get_database(self.database)
        if equal is not None:
            scope = _scope(self.request)

            def counted(conn):
                index = index_for(conn)
                return index.table_counts(column, index.table_mask(equal, scope))
            return (await database.execute_fn(counted))[:size + 1]
        if column in LISTS:
            everything = " where " not in self.sql.lower()
            sql = (f"select l.value, count(*) as count from ({LISTS[column][1]}) l "
                   + ("" if everything else f"where l.document_id in (select id from ({self.sql})) ")
                   + f"group by l.value order by count desc, l.value limit {size + 1}")
        else:
            sql = (f"select [{column}] as value, count(*) as count from ({self.sql}) group by value "
                   f"order by count desc, value limit {size + 1}")
        rows = await self.ds.execute(self.database, sql, self.params, truncate=False,
                                     custom_time_limit=self.ds.setting("facet_time_limit_ms"))
        return [(row["value"], row["count"]) for row in rows.rows]

    def _value(self, column: str, value, count: int, pairs, asked_as: dict) -> dict:
        key, shown = (LISTS[column][0], str(value)) if column in LISTS else \
            ((column, str(value)) if value is not None else (f"{column}__isnull", "1"))
        selected = (key, shown) in pairs
        typed = asked_as.get((key, shown), shown)
        changed = path_with_removed_args(self.request, {key: typed}) if selected else \
            path_with_added_args(self.request, {key: shown})
        return {"value": value, "label": value, "count": count, "selected": selected,
                "toggle_url": self.ds.absolute_url(self.request, changed)}


@hookimpl
def startup(datasette):
    """Build the search index (facets, the search page, the pictures) as the server starts, off
    the request threads: about 25 s at a million documents on a loaded machine."""
    path = datasette.get_database(served_database(datasette)).path
    if path:
        warm(path)


@hookimpl
def register_facet_classes():
    return [LinkedFacet]


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def compact(scope, receive, send):
            if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
                found = TABLE_PAGE.match(scope.get("path", ""))
                args = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
                if found and not any(key in ("_col", "_nocol") for key, _ in args):
                    args += [("_col", column) for column in DEFAULT_COLUMNS[found["table"]]]
                    scope = dict(scope, query_string=urlencode(args).encode("latin-1"))
            await app(scope, receive, send)
        return compact
    return wrap


@hookimpl
def render_cell(value, column, table, row, database, datasette):
    if table is None and column == "snippet" and isinstance(value, str):  # the search queries mark matches [so]
        return Markup(MARKED.sub(r"<mark>\1</mark>", str(escape(value))))
    if table is None and column == "title" and isinstance(value, str) and "id" in row.keys() \
            and DOCUMENT_ID.fullmatch(str(row["id"])):
        return Markup('<a href="{}">{}</a>').format(datasette.urls.row(database, "documents", row["id"]), value)
    if table in ("documents", "incidents") and column == "title" and isinstance(value, str):
        key = row["id"] if "id" in row.keys() else None
        if key:
            return Markup('<a href="{}">{}</a>').format(datasette.urls.row(database, table, key), value)
    if column in CHIP_COLUMNS and isinstance(value, str) and value.startswith("["):
        try:
            names = json.loads(value)
        except ValueError:
            return None
        if isinstance(names, list):
            return Markup("").join(Markup('<span class="chip">{}</span>').format(str(n)) for n in names)
    if column in TIMESTAMP_COLUMNS and isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\dT", value):
        return Markup('<time datetime="{}" title="{}">{}</time>').format(value, value, value[:10])
    return None


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    if view_name != "table" or table not in FACET_LINKS or request is None:
        return {}
    args = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True) if k not in ("_next",)]

    def scoped(name):
        kept = [(k, v) for k, v in args if k != "_relevance" and not k.startswith("relevance")]
        kept += [("_relevance", name)] if name != "relevant" else []
        return request.path + ("?" + urlencode(kept) if kept else "")
    facets = [(label, request.path + "?" + urlencode(args + [(kind, column)])) for label, kind, column in FACET_LINKS[table]
              if (kind, column) not in args]
    context = {"people_facets": facets, "column_help": (datasette.metadata("columns", database=database, table=table) or {})}
    if table == "documents":
        current = "own" if _own_relevance_filter(request) else request.args.get("_relevance", "relevant")
        context["relevance_links"] = [(name, scoped(name),
                                       name == current, {"relevant": "relevant", "related": "+ related", "all": "everything"}[name])
                                      for name in SCOPES]
        if any(key in LIST_FILTERS and value for key, value in args):
            return _with_unknown_filters(context, datasette, database, request, args)
    return context


async def _with_unknown_filters(context: dict, datasette, database: str, request, args) -> dict:
    """The context, with `unknown_filters`: for each `_theme`/`_product` value that names nothing,
    (what it filters, the value, [(a known value's label, this page with that value instead)])."""
    known = await known_values(datasette, database)
    unknown = []
    for key, value, _, hit in list_filter_pairs(args, known):
        if hit is None:
            others = [(k, v) for k, v in args if (k, v) != (key, value)]
            unknown.append((key[1:], value, [(label, request.path + "?" + urlencode(others + [(key, canonical)]))
                                             for canonical, label, _ in known[key]]))
    return {**context, "unknown_filters": unknown}
