"""End to end: a local server plays E-utilities; harvest, harvest again, rebuild from the archive."""

import json
import subprocess
import sys
from urllib.parse import parse_qs

from conftest import Reply, table_rows
from harvest import db as database
from harvest.archive import archive_files
from harvest.sources.pubmed import harvest_pubmed, load_pubmed_file
from harvest.rebuild import rebuild

TOTAL = 450


def article(pmid: int) -> str:
    return f"""<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">{pmid}</PMID>
<Article><Journal><JournalIssue><Volume>{pmid % 7}</Volume><PubDate><Year>2024</Year><Month>Feb</Month>
</PubDate></JournalIssue><Title>Test Journal</Title></Journal>
<ArticleTitle>Chatbots and mental health, study {pmid}</ArticleTitle>
<Abstract><AbstractText Label="AIM">Record {pmid}.</AbstractText></Abstract>
<AuthorList><Author><LastName>Author{pmid % 13}</LastName><ForeName>A</ForeName></Author></AuthorList>
<Language>eng</Language><PublicationTypeList><PublicationType>Journal Article</PublicationType>
</PublicationTypeList></Article>
<MeshHeadingList><MeshHeading><DescriptorName UI="D000001" MajorTopicYN="Y">Mental Health</DescriptorName>
</MeshHeading></MeshHeadingList></MedlineCitation>
<PubmedData><ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId>
<ArticleId IdType="doi">10.9999/test.{pmid}</ArticleId></ArticleIdList></PubmedData></PubmedArticle>"""


class Eutils:
    """Plays esearch and efetch for TOTAL records; `broken` batches answer with cut XML."""

    def __init__(self, server, total=TOTAL):
        self.total, self.broken = total, set()
        server.routes["/eutils/esearch.fcgi"] = self.esearch
        server.routes["/eutils/efetch.fcgi"] = self.efetch
        self.base = server.url + "/eutils/"

    def esearch(self, query):
        return Reply(200, f"""<?xml version="1.0"?><eSearchResult><Count>{self.total}</Count>
<RetMax>0</RetMax><RetStart>0</RetStart><QueryKey>1</QueryKey><WebEnv>MCID_test</WebEnv>
<IdList/></eSearchResult>""".encode())

    def efetch(self, query):
        params = parse_qs(query)
        start, size = int(params["retstart"][0]), int(params["retmax"][0])
        body = "<?xml version='1.0'?><PubmedArticleSet>" + "".join(
            article(30000000 + i) for i in range(start, min(start + size, self.total))) + "</PubmedArticleSet>"
        if start in self.broken:
            body = body[: len(body) // 2]
        return Reply(200, body.encode(), {"Content-Type": "text/xml"})


def test_harvest_is_idempotent_and_rebuild_gives_the_same_rows(tmp_path, server, make_client, corpus):
    eutils = Eutils(server)
    archive = tmp_path / "archive"
    first = harvest_pubmed(corpus, archive, make_client(), "chatbot", "2024-01-01", "2024-12-31",
                           api_key="SEKRIT", base=eutils.base)
    assert first.status == "ok"
    assert first.counts == {"found": TOTAL, "added": TOTAL, "updated": 0, "unchanged": 0, "failed": 0}
    searches = [parse_qs(q) for p, q, _ in server.requests if p.endswith("esearch.fcgi")]
    assert searches[0]["usehistory"] == ["y"] and searches[0]["datetype"] == ["edat"]
    assert searches[0]["mindate"] == ["2024/01/01"] and searches[0]["maxdate"] == ["2024/12/31"]
    fetches = [parse_qs(q) for p, q, _ in server.requests if p.endswith("efetch.fcgi")]
    assert [f["retstart"][0] for f in fetches] == ["0", "200", "400"]
    assert {f["retmax"][0] for f in fetches} == {"200"} and fetches[0]["WebEnv"] == ["MCID_test"]
    before = table_rows(corpus)

    second = harvest_pubmed(corpus, archive, make_client(), "chatbot", "2024-01-01", "2024-12-31",
                            base=eutils.base)
    assert second.counts["added"] == 0 and second.counts["unchanged"] == TOTAL
    after = table_rows(corpus)
    assert len(after["documents"]) == TOTAL and after.keys() == before.keys()
    for table in ("identifiers", "authors", "document_authors", "document_mesh", "citations"):
        assert after[table] == before[table], table

    doc = corpus.execute("SELECT d.* FROM documents d JOIN identifiers i ON i.document_id = d.id "
                         "WHERE i.scheme = 'pmid' AND i.value = '30000007'").fetchone()
    assert doc is not None
    assert corpus.execute("SELECT count(*) FROM documents_fts WHERE documents_fts MATCH 'chatbots'"
                          ).fetchone()[0] == TOTAL

    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt) == table_rows(corpus)
    strip = "SELECT id, source, status, parameters, found, added, updated, unchanged, failed, " \
            "cursor, archive_file, error FROM harvest_runs ORDER BY started, id"
    assert rebuilt.execute(strip).fetchall() == corpus.execute(strip).fetchall()
    raw = b"".join(path.read_bytes() for path in archive_files(archive))
    assert b"SEKRIT" not in raw


