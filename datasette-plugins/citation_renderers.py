"""`.bib`, `.ris` and `.csljson` on any table or query whose rows name documents (an `id` column
on `documents` or beside a `kind` column in a query, or a `document_id` column elsewhere), so a filtered list goes straight into
Zotero or any reference manager. The rows' order is kept; every row is looked up by its id.
Exports are whole: every row the table filter or query matches, not one page (harvest.exports)."""

from datasette import hookimpl
from datasette.utils.asgi import Response

from harvest.exports import export, ids_of_query, without_page_limit

FORMATS = ("bib", "ris", "csljson")


def _id_column(columns, table):
    if "id" in columns and (table == "documents" or (table is None and "kind" in columns)):
        return "id"  # the documents table, or a query listing documents (id and kind)
    return "document_id" if "document_id" in columns else None


def can_render(columns, table):
    return _id_column(columns, table) is not None


def _renderer(extension):
    async def render(datasette, request, database, table, columns, rows, sql, data):
        column = _id_column(columns, table)
        if column is None:
            return Response.text("These rows do not name documents (no id or document_id column).", status=400)
        # Every matching row, not only this page's: the page's SQL again without its page limit.
        query = (data or {}).get("query") or {}
        ids = await ids_of_query(datasette, database, without_page_limit(sql) if table else sql, query.get("params"), column) \
            if sql else [row[column] for row in rows]
        return export(datasette, request, database, ids, extension, table or (data or {}).get("query_name") or "query",
                      single="id" in request.args)
    return render


@hookimpl
def register_output_renderer():
    return [{"extension": extension, "render": _renderer(extension), "can_render": can_render} for extension in FORMATS]
