"""Whole exports: every matching row of a table page, a query or a search, streamed in batches
(memory stays flat), never cut at a page size. The count is in the file name
(`documents-119.bib`) and in the `X-Result-Count` header; a one-record export is named by its id
(`d0123456789ab.bib`).

Whole tables and queries (`.jsonl`, `.alljson`) read their rows from one cursor (`query_batches`),
never page by page with LIMIT/OFFSET, which would read every earlier row again for each page (a
whole export of 100,000 rows took 20 s that way).

Formats: BibTeX (`bib`), RIS (`ris`), CSL-JSON (`csljson`, one JSON array) for documents, and CSV
(RFC 4180; a cell a spreadsheet would run as a formula is written as text, harvest.escape.csv_cell)
and JSON (one array of objects) of the documents' main fields.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sqlite3
from urllib.parse import quote

from datasette.utils import sqlite_timelimit
from datasette.utils.asgi import Response
from datasette.views.base import DatasetteError

from harvest.cite import bibtex, csl_item, load_citable, ris
from harvest.db import query_rows
from harvest.escape import csv_cell
from harvest.serve import public_url

BATCH = 200
CONTENT_TYPES = {"bib": "application/x-bibtex", "ris": "application/x-research-info-systems",
                 "csljson": "application/vnd.citationstyles.csl+json", "csv": "text/csv", "json": "application/json"}
COLUMNS = ["id", "kind", "title", "venue", "published", "year", "url", "doi", "pmid", "themes", "products",
           "study_design", "relevance", "abstract"]
TRAILING_LIMIT = re.compile(r"\s+limit\s+\d+(\s+offset\s+\d+)?\s*$", re.I)


class StreamingResponse(Response):
    """A Response whose body is written chunk by chunk by `chunks` (an async iterator of str).
    The first chunk is made before the status is sent, so an error making it (a query over the
    time limit) is answered as an error page, not as a file cut short; an error after that ends
    the response unfinished, which clients report as an incomplete transfer."""

    def __init__(self, chunks, content_type: str, headers: dict):
        super().__init__(body="", content_type=content_type, headers=headers)
        self.chunks = chunks

    async def asgi_send(self, send):
        chunks = aiter(self.chunks)
        first = await anext(chunks, None)
        headers = {**self.headers, "content-type": self.content_type}
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [[k.encode("latin-1"), str(v).encode("latin-1")] for k, v in headers.items()]})
        if first is not None:
            await send({"type": "http.response.body", "body": first.encode("utf-8"), "more_body": True})
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk.encode("utf-8"), "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def without_page_limit(sql: str) -> str:
    """A table page's SQL without the `limit N` Datasette adds for one page."""
    return TRAILING_LIMIT.sub("", sql)


def file_name(stem: str, count: int, extension: str, single_id: str | None = None) -> str:
    """`<stem>-<count>.<extension>` (the stem made safe for a file name), or `<id>.<extension>`
    for one record asked for by its id."""
    safe = re.sub(r"[^\w.-]+", "-", stem).strip("-") or "export"
    return f"{single_id}.{extension}" if single_id and count == 1 else f"{safe}-{count}.{extension}"


def attachment(name: str) -> str:
    """A Content-Disposition value for a file called `name`: an ASCII `filename` (headers are
    Latin-1; other letters become "-") and, when the name has other letters, RFC 6266's
    `filename*` in UTF-8 (RFC 8187), which browsers prefer."""
    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "export"
    if plain == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def export(datasette, request, database: str, ids: list[str], extension: str, stem: str, single: bool = False) -> Response:
    """Stream the documents `ids` (in order, duplicates dropped) as `extension`."""
    ids = list(dict.fromkeys(i for i in ids if i))
    db = datasette.get_database(database)

    def permalink(document_id):
        return public_url(datasette.urls.row(database, "documents", document_id))

    async def chunks():
        if extension == "csv":
            yield "\ufeff" if request.args.get("_bom") else ""
        if extension in ("csljson", "json"):
            yield "["
        first = True
        for start in range(0, len(ids), BATCH):
            batch = ids[start:start + BATCH]
            if extension in ("bib", "ris", "csljson"):
                items = await db.execute_fn(lambda conn: [csl_item(r, permalink(r["id"])) for r in load_citable(conn, batch)])
                if extension == "csljson":
                    text = ",\n".join(json.dumps(item, ensure_ascii=False, indent=2) for item in items)
                else:
                    text = (bibtex if extension == "bib" else ris)(items)
            else:
                rows = await db.execute_fn(lambda conn: _rows(conn, batch))
                if extension == "json":
                    text = ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
                else:
                    buffer = io.StringIO()
                    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\r\n")
                    if start == 0:
                        writer.writeheader()
                    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
                    text = buffer.getvalue()
            if not text:
                continue
            if extension in ("csljson", "json") and not first:
                text = ",\n" + text
            elif extension in ("bib", "ris") and not first:
                text = "\n" + text
            first = False
            yield text
        if extension == "csv" and not ids:
            yield ",".join(COLUMNS) + "\r\n"
        if extension in ("csljson", "json"):
            yield "]\n"

    name = file_name(stem, len(ids), extension, ids[0] if single and ids else None)
    return StreamingResponse(chunks(), f"{CONTENT_TYPES[extension]}; charset=utf-8",
                             {"content-disposition": attachment(name), "x-result-count": str(len(ids)),
                              "access-control-expose-headers": "X-Result-Count"})