def test_failed_batch_is_recorded_others_land_and_next_run_retries(tmp_path, server, make_client, corpus):
    eutils = Eutils(server)
    eutils.broken = {200}
    archive = tmp_path / "archive"
    run = harvest_pubmed(corpus, archive, make_client(), "chatbot", "2024-01-01", "2024-06-30",
                         base=eutils.base)
    assert run.status == "partial"
    assert run.counts["added"] == 250 and run.counts["failed"] == 200
    row = corpus["harvest_runs"].get(run.run_id)
    assert row["status"] == "partial" and "records 201-400" in row["error"]
    assert "malformed XML" in row["error"]
    # No half-written batch: nothing from records 201-400 landed.
    assert corpus.execute("SELECT count(*) FROM identifiers WHERE scheme = 'pmid' AND CAST(value AS "
                          "INTEGER) BETWEEN 30000200 AND 30000399").fetchone()[0] == 0

    eutils.broken = set()
    retry = harvest_pubmed(corpus, archive, make_client(), "chatbot", until="2024-07-31",
                           base=eutils.base)
    assert retry.parameters["since"] == "2024-01-01"  # the failed window is not skipped
    assert retry.status == "ok" and retry.counts["added"] == 200
    third = harvest_pubmed(corpus, archive, make_client(), "chatbot", until="2024-08-31",
                           base=eutils.base)
    assert third.parameters["since"] == "2024-07-31"  # incremental from the last good run

    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt) == table_rows(corpus)


def test_search_failure_is_recorded_and_run_failed(tmp_path, server, make_client, corpus):
    server.routes["/eutils/esearch.fcgi"] = [Reply(400, b"<eSearchResult><ERROR>bad</ERROR></eSearchResult>")]
    run = harvest_pubmed(corpus, tmp_path / "a", make_client(), "x", "2024-01-01", "2024-01-02",
                         base=server.url + "/eutils/")
    assert run.status == "failed" and "HTTP 400" in run.errors[0]
    assert corpus["harvest_runs"].get(run.run_id)["status"] == "failed"


def test_load_file_goes_through_the_archive(tmp_path, corpus):
    from conftest import DATA
    archive = tmp_path / "archive"
    run = load_pubmed_file(corpus, archive, DATA / "pubmed_sample.xml")
    assert run.counts["added"] == 3 and run.status == "ok"
    again = load_pubmed_file(corpus, archive, DATA / "pubmed_sample.xml")
    assert again.counts["unchanged"] == 3 and again.counts["added"] == 0
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt) == table_rows(corpus)
    doc = corpus.execute("SELECT * FROM documents WHERE title LIKE 'Chatbot companions%'").fetchone()
    assert doc is not None
    mesh = corpus.execute("SELECT descriptor, major, qualifiers FROM document_mesh ORDER BY descriptor").fetchall()
    assert mesh[0] == ("Loneliness", 1, None)
    assert json.loads(mesh[1][2])[0]["name"] == "psychology"
    authors = corpus.execute("SELECT a.name, da.position, da.affiliations FROM document_authors da "
                             "JOIN authors a ON a.id = da.author_id ORDER BY da.position").fetchall()
    assert [a[0] for a in authors] == ["Ana María Rivera", "Chatbot Safety Consortium"]
    retracted = corpus.execute("SELECT count(*) FROM documents WHERE retracted = 1").fetchone()[0]
    assert retracted == 2


