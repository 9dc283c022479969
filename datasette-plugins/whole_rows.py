"""Every matching row of any table or query, streamed in batches, never cut at a page:

- `.jsonl`: JSON Lines (one object a line), `documents-119.jsonl`;
- `.alljson`: one JSON array of objects, `documents-119.json`.

The count is in the file name and the X-Result-Count header. Datasette's own `.json` stays what
API clients rely on (one page of rows with `next` / `next_url` to follow, or `truncated` for a
query); `.alljson` is its whole-export twin for people and scripts that want every row in one
file. Tables also give every row as CSV with Datasette's `.csv?_stream=on`.

Rows come from one cursor (harvest.exports.query_batches): a whole export reads each row once."""

import json

from datasette import hookimpl

from harvest.exports import StreamingResponse, attachment, file_name, query_batches, without_page_limit

BATCH = 1000
FORMATS = {  # extension -> (file extension, content type, start, row separator, end)
    "jsonl": ("jsonl", "application/jsonl; charset=utf-8", "", "\n", "\n"),
    "alljson": ("json", "application/json; charset=utf-8", "[\n", ",\n", "\n]\n"),
}


def _renderer(extension):
    suffix, content_type, start, between, end = FORMATS[extension]

    async def render(datasette, request, database, table, columns, rows, sql, data):
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
    return render


@hookimpl
def register_output_renderer():
    return [{"extension": extension, "render": _renderer(extension), "can_render": lambda: True} for extension in FORMATS]
