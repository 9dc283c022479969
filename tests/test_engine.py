"""The one engine: every source harvested from a server that answers robots.txt with 200 (and APIs
served on the pages' own host), then rebuilt row for row; roles in the archive; archives written
before roles still rebuild; loading several files at once."""

import json
from urllib.parse import parse_qs

import pytest

from conftest import DATA, Reply, table_rows
from harvest import db as database
from harvest.archive import OWN_TRAFFIC, RunArchive, archive_files, read_run
from harvest.engine import expand_paths, load_files, run_live
from harvest.http import HttpError
from harvest.rebuild import rebuild
from harvest.sources import NAMES, get
from harvest.sources.seed import DEFAULT_SEED
from test_arxiv import entry, feed as arxiv_feed
from test_crossref import answer, work
from test_europepmc import JATS, page as europepmc_page, result
from test_guidance import ADVICE, guidance_page
from test_jmir import atom
from test_legislation import CONFIG as LEGISLATION, INTRODUCED, bill, federal_page, openstates_page
from test_news import STORY, gdelt, page as news_page, rss
from test_pubmed_harvest import Eutils
from test_resolve import LANDING

ROBOTS = b"User-agent: *\nDisallow: /private/\n"
HTML = {"Content-Type": "text/html; charset=utf-8"}


def pubmed(server, db, archive, client):
    eutils = Eutils(server, total=5)
    return run_live(db, archive, client, "pubmed", {"query": "chatbot", "since": "2024-01-01",
                                                    "until": "2024-12-31", "base": eutils.base})


def europepmc(server, db, archive, client):
    open_one = result(5, pmcid="PMC11000001", pmid="39000001", doi="10.2196/12345", isOpenAccess="Y",
                      inEPMC="Y", hasReferences="Y", id="39000001", citedByCount=1)
    server.routes["/rest/search"] = lambda query: Reply(200, europepmc_page(
        [result(2), open_one] if "cursorMark=%2A" in query else [result(3)], total=3, cursor="NEXT"))
    server.routes["/rest/PMC11000001/fullTextXML"] = [Reply(200, JATS, {"Content-Type": "application/xml"})]
    server.routes["/rest/MED/39000001/references"] = [Reply(200, json.dumps({"hitCount": 1, "referenceList": {
        "reference": [{"id": "39000002", "source": "MED", "title": "Chatbot study 2"}]}}).encode())]
    server.routes["/rest/MED/39000001/citations"] = [Reply(200, json.dumps({"hitCount": 1, "citationList": {
        "citation": [{"id": "39000003", "source": "MED"}]}}).encode())]
    return run_live(db, archive, client, "europepmc", {"query": "chatbot", "base": server.url + "/rest/"})


def arxiv(server, db, archive, client):
    pages = {0: arxiv_feed([entry(n) for n in range(3)], total=5), 3: arxiv_feed([entry(n) for n in range(3, 5)], total=5, start=3)}
    server.routes["/api/query"] = lambda query: Reply(200, pages[int(parse_qs(query)["start"][0])],
                                                      {"Content-Type": "application/atom+xml"})
    return run_live(db, archive, client, "arxiv", {"query": "cat:cs.CL", "until": "2026-01-01T00:00:00Z",
                                                   "page_size": 3, "base": server.url + "/api/query"})


def crossref(server, db, archive, client):
    load_files(db, archive, "pubmed", [DATA / "pubmed_sample.xml"])
    dois = [r[0] for r in db.execute("SELECT value FROM identifiers WHERE scheme = 'doi'")]
    for doi in dois:
        server.routes[f"/works/{doi}"] = [Reply(200, answer(work(doi, "Crossref's title")))]
    return run_live(db, archive, client, "crossref", {"base": server.url + "/"})


def jmir(server, db, archive, client):
    server.routes["/feed/atom"] = [Reply(200, atom(server.url), {"Content-Type": "application/atom+xml"})]
    server.routes["/2024/1/e12345/XML"] = [Reply(200, JATS, {"Content-Type": "application/xml"})]
    return run_live(db, archive, client, "jmir", {"feeds": [server.url + "/feed/atom"]})


