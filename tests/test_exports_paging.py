"""Whole exports read each row once (`.alljson`, `.jsonl`: harvest.exports.query_batches), where
LIMIT/OFFSET pages read every earlier row again for each page (quadratic in the table's size).
Rows read are counted by a SQL function in the WHERE clause, which SQLite calls once per row it
looks at, skipped (OFFSET) rows included; the bytes are compared with one plain sqlite3 read."""

import asyncio
import json
import sqlite3

import pytest
import yaml
from datasette import hookimpl
from datasette.app import Datasette
from datasette.plugins import pm
from datasette.views.base import DatasetteError

from harvest import db as database
from harvest.db import transaction
from harvest import exports
from harvest.exports import query_batches
from harvest.serve import PLUGINS_DIR, SETTINGS

ROWS = 2500  # two and a half of whole_rows.BATCH (1000)


class Tick:
    """A plugin giving every connection `tick()`: counts its calls, always true."""
    calls = 0

    @staticmethod
    @hookimpl
    def prepare_connection(conn):
        def tick():
            Tick.calls += 1
            return 1
        conn.create_function("tick", 0, tick)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("paging") / "corpus.db"
    db = database.connect(path)
    with transaction(db):
        db["documents"].insert_all({"id": f"d{n:012x}", "kind": "paper" if n % 3 else "news",
                                    "title": f"Chatbot study {n} — café “quoted”", "year": 2000 + n % 26,
                                    "abstract": None if n % 7 == 0 else f"Abstract {n}\nline two",
                                    "first_seen": "2025-01-01T00:00:00Z", "last_seen": "2025-01-01T00:00:00Z"}
                                   for n in range(ROWS))
    db.conn.close()
    return path


@pytest.fixture(scope="module")
def site(corpus):
    pm.register(Tick, name="tick-counter")
    try:
        yield Datasette([str(corpus)], metadata=yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text()),
                        plugins_dir=str(PLUGINS_DIR), template_dir=str(PLUGINS_DIR / "templates"), settings=SETTINGS)
    finally:
        pm.unregister(name="tick-counter")


def get(datasette, path):
    async def fetch():
        return await datasette.client.get(path)
    response = asyncio.run(fetch())
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response


def rows_read(datasette, path) -> int:
    """How many rows SQLite looked at to answer `path` (tick() calls)."""
    Tick.calls = 0
    get(datasette, path)
    return Tick.calls


def plain_rows(path, sql):
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [json.dumps(dict(row), ensure_ascii=False, default=str) for row in conn.execute(sql)]
    finally:
        conn.close()


@pytest.mark.parametrize("extension", ["alljson", "jsonl"])
def test_a_whole_query_export_reads_each_row_once(site, extension):
    sql = "select id, title, abstract, year from documents where tick() order by year desc, id"
    asked = f"?sql={sql.replace(' ', '+')}"
    page = rows_read(site, f"/corpus.json{asked}")  # what Datasette reads for the query's own first page
    extra = rows_read(site, f"/corpus.{extension}{asked}") - page
    # the count for the file name reads every row once, the export once more; OFFSET pages read 1,000 + 2,000 + 2,500
    assert extra <= 2 * ROWS, f"{extra} rows read for {ROWS}"
    response = get(site, f"/corpus.{extension}{asked}")
    assert response.headers["x-result-count"] == str(ROWS)
    expected = plain_rows(site.get_database("corpus").path, sql.replace("where tick() ", ""))
    body = response.text
    if extension == "alljson":
        assert body == "[\n" + ",\n".join(expected) + "\n]\n", "the same bytes as one plain read"
    else:
        assert body == "\n".join(expected) + "\n"


def test_a_whole_table_export_reads_each_row_once(site, corpus):
    asked = "?_relevance=all&_where=tick()&_sort=id"
    extra = rows_read(site, f"/corpus/documents.alljson{asked}") - rows_read(site, f"/corpus/documents.json{asked}")
    assert extra <= 2 * ROWS, f"{extra} rows read for {ROWS}"
    rows = json.loads(get(site, f"/corpus/documents.alljson{asked}").text)
    assert [r["id"] for r in rows] == [f"d{n:012x}" for n in range(ROWS)] and "abstract" in rows[0]


