"""The public site against hostile requests: huge values, engine functions, a forged Host
header, odd paths, slow queries side by side with readers, and what a published instance tells."""

import asyncio
import time

import pytest
import requests
import yaml
from datasette.app import Datasette

from conftest import harvest_serve
from harvest import db as database
from harvest.sources.seed import load_seed
from harvest.serve import PLUGINS_DIR

SLOW_SQL = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("public")
    db = database.connect(folder / "corpus.db")
    load_seed(db, folder / "archive")
    db.conn.close()
    return folder / "corpus.db"


@pytest.fixture
def site(corpus_path):
    metadata = yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text())
    return Datasette([str(corpus_path)], metadata=metadata, plugins_dir=str(PLUGINS_DIR),
                     template_dir=str(PLUGINS_DIR / "templates"))


def get(site, path, **headers):
    return asyncio.run(site.client.get(path, headers=headers or None))


def sql(site, query):
    return get(site, "/corpus.json?" + requests.compat.urlencode({"sql": query}))


@pytest.mark.parametrize("query", ["select zeroblob(300000000)", "select randomblob(300000000)",
                                   "select replace(hex(zeroblob(100000000)), '0', 'x')"])
def test_a_300_mb_value_is_refused_in_one_step(site, query):
    answer = sql(site, query)
    assert answer.status_code == 400 and "string or blob too big" in answer.json()["error"]


def test_many_large_values_stop_at_the_result_cap(site):
    answer = sql(site, "with recursive c(x) as (select 1 union all select x + 1 from c limit 1000) "
                       "select printf('%.*c', 3000000, 'x') from c")
    assert answer.status_code == 400 and "larger than 32 MiB" in answer.json()["error"]
    assert sql(site, "select printf('%.*c', 3000000, 'x')").status_code == 200  # one 3 MB value is fine


@pytest.mark.parametrize("call", ["fts3_tokenizer('simple')", "fts5(null)", "load_extension('/tmp/x')",
                                  "readfile('/etc/passwd')"])
def test_engine_functions_are_denied(site, call):
    answer = sql(site, f"select {call}")
    assert answer.status_code == 400
    assert "not authorized" in answer.json()["error"] or "no such function" in answer.json()["error"]


def test_the_database_file_path_is_not_published(site, corpus_path):
    answer = sql(site, "select * from pragma_database_list")
    assert answer.status_code == 200 and str(corpus_path) not in answer.text
    assert answer.json()["rows"][0][2] is None
    for path in ("/-/versions.json", "/-/threads.json", "/-/databases.json", "/-/plugins.json", "/-/settings.json"):
        assert get(site, path).status_code == 404, path
    for path in ("/", "/.json", "/corpus", "/corpus.json", "/corpus/documents.json"):
        assert str(corpus_path.parent) not in get(site, path).text, path


@pytest.mark.parametrize("path", ["/corpus/documents/a/b", "/corpus/documents/a/b.json", "/corpus/documents/nope",
                                  "/corpus/nowhere/x/y/z", "/nodb/x"])
def test_odd_paths_answer_404_not_500(site, path):
    assert get(site, path).status_code == 404


def test_a_forged_host_header_never_reaches_links(site, monkeypatch):
    monkeypatch.setenv("HARVEST_PUBLIC_URL", "https://evidence.example.org")
    feed = get(site, "/-/feeds/documents.atom", host="attacker.example")
    assert feed.status_code == 200 and "attacker.example" not in feed.text
    assert "https://evidence.example.org/corpus/documents/" in feed.text
    document = sql(site, "select id from documents limit 1").json()["rows"][0][0]
    page = get(site, f"/corpus/documents/{document}", host="attacker.example")
    assert "attacker.example" not in page.text and f"https://evidence.example.org/corpus/documents/{document}" in page.text
    exported = get(site, "/corpus/documents.bib", host="attacker.example")
    assert "attacker.example" not in exported.text


def test_eight_slow_queries_do_not_starve_a_reader(site):
    """Arbitrary SQL runs one at a time, for at most 1 s each: the reader's page comes back
    before most of the slow queries, however long they would take."""
    finished = []

    async def fetch(label, path):
        answer = await site.client.get(path)
        finished.append((label, answer.status_code))

    async def scenario():
        slow = [fetch("slow", "/corpus.json?" + requests.compat.urlencode({"sql": SLOW_SQL})) for _ in range(8)]
        tasks = [asyncio.ensure_future(s) for s in slow]
        await asyncio.sleep(0.05)
        await fetch("page", "/corpus/search_documents.json?q=chatbot")
        await asyncio.gather(*tasks)
    asyncio.run(scenario())
    order = [label for label, _ in finished]
    assert order.index("page") <= 2, order
    assert dict(finished)["page"] == 200
    assert all(status in (400, 503) for label, status in finished if label == "slow")  # interrupted or busy


def test_published_instance_offers_no_download_and_ignores_host(corpus_path, monkeypatch):
    monkeypatch.setenv("HARVEST_PUBLIC_URL", "https://evidence.example.org")
    with harvest_serve(corpus_path, "--immutable") as base:
        assert requests.get(base + "/corpus.db", timeout=10).status_code in (403, 404)
        assert requests.get(base + "/-/versions.json", timeout=10).status_code == 404
        feed = requests.get(base + "/-/feeds/incidents.atom", headers={"Host": "attacker.example"}, timeout=10)
        assert "attacker.example" not in feed.text and "https://evidence.example.org/" in feed.text
        started = time.monotonic()
        assert requests.get(base + "/corpus/documents/a/b", timeout=10).status_code == 404
        assert time.monotonic() - started < 10
