"""The search page for people (harvest.search does the searching):

/-/search?q=...                  one box; results as a list with highlighted snippets, facets with
                                 counts beside them, relevant documents first (scope=related|all for
                                 more), sort=relevance|newest|oldest, matching incidents on top
/-/search.bib|.ris|.csljson|.csv|.json?q=...   every matching document, streamed (harvest.exports)
/-/search.atom?q=...             an alert: the newest matches as an Atom feed, for a feed reader
/<db>/documents.atom?kind=news   the same for any table or query listing documents
/-/search?similar=ID             documents like ID: similar wording blended with shared entities, themes,
                                 citations or story (harvest.similar), each saying what it shares
/-/search?cited=ID               documents citing ID

Every filter is a plain word in the address (kind=news, theme=Safety or theme=safety,
product=Character.AI, year=2024, year_from=2024), so a search is a link that can be saved or shared;
the documents table's names for them work too (`_theme=`, `study_design=`, `venue=`, `year__gte=`).
What cannot be applied (`year=20x4`, an argument the page does not know) is never dropped without
a word: the page lists it under "Not applied", and an export or a feed answers 400 naming it.
"""

from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response

from harvest.escape import xml_text
from harvest.exports import export, ids_of_query, without_page_limit
from harvest.search import DESIGN_LABELS, PAGE_SIZE, SCOPES, SORTS, SearchRequest, load_synonyms, ordered_ids, search
from harvest.serve import public_url, served_database
from harvest.similar import why_similar
from harvest.text import folded

FEED_SIZE = 50
FACETS = [("kind", "Kind"), ("theme", "Theme"), ("year", "Year"), ("design", "Study design"), ("product", "Product"),
          ("jurisdiction", "Jurisdiction"), ("outlet", "Outlet or journal")]


def _link(path: str, pairs) -> str:
    return path + ("?" + urlencode(pairs) if pairs else "")


def _facet_links(request: SearchRequest, facets: dict) -> list[dict]:
    shown = []
    for name, label in FACETS:
        values = []
        for row in facets.get(name) or []:
            value = str(row["value"])
            if name == "kind":
                selected = value in request.kinds
                changes = {"kinds": [k for k in request.kinds if k != value] if selected else request.kinds + [value]}
            elif name == "theme":  # asked by id or label, in any case (theme=Safety)
                spellings = {value.lower(), str(row["label"]).lower()}
                selected = any(t.lower() in spellings for t in request.themes)
                changes = {"themes": [t for t in request.themes if t.lower() not in spellings] if selected
                           else request.themes + [value]}
            elif name == "year":
                selected = request.year_from == request.year_to == row["value"]
                changes = {"year_from": None, "year_to": None} if selected else {"year_from": row["value"], "year_to": row["value"]}
            else:
                selected = getattr(request, name).lower() == value.lower()
                changes = {name: "" if selected else value}
            values.append({"label": row["label"], "n": row["n"], "selected": selected,
                           "href": _link("", request.args(page=1, **changes))})
        if values:
            shown.append({"name": name, "label": label, "values": values})
    return shown


async def _search_page(datasette, request):
    asked = SearchRequest.from_args(request.args)
    database = served_database(datasette)
    synonyms = load_synonyms()
    found = await datasette.get_database(database).execute_fn(lambda conn: search(conn, asked, synonyms))
    if asked.similar and found["results"]:  # what each neighbour shares with the document
        others = [hit["id"] for hit in found["results"]]
        why = await datasette.get_database(database).execute_fn(lambda conn: why_similar(conn, asked.similar, others))
        for hit in found["results"]:
            hit["why"] = why.get(hit["id"], [])
    here = datasette.urls.path("/-/search")
    pairs = asked.args()
    base = [p for p in pairs if p[0] != "page"]
    context = {
        "asked": asked, "found": found, "database": database, "scopes": SCOPES, "sorts": SORTS, "designs": DESIGN_LABELS,
        "facets": _facet_links(asked, found["facets"]),
        "scope_links": [(name, _link(here, asked.args(scope=name, page=1)), name == asked.scope) for name in SCOPES],
        "sort_links": [(name, label, _link(here, asked.args(sort=name, page=1)), name == asked.sort) for name, label in SORTS.items()],
        "filters": [(label, value, _link(here, asked.args(page=1, **changes))) for label, value, changes in asked.active_filters()],
        "without_refused": _link(here, pairs),
        "exports": [(label, _link(datasette.urls.path(f"/-/search.{ext}"), base)) for ext, label in
                    (("bib", "BibTeX"), ("ris", "RIS"), ("csljson", "CSL-JSON"), ("csv", "CSV"), ("json", "JSON"))],
        "feed": _link(datasette.urls.path("/-/search.atom"), [p for p in base if p[0] != "sort"]),
        "suggestions": [(s["label"], s["n"], _link(here, s["args"])) for s in found["suggestions"]],
        "previous": _link(here, asked.args(page=asked.page - 1)) if asked.page > 1 else None,
        "next": _link(here, asked.args(page=asked.page + 1)) if asked.page * PAGE_SIZE < found["total"] else None,
        "first_shown": (asked.page - 1) * PAGE_SIZE + 1,
        "focus": await _focus(datasette, database, asked),
    }
    return Response.html(await datasette.render_template("search.html", context, request=request))


