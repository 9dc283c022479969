"""Every matching row of any table or query, streamed in batches, never cut at a page:

- `.jsonl`: JSON Lines (one object a line), `documents-119.jsonl`;
- `.alljson`: one JSON array of objects, `documents-119.json`.

The count is in the file name and the X-Result-Count header. Datasette's own `.json` stays what
API clients rely on (one page of rows with `next` / `next_url` to follow, or `truncated` for a
query); `.alljson` is its whole-export twin for people and scripts that want every row in one
file. Tables also give every row as CSV with Datasette's `.csv?_stream=on`.

A row page's whole export is that one row (`documents-<id>-1.jsonl`); a database page has no rows
of its own, so it answers 400 with a JSON error naming the database page and a table's export.

Rows come from one cursor (harvest.exports.query_batches): a whole export reads each row once."""

import json

from datasette import hookimpl
from datasette.utils.asgi import Response

from harvest.exports import StreamingResponse, attachment, file_name, query_batches, without_page_limit

BATCH = 1000
FORMATS = {  # extension -> (file extension, content type, start, row separator, end)
    "jsonl": ("jsonl", "application/jsonl; charset=utf-8", "", "\n", "\n"),
    "alljson": ("json", "application/json; charset=utf-8", "[\n", ",\n", "\n]\n"),
}


def _renderer(extension):
    suffix, content_type, start, between, end = FORMATS[extension]

    async def render(datasette, request, database, table, columns, rows, sql, data):
        if sql is None and table:  # a row page: Datasette has already read its one row
            return _one_row(table, (data or {}).get("primary_key_values") or [], rows)
        if sql is None:
            return await _not_rows(datasette, database)
        query = (data or {}).get("query") or {}
        params = query.get("params") or {}
        whole = without_page_limit(sql) if table else sql
        db = datasette.get_database(database)
        total = (await db.execute(f"SELECT count(*) FROM ({whole})", params)).rows[0][0]

        async def chunks():  # the first chunk holds the first rows: a query over the time limit is an error page
            written = False
            async for rows in query_batches(datasette, database, f"SELECT * FROM ({whole})", params, BATCH):
                objects = between.join(json.dumps(dict(row), ensure_ascii=False, default=str) for row in rows)
                yield (between if written else start) + objects
                written = True
            yield end if written else start + end.lstrip("\n")
        name = file_name(table or (data or {}).get("query_name") or "query", total, suffix)
        return StreamingResponse(chunks(), content_type,
                                 {"content-disposition": attachment(name), "x-result-count": str(total)})

    def _one_row(table, key, rows):
        objects = [json.dumps(dict(row), ensure_ascii=False, default=str) for row in rows]
        name = file_name("-".join(str(part) for part in (table, *key)), len(objects), suffix)
        return Response(start + between.join(objects) + end, content_type=content_type,
                        headers={"content-disposition": attachment(name),
                                 "x-result-count": str(len(objects))})

    async def _not_rows(datasette, database):
        db = datasette.get_database(database)
        hidden = set(await db.hidden_table_names())
        tables = [name for name in await db.table_names() if name not in hidden]
        example = datasette.urls.table(database, tables[0], format=extension) if tables else None
        return Response.json({"ok": False, "status": 400, "title": "Not a table or a query",
                              "error": f"Whole exports (.{extension}) are for a table or a query, not a whole "
                                       f"database: pick one on the database page and add .{extension} to its address.",
                              "tables": datasette.urls.database(database), "example": example}, status=400)
    return render


@hookimpl
def register_output_renderer():
    return [{"extension": extension, "render": _renderer(extension), "can_render": lambda: True} for extension in FORMATS]
