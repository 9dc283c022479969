"""Limits for a public instance: what one query may cost, what SQL may call, what the site tells
about the machine, and error pages that never crash.

prepare_connection  SQLite limits on every connection (a value is at most MAX_VALUE_BYTES; a
                    result at most MAX_COLUMNS columns; SQL text at most MAX_SQL_BYTES), a cap of
                    MAX_RESULT_BYTES on the rows one query returns, and an authorizer that denies
                    functions that leak or change the engine (fts3_tokenizer, fts5, load_extension,
                    readfile, writefile, edit) and reads the database's file path as NULL
                    (pragma_database_list.file)
asgi_wrapper        every request is read as addressed to the configured public URL (the Host
                    header and scheme the client sent are replaced), so no link carries them;
                    arbitrary SQL (`?sql=`, `_where=`) runs ARBITRARY_AT_ONCE at a time, with a time
                    limit of ARBITRARY_TIME_LIMIT_MS, so canned queries and pages keep SQLite threads
                    to themselves; the machine's details (/-/versions, /-/threads, /-/databases,
                    /-/plugins, /-/settings, /-/actor and the permission debug pages) answer 404
handle_exception    a 404 (such as /corpus/documents/a/b) or 400 is answered with its status, and an
                    unexpected fault with a plain 500 that names nothing internal
"""

import asyncio
import logging
import sqlite3
import weakref
from urllib.parse import parse_qsl, urlencode, urlsplit

from datasette import hookimpl
from datasette.plugins import pm
from datasette.utils.asgi import Base400, Response
from datasette.views.base import DatasetteError

from harvest.serve import public_url, send_text

# Datasette 0.65's default handler prints a rich traceback even for a 404, outside an `except`
# block, and that raises: /corpus/documents/a/b answered 500. handle_exception below replaces it.
if pm.get_plugin("datasette.handle_exception") is not None:
    pm.unregister(name="datasette.handle_exception")

MAX_VALUE_BYTES = 4 * 1024 * 1024      # any string or blob, stored or computed
MAX_COLUMNS = 100                      # the widest table (documents) has fewer than 60
MAX_SQL_BYTES = 100_000
MAX_RESULT_BYTES = 32 * 1024 * 1024    # all the values one query returns
ARBITRARY_AT_ONCE = 1                  # of Datasette's 3 SQL threads
ARBITRARY_WAIT_S = 10                  # then 503
ARBITRARY_TIME_LIMIT_MS = 1000         # canned queries and pages keep the 3 s of `harvest serve`
DENIED_FUNCTIONS = frozenset({"fts3_tokenizer", "fts5", "load_extension", "readfile", "writefile", "edit",
                              "fts5_source_id", "sqlite_compileoption_get", "sqlite_compileoption_used"})
HIDDEN_PATHS = ("/-/versions", "/-/threads", "/-/databases", "/-/plugins", "/-/settings", "/-/actor",
                "/-/permissions", "/-/allow-debug", "/-/messages", "/-/create-token", "/-/config")
log = logging.getLogger("datasette.limits")


class ResultTooLarge(sqlite3.DatabaseError):
    """One query's rows grew past MAX_RESULT_BYTES."""


def _authorize(action, first, second, database, trigger):
    if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() in DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_READ and first == "pragma_database_list" and second == "file":
        return sqlite3.SQLITE_IGNORE  # the column reads as NULL: the file's path stays private
    return sqlite3.SQLITE_OK


def _counting_rows(limit: int):
    """A row factory (sqlite3.Row, as Datasette uses) that adds up the size of each cursor's
    values and stops the query past `limit` bytes."""
    sizes: "weakref.WeakKeyDictionary[sqlite3.Cursor, int]" = weakref.WeakKeyDictionary()

    def factory(cursor, values):
        size = sizes.get(cursor, 0) + sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in values)
        if size > limit:
            sizes.pop(cursor, None)
            raise ResultTooLarge(f"the result is larger than {limit // (1024 * 1024)} MiB; "
                                 "ask for fewer rows or shorter values")
        sizes[cursor] = size
        return sqlite3.Row(cursor, values)
    return factory


@hookimpl
def prepare_connection(conn):
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_COLUMNS)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES)
    conn.set_authorizer(_authorize)
    conn.row_factory = _counting_rows(MAX_RESULT_BYTES)


def _as_public(scope: dict) -> dict:
    """The request as if addressed to the configured public URL: Datasette builds absolute links
    (its own `alternate` links, the plugins' permalinks) from the Host header and the scheme,
    which the client chooses."""
    public = urlsplit(public_url("/"))
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"host"]
    headers.append((b"host", public.netloc.encode("latin-1")))
    return dict(scope, headers=headers, scheme=public.scheme)


def _arbitrary(scope) -> list | None:
    """The query string's pairs when the request runs SQL the site did not write, else None."""
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return pairs if any(key in ("sql", "_where") for key, _ in pairs) else None


@hookimpl
def asgi_wrapper():
    def wrap(app):
        slots = {}

        async def limited(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            scope = _as_public(scope)
            path = scope.get("path", "")
            if path.startswith(HIDDEN_PATHS):
                return await send_text(send, 404, "Not found: this instance does not publish details of "
                                                  "its software or machine.\n")
            pairs = _arbitrary(scope)
            if pairs is None:
                return await app(scope, receive, send)
            pairs = [(k, v) for k, v in pairs if k != "_timelimit"] + [("_timelimit", str(ARBITRARY_TIME_LIMIT_MS))]
            scope = dict(scope, query_string=urlencode(pairs).encode("latin-1"))
            loop = asyncio.get_running_loop()
            semaphore = slots.get(loop) or slots.setdefault(loop, asyncio.Semaphore(ARBITRARY_AT_ONCE))
            try:
                await asyncio.wait_for(semaphore.acquire(), ARBITRARY_WAIT_S)
            except asyncio.TimeoutError:
                return await send_text(send, 503, "Busy: other SQL queries are running; try again in a moment.\n",
                                       ((b"retry-after", b"5"),))
            try:
                await app(scope, receive, send)
            finally:
                semaphore.release()
        return limited
    return wrap


@hookimpl
def handle_exception(datasette, request, exception):
    """4xx answered with their status and message (HTML or JSON, as Datasette does); an
    unexpected fault is logged and answered 500 without its details."""
    async def inner():
        title = None
        if isinstance(exception, Base400):
            status, message = exception.status, exception.args[0] if exception.args else "Not found"
        elif isinstance(exception, DatasetteError):
            status, message, title = exception.status, exception.message, exception.title
        elif isinstance(exception, ResultTooLarge):
            status, message = 400, str(exception)
        else:
            log.error("unexpected fault on %s", request.path, exc_info=exception)
            status, message = 500, "Internal error: the fault was logged on the server."
        info = {"ok": False, "error": message, "status": status, "title": title}
        if request.path.endswith(".json"):
            return Response.json(info, status=status)
        template = datasette.jinja_env.select_template([f"{status}.html", "error.html"])
        html = await template.render_async(dict(info, urls=datasette.urls, app_css_hash=datasette.app_css_hash(),
                                                menu_links=lambda: []))
        return Response.html(html, status=status)
    return inner
