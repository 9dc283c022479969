"""`.bib`, `.ris` and `.csljson` on any table or query whose rows name documents (an `id` column
on `documents` or beside a `kind` column in a query, or a `document_id` column elsewhere), so a filtered list goes straight into
Zotero or any reference manager. The rows' order is kept; every row is looked up by its id."""

from datasette import hookimpl
from datasette.utils.asgi import Response

from harvest.cite import bibtex, csl_item, csl_json, load_citable, ris
from harvest.serve import public_url

FORMATS = {"bib": (bibtex, "application/x-bibtex"), "ris": (ris, "application/x-research-info-systems"),
           "csljson": (csl_json, "application/vnd.citationstyles.csl+json")}


def _id_column(columns, table):
    if "id" in columns and (table == "documents" or (table is None and "kind" in columns)):
        return "id"  # the documents table, or a query listing documents (id and kind)
    return "document_id" if "document_id" in columns else None


def can_render(columns, table):
    return _id_column(columns, table) is not None


def _renderer(extension):
    async def render(datasette, request, database, table, columns, rows):
        column = _id_column(columns, table)
        if column is None:
            return Response.text("These rows do not name documents (no id or document_id column).", status=400)
        ids = list(dict.fromkeys(row[column] for row in rows if row[column]))

        def items(conn):
            return [csl_item(record, public_url(datasette.urls.row(database, "documents", record["id"])))
                    for record in load_citable(conn, ids)]
        found = await datasette.get_database(database).execute_fn(items)
        write, content_type = FORMATS[extension]
        name = f"{table or 'query'}.{extension}"
        return Response(write(found), content_type=f"{content_type}; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}"'})
    return render


@hookimpl
def register_output_renderer():
    return [{"extension": extension, "render": _renderer(extension), "can_render": can_render} for extension in FORMATS]
