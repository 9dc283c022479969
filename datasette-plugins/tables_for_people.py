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
  facets are listed in year order (templates/_table_for_people.html, _facet_results.html).
"""

import json
import re
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.filters import FilterArguments
from markupsafe import Markup, escape

from harvest.search import SCOPES, scope_clause

DEFAULT_COLUMNS = {"documents": ["title", "kind", "venue", "published", "themes", "study_design"],
                   "incidents": ["title", "status", "first_reported", "location", "products", "harms"]}
TABLE_PAGE = re.compile(r"^/(?P<database>[^/]+)/(?P<table>documents|incidents)$")
FACET_LINKS = {"documents": [("theme", "_facet_array", "themes"), ("product", "_facet_array", "products"),
                             ("venue or outlet", "_facet", "venue"), ("jurisdiction", "_facet", "jurisdiction"),
                             ("relevance", "_facet", "relevance")],
               "incidents": [("product", "_facet_array", "products"), ("harm", "_facet_array", "harms"),
                             ("company", "_facet_array", "companies")]}
CHIP_COLUMNS = {"themes", "products", "companies", "harms"}
DOCUMENT_ID = re.compile(r"d[0-9a-f]{12}")  # a document's permanent id (incidents have words)
MARKED = re.compile(r"\[([^\[\]<>]{1,100})\]")
TIMESTAMP_COLUMNS = {"first_seen", "last_seen", "fetched_at", "changed_at", "first_fetched", "last_fetched"}


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


@hookimpl
def filters_from_request(request, database, table, datasette):
    if table != "documents" or _own_relevance_filter(request):
        return None
    scope = request.args.get("_relevance", "relevant")
    if scope not in SCOPES or scope == "all":
        return None
    return FilterArguments([scope_clause(scope, "relevance")],
                           human_descriptions=["relevant documents" if scope == "relevant" else "relevant and related documents"])


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
    return context