async def _focus(datasette, database, asked):
    """The document a similar/cited search is about (title for the heading)."""
    document_id = asked.similar or asked.cited
    if not document_id:
        return None
    rows = (await datasette.get_database(database).execute("SELECT id, title FROM documents WHERE id = ?", [document_id])).rows
    return dict(rows[0]) if rows else {"id": document_id, "title": None}


def _refusal(asked: SearchRequest) -> Response | None:
    """An export or a feed cannot show a notice: what it cannot apply is a 400 answer naming it."""
    if not asked.refused:
        return None
    lines = [f"{name}={value}: {why}" for name, value, why in asked.refused]
    return Response.text("Not applied, so nothing was exported:\n" + "\n".join(lines) + "\n"
                         "Leave these out of the address (or correct them) and ask again.\n", status=400)


async def _search_export(datasette, request):
    extension = request.url_vars["format"]
    asked = SearchRequest.from_args(request.args)
    if refused := _refusal(asked):
        return refused
    database = served_database(datasette)
    synonyms = load_synonyms()
    ids = await datasette.get_database(database).execute_fn(lambda conn: ordered_ids(conn, asked, synonyms))
    stem = "search-" + "-".join(v for _, v in asked.args() if v)[:60] if asked.args() else "search-everything"
    return export(datasette, request, database, ids, extension, stem)


async def _search_feed(datasette, request):
    asked = SearchRequest.from_args(request.args)
    if refused := _refusal(asked):
        return refused
    database = served_database(datasette)
    synonyms = load_synonyms()
    ids = await datasette.get_database(database).execute_fn(lambda conn: ordered_ids(conn, asked, synonyms))
    page = datasette.urls.path(_link("/-/search", asked.args()))
    return await _atom(datasette, request, database, ids, f"search for {asked.q or 'everything'}", page)


async def _atom(datasette, request, database: str, ids: list[str], title: str, page: str) -> Response:
    """An Atom feed of the newest FEED_SIZE of `ids` by when the corpus first saw them (an alert:
    a new match is a new entry), with title, link, dates and a plain-text summary."""
    from feedgen.feed import FeedGenerator

    def newest(conn):
        marks = ", ".join("?" * len(ids))
        cursor = conn.execute(f"SELECT id, title, kind, venue, published, first_seen, coalesce(abstract, '') FROM documents "
                              f"WHERE id IN ({marks}) ORDER BY first_seen DESC, id DESC LIMIT {FEED_SIZE}", ids)
        names = [c[0] for c in cursor.description[:-1]] + ["summary"]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    rows = await datasette.get_database(database).execute_fn(newest) if ids else []
    self_link = public_url(request.path + ("?" + request.query_string if request.query_string else ""))
    generator = FeedGenerator()
    generator.id(self_link)
    generator.title(_feed_text(f"{datasette.metadata('title') or 'Evidence base'}: {title}"))  # the visitor's words
    generator.link(href=public_url(page), rel="alternate")
    generator.link(href=self_link, rel="self")
    generator.updated(_timestamp(max((r["first_seen"] for r in rows), default=None)))
    for row in reversed(rows):  # feedgen lists the last added first
        link = public_url(datasette.urls.row(database, "documents", row["id"]))
        entry = generator.add_entry()
        entry.id(link)
        entry.title(_feed_text(row["title"] or row["id"]))
        entry.link(href=link)
        entry.updated(_timestamp(row["first_seen"]))
        if row["published"]:
            entry.published(_timestamp(row["published"]))
        facts = ", ".join(str(v) for v in (row["kind"], row["venue"], row["published"]) if v)
        entry.summary(_feed_text(f"{facts}. {row['summary']}")[:1000])
    return Response(generator.atom_str(pretty=True), content_type="application/atom+xml; charset=utf-8")


def _feed_column(columns, table):
    if "id" in columns and (table == "documents" or (table is None and "kind" in columns)):
        return "id"
    return "document_id" if "document_id" in columns else None


async def _render_atom(datasette, request, database, table, columns, rows, sql, data):
    """`.atom` on any table or query listing documents: an alert for that filtered list."""
    column = _feed_column(columns, table)
    query = (data or {}).get("query") or {}
    ids = await ids_of_query(datasette, database, without_page_limit(sql) if table else sql, query.get("params"), column) \
        if sql else [row[column] for row in rows]
    described = table or (data or {}).get("query_name") or "query"
    human = (data or {}).get("human_description_en") or ""
    page = request.path.rsplit(".atom", 1)[0] + ("?" + request.query_string if request.query_string else "")
    return await _atom(datasette, request, database, ids, f"{described} {human}".strip(), page)


@hookimpl
def register_output_renderer():
    return {"extension": "atom", "render": _render_atom, "can_render": lambda columns, table: _feed_column(columns, table) is not None}


def _feed_text(value: str) -> str:
    """Folded text without the characters XML 1.0 cannot carry (a stray \x0b from a PDF, or typed
    into a search)."""
    return xml_text(folded(value))


def _timestamp(value) -> str:
    """An RFC 3339 time for Atom from a date as precise as the corpus knows it (2025, 2025-03, 2025-03-05...)."""
    value = (value or "1970-01-01")[:19].rstrip("Z")
    value += {4: "-01-01", 7: "-01"}.get(len(value), "")
    return (value if "T" in value else value + "T00:00:00") + "+00:00"


@hookimpl
def register_routes():
    return [(r"^/-/search$", _search_page), (r"^/-/search\.(?P<format>bib|ris|csljson|csv|json)$", _search_export),
            (r"^/-/search\.atom$", _search_feed)]