def _news_pages(server):
    base = server.url
    server.routes["/feed.xml"] = [Reply(200, rss(base, [("Family sues chatbot maker over son's suicide", "/story",
                                                         "An AI companion app and a teen's suicide; mental health experts.")]),
                                        {"Content-Type": "application/rss+xml"})]
    server.routes["/story"] = [Reply(200, news_page("Family sues chatbot maker over son's suicide", STORY, "Example Daily"), HTML)]
    server.routes["/wire/family-sues-chatbot-maker"] = [Reply(200, news_page(
        "Ohio family says AI companion encouraged son's suicide", STORY, "Wire Service"), HTML)]


def news(server, db, archive, client):
    _news_pages(server)
    return run_live(db, archive, client, "news", {"feeds": [{"url": server.url + "/feed.xml"}], "gdelt": {},
                                                  "gdelt_api": "https://gdelt.invalid/api/v2/doc/doc"})


def news_with_api_on_the_same_host(server, db, archive, client):
    _news_pages(server)
    server.routes["/api/v2/doc/doc"] = lambda query: Reply(200, gdelt(server.url), {"Content-Type": "application/json"})
    return run_live(db, archive, client, "news", {"feeds": [{"url": server.url + "/feed.xml"}],
                                                  "gdelt": {"queries": ['"chatbot" suicide lawsuit']},
                                                  "gdelt_api": server.url + "/api/v2/doc/doc"})


def guidance(server, db, archive, client, progress=None):
    server.routes["/old"] = [Reply(301, b"", {"Location": server.url + "/new"})]
    server.routes["/new"] = [Reply(503, b"busy", {"Retry-After": "0"}),
                             Reply(200, guidance_page(ADVICE, "1 May 2025"), {"Content-Type": "text/html"})]
    server.routes["/gone"] = [Reply(410, b"gone")]
    return run_live(db, archive, client, "guidance", {"pages": [{"url": server.url + "/old", "organisation": "Example"},
                                                                {"url": server.url + "/gone", "organisation": "Example"}]},
                    progress)


def legislation(server, db, archive, client):
    base = server.url
    server.routes["/bills"] = lambda query: Reply(200, openstates_page(
        [bill(1806 + int(parse_qs(query)["page"][0]), INTRODUCED)], int(parse_qs(query)["page"][0]), 2))
    server.routes["/api/v1/documents.json"] = lambda query: Reply(200, federal_page(base, "page=2" not in query))
    return run_live(db, archive, client, "legislation", {"config": LEGISLATION, "api_key": "secret-key",
                                                         "openstates_api": f"{base}/bills",
                                                         "federal_register_api": f"{base}/api/v1/documents.json"})


def seed(server, db, archive, client):
    return load_files(db, archive, "seed", [DEFAULT_SEED])


def import_(server, db, archive, client):  # the source `import` (a Python keyword as a name)
    return load_files(db, archive, "import", [DATA.parent.parent / "annotations" / "reading-list.yaml"], "csl-yaml")


def landing(server, db, archive, client):
    server.routes["/old-paper"] = [Reply(301, b"", {"Location": server.url + "/paper"})]
    server.routes["/paper"] = [Reply(200, LANDING, HTML)]
    server.routes["/gone"] = [Reply(404, b"gone")]
    return run_live(db, archive, client, "landing", {"urls": [server.url + "/old-paper", server.url + "/gone"]})


HARVESTS = [pubmed, europepmc, arxiv, crossref, jmir, news, news_with_api_on_the_same_host, guidance, legislation, seed,
            import_, landing]


@pytest.mark.parametrize("harvest", HARVESTS, ids=[h.__name__ for h in HARVESTS])
def test_every_source_rebuilds_row_for_row_when_robots_txt_answers(harvest, tmp_path, server, make_client, corpus):
    server.routes["/robots.txt"] = [Reply(200, ROBOTS, {"Content-Type": "text/plain"})]
    archive = tmp_path / "archive"
    run = harvest(server, corpus, archive, make_client())
    assert run.counts["added"] + run.counts["updated"] > 0
    assert all("robots" not in e and "not a feed" not in e for e in run.errors), run.errors
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    runs = rebuild(rebuilt, archive)
    assert [r.counts for r in runs][-1] == run.counts and runs[-1].errors == run.errors
    assert table_rows(rebuilt) == table_rows(corpus)
    assert not corpus.execute("SELECT count(*) FROM documents WHERE url LIKE '%robots.txt'").fetchone()[0]
    roles = [record.role for path in archive_files(archive) for record in read_run(path)[1] if record.type != "warcinfo"]
    assert None not in roles
    if harvest in (jmir, news, guidance):  # pages, not a documented API: robots.txt was asked and kept apart
        assert "robots" in roles and any(path == "/robots.txt" for path, _, _ in server.requests)