def test_an_empty_export_and_an_in_memory_database(site):
    assert get(site, "/corpus/documents.alljson?kind=no-such-kind").text == "[\n]\n"
    assert get(site, "/corpus/documents.jsonl?kind=no-such-kind").text == ""
    memory = Datasette(memory=True, plugins_dir=str(PLUGINS_DIR), settings=SETTINGS)
    answer = get(memory, "/_memory.alljson?sql=select+1+as+a+union+all+select+2")
    assert json.loads(answer.text) == [{"a": 1}, {"a": 2}]


def test_batches_come_from_one_cursor_and_a_reader_that_stops_closes_it(site):
    database_ = site.get_database("corpus")
    kept = len(database_._all_file_connections)

    async def read(stop_after=None):
        batches = query_batches(site, "corpus", "SELECT id FROM documents ORDER BY id", size=1000)
        sizes = []
        async for rows in batches:
            sizes.append(len(rows))
            if stop_after and len(sizes) == stop_after:
                await batches.aclose()
                break
        return sizes
    assert asyncio.run(read()) == [1000, 1000, 500]
    assert asyncio.run(read(stop_after=1)) == [1000]
    assert len(database_._all_file_connections) == kept, "the export's connections are closed, not kept"


def test_a_whole_export_may_outgrow_one_querys_cap_but_not_a_batch(site, monkeypatch):
    limits = next(p for p in pm.get_plugins() if getattr(p, "__name__", "") == "limits.py")
    monkeypatch.setattr(limits, "MAX_RESULT_BYTES", 100_000)  # the whole table is about 250 kB
    fresh = Datasette([site.get_database("corpus").path], plugins_dir=str(PLUGINS_DIR), settings=SETTINGS)
    assert len(json.loads(get(fresh, "/corpus/documents.alljson?_relevance=all").text)) == ROWS, \
        "the cap on one query's rows applies to each batch, not to the whole stream"
    monkeypatch.setattr(exports, "BATCH_BYTES", 10_000)

    async def read():
        return [len(rows) async for rows in query_batches(fresh, "corpus", "SELECT * FROM documents")]
    with pytest.raises(exports.BatchTooLarge, match="a batch of 1000 rows holds more than 10,000 bytes"):
        asyncio.run(read())


def test_an_export_that_cannot_start_is_an_error_page_not_a_cut_file(site, monkeypatch):
    monkeypatch.setattr(exports, "BATCH_BYTES", 10_000)
    refused = asyncio.run(site.client.get("/corpus/documents.alljson?_relevance=all"))
    assert refused.status_code == 400 and "holds more than 10,000 bytes of values" in refused.text
    hurried = Datasette([site.get_database("corpus").path], settings={**SETTINGS, "sql_time_limit_ms": 1})
    endless = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000) "
               "SELECT x FROM c ORDER BY x DESC")

    async def read():
        return [rows async for rows in query_batches(hurried, "corpus", endless)]
    with pytest.raises(DatasetteError, match="the query took longer than 1 ms") as stopped:
        asyncio.run(read())
    assert stopped.value.status == 400


@pytest.mark.parametrize("extension", ["alljson", "jsonl"])
def test_a_row_pages_whole_export_is_that_row(site, extension):
    document_id = f"d{7:012x}"
    response = get(site, f"/corpus/documents/{document_id}.{extension}")
    assert response.headers["x-result-count"] == "1"
    assert f'filename="documents-{document_id}-1.' in response.headers["content-disposition"]
    expected = plain_rows(site.get_database("corpus").path, f"select * from documents where id = '{document_id}'")
    assert len(expected) == 1
    assert response.text == ("[\n" + expected[0] + "\n]\n" if extension == "alljson" else expected[0] + "\n")
    missing = asyncio.run(site.client.get(f"/corpus/documents/no-such-id.{extension}"))
    assert missing.status_code == 404


@pytest.mark.parametrize("extension", ["alljson", "jsonl"])
def test_a_whole_export_of_a_database_page_is_a_clear_400(site, extension):
    response = asyncio.run(site.client.get(f"/corpus.{extension}"))
    assert response.status_code == 400, response.text[:300]
    answer = response.json()
    assert answer["ok"] is False and "for a table or a query" in answer["error"]
    assert answer["tables"] == "/corpus" and answer["example"].startswith("/corpus/")
    assert get(site, answer["example"]).headers["content-type"].startswith(("application/json", "application/jsonl"))