def _rows(conn, ids: list[str]) -> list[dict]:
    marks = ", ".join("?" * len(ids))
    found = {r["id"]: r for r in query_rows(conn, f"""
        SELECT id, kind, title, venue, published, year, url,
          (SELECT value FROM identifiers i WHERE i.document_id = d.id AND scheme = 'doi') AS doi,
          (SELECT value FROM identifiers i WHERE i.document_id = d.id AND scheme = 'pmid') AS pmid,
          themes, products, study_design, relevance, abstract FROM documents d WHERE id IN ({marks})""", ids)}
    rows = [found[i] for i in ids if i in found]
    for row in rows:
        for column in ("themes", "products"):
            row[column] = "; ".join(json.loads(row[column])) if row[column] else ""
    return rows


async def ids_of_query(datasette, database: str, sql: str, params: dict, column: str) -> list[str]:
    """Every value of `column` in the rows of `sql`, in order (the query runs under Datasette's time limit)."""
    result = await datasette.get_database(database).execute(
        f"SELECT [{column}] FROM ({sql}) WHERE [{column}] IS NOT NULL", params or {}, page_size=None, truncate=False)
    return [row[0] for row in result.rows]


BATCH_BYTES = 32 * 1024 * 1024  # the values of one batch, as datasette-plugins/limits.py caps one query's rows


class BatchTooLarge(DatasetteError):
    """One batch of a streamed query holds more than BATCH_BYTES of values (answered 400)."""


async def query_batches(datasette, database: str, sql: str, params=None, size: int = 1000):
    """Every row of `sql` (with `params`) in its order, as lists of at most `size` rows (sqlite3.Row,
    as Datasette gives them), read from one cursor on a read-only connection of its own, opened and
    prepared as Datasette prepares its own (plugins' SQL functions, text decoding): each row is read
    once, where LIMIT/OFFSET pages read every earlier row again (quadratic in the table's size). The
    connection holds one snapshot of the database for the whole read. Each fetch runs under the
    site's `sql_time_limit_ms` and may hold at most BATCH_BYTES of values: the limits a page of rows
    has, per batch rather than for the whole stream; past either, a DatasetteError (status 400:
    BatchTooLarge, or "SQL interrupted") says so. The connection is closed when the rows run out or the reader stops early
    (a download cancelled)."""
    db = datasette.get_database(database)
    loop = asyncio.get_running_loop()
    limit = datasette.setting("sql_time_limit_ms")
    if db.is_memory and not db.memory_name:  # a private in-memory database has no second connection
        rows = (await db.execute(sql, params or {}, page_size=None, truncate=False)).rows
        for start in range(0, len(rows), size):
            yield rows[start:start + size]
        return

    budget = [BATCH_BYTES]

    def counted(cursor, values):
        budget[0] -= sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in values)
        if budget[0] < 0:
            raise BatchTooLarge(f"a batch of {size} rows holds more than {BATCH_BYTES:,} bytes of values; "
                                "ask for fewer columns", title="Export too large", status=400)
        return sqlite3.Row(cursor, values)

    def opened():
        conn = db.connect()
        if conn in getattr(db, "_all_file_connections", []):  # closed here, not kept for Database.close()
            db._all_file_connections.remove(conn)
        datasette._prepare_connection(conn, database)
        conn.row_factory = counted  # a plugin's cap on one query's rows would stop a whole export
        return conn

    def fetched(conn, cursor=None):
        budget[0] = BATCH_BYTES
        with sqlite_timelimit(conn, limit):
            try:
                cursor = cursor or conn.execute(sql, params or {})
                return cursor, cursor.fetchmany(size)
            except sqlite3.OperationalError as error:
                if error.args == ("interrupted",):
                    raise DatasetteError(f"the query took longer than {limit} ms; ask for fewer rows (add a filter)",
                                         title="SQL interrupted", status=400) from None
                raise
    conn = await loop.run_in_executor(datasette.executor, opened)
    try:
        cursor, rows = await loop.run_in_executor(datasette.executor, fetched, conn)
        while rows:
            yield rows
            if len(rows) < size:
                break
            cursor, rows = await loop.run_in_executor(datasette.executor, fetched, conn, cursor)
    finally:
        conn.close()