def test_every_registered_source_keeps_the_protocol():
    assert set(h.__name__.rstrip("_") for h in HARVESTS) >= set(NAMES)
    for name in NAMES:
        source = get(name)
        assert source.name == name and callable(source.start) and callable(source.ingest)
        assert callable(source.legacy_role)


def test_the_clients_own_traffic_is_marked_and_never_ingested(tmp_path, server, make_client, corpus):
    server.routes["/robots.txt"] = [Reply(200, ROBOTS, {"Content-Type": "text/plain"})]
    shown = []
    run = guidance(server, corpus, tmp_path / "archive", make_client(), progress=shown.append)
    assert run.status == "ok" and run.counts["added"] == 1
    assert len(shown) == 2, "progress after each of the two pages' answers"
    records = [r for path in archive_files(tmp_path / "archive") for r in read_run(path)[1]]
    assert [(r.role, r.type, r.status) for r in records] == [
        ("robots", "response", 200), ("redirect", "response", 301), ("retry", "response", 503),
        ("page", "response", 200), ("page", "response", 410), ("page", "failure", None)]
    assert records[3].context == {"page": server.url + "/old"} and records[3].uri == server.url + "/new"
    assert {r.role for r in records} & OWN_TRAFFIC == {"robots", "redirect", "retry"}


def test_a_failure_before_any_answer_carries_the_requests_role(tmp_path, make_client):
    client = make_client(allowed_networks=())
    with RunArchive(tmp_path, "news", "r1", {}) as archive:
        client.archive = archive
        with pytest.raises(HttpError):
            client.get("http://127.0.0.1:9/x", role={"name": "page", "listed_as": "x"})
    record = list(read_run(archive.path)[1])[-1]
    assert (record.type, record.role, record.context) == ("failure", "page", {"listed_as": "x"})


ARCHIVE_BEFORE_ROLES = DATA / "archive-before-roles.json"


