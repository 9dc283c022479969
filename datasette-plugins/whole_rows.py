""".jsonl on any table or query: every matching row as JSON Lines (one object a line), streamed,
never cut at a page. The count is in the file name (`documents-119.jsonl`) and the
X-Result-Count header. (Datasette's own `.csv?_stream=on` gives a table's every row as CSV; its
`.json` is paged.)"""

import json

from datasette import hookimpl

from harvest.exports import StreamingResponse, file_name, without_page_limit

BATCH = 1000


async def render(datasette, request, database, table, columns, rows, sql, data):
    query = (data or {}).get("query") or {}
    params = query.get("params") or {}
    whole = without_page_limit(sql) if table else sql
    db = datasette.get_database(database)
    total = (await db.execute(f"SELECT count(*) FROM ({whole})", params)).rows[0][0]

    async def lines():
        for offset in range(0, total, BATCH):
            result = await db.execute(f"SELECT * FROM ({whole}) LIMIT {BATCH} OFFSET {offset}", params,
                                      page_size=None, truncate=False)
            yield "".join(json.dumps(dict(row), ensure_ascii=False, default=str) + "\n" for row in result.rows)
    name = file_name(table or (data or {}).get("query_name") or "query", total, "jsonl")
    return StreamingResponse(lines(), "application/jsonl; charset=utf-8",
                             {"content-disposition": f'attachment; filename="{name}"', "x-result-count": str(total)})


@hookimpl
def register_output_renderer():
    return {"extension": "jsonl", "render": render, "can_render": lambda: True}