def test_command_line_exit_status_says_all_part_or_nothing(tmp_path, server):
    eutils = Eutils(server, total=300)
    db_path = tmp_path / "corpus.db"
    command = [sys.executable, "-m", "harvest", "pubmed", str(db_path), "--eutils", eutils.base,
               "--allow-network", "127.0.0.1/32", "--since", "2024-01-01", "--until", "2024-02-01"]
    ok = subprocess.run(command, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "added 300" in ok.stdout
    eutils.broken = {0}
    partial = subprocess.run(command, capture_output=True, text=True)
    assert partial.returncode == 3 and "records 1-200" in partial.stdout
    eutils.broken = {0, 200}
    nothing = subprocess.run(command, capture_output=True, text=True)
    assert nothing.returncode == 1 and "failed" in nothing.stdout
    quiet = subprocess.run(command[:4] + ["--quiet"] + command[4:], capture_output=True, text=True)
    assert quiet.returncode == 1 and quiet.stdout  # failures are never silent
    assert (tmp_path / "archive" / "harvest.log").read_text().count("pubmed run") == 4


def test_window_with_too_many_results_is_split_until_each_half_fits(tmp_path, server, make_client, corpus,
                                                                     monkeypatch):
    from datetime import date
    from harvest.sources import pubmed
    monkeypatch.setattr(pubmed, "MAX_RESULTS", 250)
    per_day = {date(2024, 1, d): 100 for d in range(1, 5)}  # 400 records over four days

    def esearch(query):
        params = parse_qs(query)
        first = date(*map(int, params["mindate"][0].split("/")))
        last = date(*map(int, params["maxdate"][0].split("/")))
        count = sum(n for day, n in per_day.items() if first <= day <= last)
        return Reply(200, f"<eSearchResult><Count>{count}</Count><QueryKey>1</QueryKey>"
                          f"<WebEnv>{first}_{last}</WebEnv></eSearchResult>".encode())

    def efetch(query):
        params = parse_qs(query)
        first, last = (date.fromisoformat(d) for d in params["WebEnv"][0].split("_"))
        days = sorted(d for d in per_day if first <= d <= last)
        pmids = [31000000 + (d.day - 1) * 100 + i for d in days for i in range(100)]
        start, size = int(params["retstart"][0]), int(params["retmax"][0])
        body = "<PubmedArticleSet>" + "".join(article(p) for p in pmids[start:start + size]) + "</PubmedArticleSet>"
        return Reply(200, body.encode())

    server.routes["/eutils/esearch.fcgi"] = esearch
    server.routes["/eutils/efetch.fcgi"] = efetch
    archive = tmp_path / "archive"
    run = harvest_pubmed(corpus, archive, make_client(), "q", "2024-01-01", "2024-01-04",
                         base=server.url + "/eutils/")
    assert run.status == "ok" and run.counts["added"] == 400 and run.counts["found"] == 400
    windows = [(parse_qs(q)["mindate"][0], parse_qs(q)["maxdate"][0])
               for p, q, _ in server.requests if p.endswith("esearch.fcgi")]
    assert windows == [("2024/01/01", "2024/01/04"), ("2024/01/01", "2024/01/02"), ("2024/01/03", "2024/01/04")]
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    assert rebuild(rebuilt, archive)[0].counts == run.counts


def test_one_harvest_at_a_time(tmp_path):
    import pytest
    from harvest.runs import HarvestBusy, harvest_lock
    db_path = tmp_path / "corpus.db"
    with harvest_lock(db_path):
        with pytest.raises(HarvestBusy, match="another harvest"):
            with harvest_lock(db_path):
                pass
        busy = subprocess.run([sys.executable, "-m", "harvest", "seed", str(db_path)],
                              capture_output=True, text=True)
        assert busy.returncode == 1 and "another harvest" in busy.stderr
    with harvest_lock(db_path):
        pass  # released


def test_unusable_record_costs_only_itself(tmp_path, corpus):
    from conftest import DATA
    broken = tmp_path / "broken.xml"
    broken.write_bytes((DATA / "pubmed_sample.xml").read_bytes().replace(
        b'<PMID Version="1">90000002</PMID>', b"", 1))
    run = load_pubmed_file(corpus, tmp_path / "archive", broken)
    assert run.status == "partial" and run.counts["added"] == 2
    assert "record 2 (PMID unknown) is unusable" in corpus["harvest_runs"].get(run.run_id)["error"]


def test_http_failures_of_a_batch_name_the_batch_and_spare_the_others(tmp_path, server, make_client, corpus):
    eutils = Eutils(server)
    fetch = eutils.efetch

    def efetch(query):
        reply = fetch(query)
        if "retstart=200" in query:
            return Reply(200, reply.body * 40)  # far over the client's cap below
        if "retstart=400" in query:
            return Reply(503, b"busy")
        return reply
    server.routes["/eutils/efetch.fcgi"] = efetch
    run = harvest_pubmed(corpus, tmp_path / "archive", make_client(max_bytes=2_000_000, retries=1),
                         "q", "2024-01-01", "2024-01-31", base=eutils.base)
    assert run.status == "partial" and run.counts["added"] == 200 and run.counts["failed"] == 400
    errors = corpus["harvest_runs"].get(run.run_id)["error"].splitlines()
    assert errors[0].startswith("efetch batch of records 201-400: body of ")
    assert "bytes is over the 2000000-byte cap" in errors[0]
    assert errors[1].startswith("efetch batch of records 401-600: HTTP 503")