def write_archive_before_roles(folder):
    """The WARC files the harvest code of commit 4fc0fe3 wrote (news, JMIR, guidance and PubMed on
    local servers answering robots.txt with 200), record for record as described in
    tests/data/archive-before-roles.json: a warcinfo record, then plain responses with no role
    headers (records carried none then)."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    folder.mkdir(parents=True)
    for described in json.loads(ARCHIVE_BEFORE_ROLES.read_text(encoding="utf-8")):
        with open(folder / described["name"], "wb") as out:
            writer = WARCWriter(out, gzip=True)
            for record in described["records"]:
                if record["type"] == "warcinfo":
                    warc = writer.create_warcinfo_record(described["name"], record["fields"])
                    warc.rec_headers.replace_header("WARC-Date", record["date"])
                else:
                    body = record["body"].encode("utf-8")
                    http = StatusAndHeaders(record["status"], record["headers"] + [["Content-Length", str(len(body))]],
                                            protocol="HTTP/1.0")
                    warc = writer.create_warc_record(record["uri"], "response", payload=io.BytesIO(body),
                                                     http_headers=http, warc_headers_dict={"WARC-Date": record["date"]})
                writer.write_record(warc)


def test_an_archive_written_before_roles_still_rebuilds(tmp_path):
    """Written by the code of commit 4fc0fe3 (see write_archive_before_roles): robots.txt answered 200 on the
    news, JMIR and guidance hosts, and the guidance page moved. That code's rebuild turned the
    news host's robots.txt into a news document and counted JMIR's as a broken feed."""
    write_archive_before_roles(tmp_path / "archive")
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    runs = rebuild(rebuilt, tmp_path / "archive")
    assert [(r.source, r.status, r.counts["added"], r.errors) for r in runs] == [
        ("news", "ok", 1, []), ("jmir", "ok", 1, []), ("guidance", "ok", 1, []), ("pubmed", "ok", 3, [])]
    documents = [(url.split("/", 3)[-1], kind, title, status) for url, kind, title, status in rebuilt.execute(
        "SELECT url, kind, title, page_status FROM documents ORDER BY kind, title")]
    assert documents == [
        ("old", "guidance", "Artificial intelligence in mental health care", "moved"),
        ("story", "news", "Family sues chatbot maker over son's suicide", None),
        ("2024/1/e12345", "paper", "A chatbot for low mood: a pilot", None),
        ("10.9999/test.30000000", "paper", "Chatbots and mental health, study 30000000", None),
        ("10.9999/test.30000001", "paper", "Chatbots and mental health, study 30000001", None),
        ("10.9999/test.30000002", "paper", "Chatbots and mental health, study 30000002", None)]
    counts = {t: rebuilt[t].count for t in ("identifiers", "authors", "document_mesh", "document_sources",
                                            "work_references", "document_versions", "watched_pages")}
    assert counts == {"identifiers": 12, "authors": 6, "document_mesh": 3, "document_sources": 6,
                      "work_references": 2, "document_versions": 1, "watched_pages": 1}
    news = rebuilt.execute("SELECT abstract FROM documents WHERE kind = 'news'").fetchone()[0]
    assert news.startswith("A lawsuit says"), "what the feed said of the page still fills the summary"


def test_load_takes_several_files_a_folder_or_a_glob(tmp_path, corpus):
    folder = tmp_path / "saved"
    folder.mkdir()
    for n in range(3):
        (folder / f"page{n}.atom").write_bytes(arxiv_feed([entry(10 + n)], total=1))
    (folder / "notes.txt").write_text("not a page")
    assert [p.name for p in expand_paths([str(folder / "*.atom")])] == ["page0.atom", "page1.atom", "page2.atom"]
    assert len(expand_paths([folder])) == 4
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        expand_paths([str(tmp_path / "nothing-here*.xml")])
    run = load_files(corpus, tmp_path / "archive", "arxiv", expand_paths([str(folder / "*.atom")]))
    assert run.counts["added"] == 3 and run.status == "ok"
    with pytest.raises(ValueError, match="cannot load --format"):
        load_files(corpus, tmp_path / "archive", "arxiv", [folder / "page0.atom"], fmt="html")
    with pytest.raises(ValueError, match="needs --url"):
        load_files(corpus, tmp_path / "archive", "news", [folder / "page0.atom"], fmt="html")
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, tmp_path / "archive")
    assert table_rows(rebuilt) == table_rows(corpus)


def test_the_command_line_loads_a_glob_and_imports_only_what_a_command_needs(tmp_path):
    import subprocess
    import sys
    for n in range(2):
        (tmp_path / f"answer{n}.atom").write_bytes(arxiv_feed([entry(20 + n)], total=1))
    harvest = [sys.executable, "-m", "harvest"]
    done = subprocess.run(harvest + ["arxiv", str(tmp_path / "corpus.db"), "--load", str(tmp_path / "*.atom")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "added 2" in done.stdout
    missing = subprocess.run(harvest + ["arxiv", str(tmp_path / "corpus.db"), "--load", str(tmp_path / "none*.xml")],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "none*.xml: no such file" in missing.stderr
    wrong = subprocess.run(harvest + ["news", str(tmp_path / "corpus.db"), "--load", str(tmp_path / "answer0.atom")],
                           capture_output=True, text=True)
    assert wrong.returncode == 1 and "needs --url" in wrong.stderr
    imported = subprocess.run([sys.executable, "-c", "import sys; from harvest import cli; cli.main(['--help'], "
                               "standalone_mode=False); print(sorted(m for m in ('spacy', 'sqlite_utils', 'requests', "
                               "'datasketch', 'lxml', 'trafilatura', 'yaml', 'networkx') if m in sys.modules))"],
                              capture_output=True, text=True)
    assert imported.stdout.strip().endswith("[]"), imported.stdout + imported.stderr
