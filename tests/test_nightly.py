"""`harvest nightly` against a local imitation of the sources (tests/nightly_sources.py): isolation
of failing and hanging sources, exit status, digest, staleness, the status page and feed,
releases, resumption after SIGKILL, readers during a run, no network at all, and the shipped
schedules."""

import asyncio
import hashlib
import json
import logging
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest
import requests
import yaml

from conftest import harvest_serve
from harvest import db as database
from harvest.nightly import (EXIT_NOTHING, EXIT_OK, EXIT_SOME, Schedule, ScheduleError, SourcePlan, StepOutcome,
                             exit_status, load_schedule, parse_duration, stale_sources)
from harvest.runs import HarvestBusy, harvest_lock, log_file_handler
from nightly_sources import Sources, schedule

ROOT = Path(__file__).resolve().parents[1]
HARVEST = [sys.executable, "-m", "harvest"]
BOOKKEEPING = {"harvest_runs", "nightly_runs", "nightly_steps", "releases", "derive_markers", "derive_counters",
               "derive_changes"}
RUN_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?|.*\.warc\.gz|<urn:uuid:[0-9a-f-]+>)$")


def nightly(db_path: Path, schedule_path: Path, *more: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(HARVEST + ["nightly", str(db_path), "--schedule", str(schedule_path),
                                     "--allow-network", "127.0.0.1/32", *more],
                          capture_output=True, text=True, timeout=options.get("timeout", 400))


def comparable(db_path: Path) -> dict:
    """Every content row, with run timestamps, WARC file names and record ids masked."""
    conn = sqlite3.connect(db_path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    result = {}
    for table in tables:
        if table in BOOKKEEPING or table.startswith(("documents_fts", "incidents_fts", "sqlite_")):
            continue
        rows = conn.execute(f"SELECT * FROM [{table}]").fetchall()
        masked = [tuple("<run>" if isinstance(v, str) and RUN_STAMP.match(v) else v for v in row) for row in rows]
        result[table] = sorted(masked, key=repr)
    conn.close()
    return result


def digest_of(db_path: Path) -> dict:
    return json.loads((db_path.parent / f"{db_path.stem}.digest.json").read_text())


@pytest.fixture(scope="module")
def three_nights(tmp_path_factory):
    """Night 1: guidance, news and arXiv work, PubMed's API answers 404, JMIR hangs past its budget.
    Night 2: nothing changed. Night 3: the guidance page was reworded."""
    folder = tmp_path_factory.mktemp("nights")
    sources = Sources()
    try:
        plan = schedule(folder / "schedule.yaml", sources, failing=True, hanging=True)
        db_path = folder / "corpus.db"
        results, digests, snapshots = [], [], []
        for night in range(3):
            sources.guidance_version = 2 if night == 2 else 1
            results.append(nightly(db_path, plan))
            digests.append(digest_of(db_path))
            snapshots.append(comparable(db_path))
        yield {"db": db_path, "results": results, "digests": digests, "snapshots": snapshots,
               "requests": list(sources.server.requests), "folder": folder}
    finally:
        sources.close()


def test_failing_and_hanging_sources_do_not_stop_the_others(three_nights):
    first = three_nights["results"][0]
    assert first.returncode == EXIT_SOME, first.stdout + first.stderr
    digest = three_nights["digests"][0]
    status = {s["source"]: s["status"] for s in digest["sources"]}
    assert status == {"guidance": "ok", "news": "ok", "arxiv": "ok", "pubmed": "failed", "jmir": "timeout"}
    failed = {f["source"]: f for f in digest["failed"]}
    assert set(failed) == {"pubmed", "jmir"}
    assert "moved" in failed["pubmed"]["advice"] and "HTTP 404" in failed["pubmed"]["errors"][0]
    assert "budget" in failed["jmir"]["advice"]
    assert {s["source"] for s in digest["stale"]} == {"pubmed", "jmir"}
    conn = sqlite3.connect(three_nights["db"])
    jmir = conn.execute("SELECT status, error FROM harvest_runs WHERE source = 'jmir'").fetchall()
    assert [row[0] for row in jmir] == ["interrupted"] * 3 and "time budget" in jmir[0][1]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM nightly_runs WHERE finished IS NOT NULL").fetchone()[0] == 3
    summary = first.stdout.strip().splitlines()
    assert "exit status 3" in summary[0] and len(summary) <= 30, "one screen"
    assert any("-> " in line and "moved" in line for line in summary)


def test_digest_lists_new_relevant_documents_by_kind_and_theme(three_nights):
    digest = three_nights["digests"][0]
    new = digest["new_relevant"]
    assert new["by_kind"] == {"news": 2, "preprint": 3, "guidance": 1} and new["count"] == 6
    assert new["by_theme"] and all(d["page"].startswith("/corpus/documents/") for d in new["documents"])
    assert {i["id"] for i in digest["incidents"]["new"]}, "the curated incidents are new on the first night"
    history = sorted((three_nights["folder"] / "digests").glob("corpus-*.md"))
    assert len(history) == 3
    markdown = history[0].read_text()
    assert "## New relevant documents: 6" in markdown and "### news" in markdown
    assert "## Failed sources and what to do" in markdown and "**pubmed**" in markdown


def test_a_night_with_nothing_new_writes_nothing(three_nights):
    second = three_nights["digests"][1]
    assert three_nights["snapshots"][1] == three_nights["snapshots"][0]
    assert second["new_relevant"]["count"] == 0 and second["incidents"] == {"new": [], "changed": []}
    assert [(d["step"], d["status"], d["rows_written"]) for d in second["derivations"]] == \
        [("tag", "skipped", 0), ("incidents", "skipped", 0), ("graph", "skipped", 0), ("search-index", "skipped", 0)]
    assert all(s["counts"].get("added", 0) == s["counts"].get("updated", 0) == 0 for s in second["sources"])
    guidance = [h for p, _, h in three_nights["requests"] if p == "/guidance/ai"]
    assert guidance[1].get("If-None-Match") == '"v1"', "the second night asks conditionally"


def test_changed_guidance_comes_with_its_diff(three_nights):
    third = three_nights["digests"][2]
    changed, = third["changed_versions"]
    assert changed["kind"] == "guidance" and changed["version"] == 2
    assert "+Psychologists must not rely" in changed["diff"]
    markdown = (three_nights["db"].parent / "corpus.digest.md").read_text()
    assert "```diff" in markdown and "-Psychologists should not rely" in markdown
    assert [d["status"] for d in third["derivations"]] == ["ok", "ok", "ok", "ok"]
    from harvest import search, textindex
    with sqlite3.connect(three_nights["db"]) as conn:  # the night leaves a search index that matches it
        assert textindex.current(conn, search.index_for(conn)) is not None


def test_status_page_and_nightly_feed(three_nights):
    from datasette.app import Datasette
    from harvest.serve import PLUGINS_DIR
    metadata = yaml.safe_load((PLUGINS_DIR / "metadata.yml").read_text())
    datasette = Datasette([str(three_nights["db"])], metadata=metadata, plugins_dir=str(PLUGINS_DIR),
                          template_dir=str(PLUGINS_DIR / "templates"))

    async def fetch(path):
        return await datasette.client.get(path)
    status = asyncio.run(fetch("/-/status.json")).json()
    by_source = {s["source"]: s for s in status["sources"]}
    assert by_source["pubmed"]["stale"] and "HTTP 404" in by_source["pubmed"]["last_error"]["message"]
    assert not by_source["guidance"]["stale"] and by_source["guidance"]["last_success"]
    assert status["schema_version"] == database.SCHEMA_VERSION and status["database_bytes"] > 0
    assert status["counts"]["relevant"] == 6 and len(status["nightly_runs"]) == 3
    page = asyncio.run(fetch("/-/status"))
    assert page.status_code == 200 and "stale" in page.text and "pubmed" in page.text
    feed = asyncio.run(fetch("/-/feeds/nightly.atom"))
    assert feed.headers["content-type"].startswith("application/atom+xml")
    entries = feedparser.parse(feed.content).entries
    assert len(entries) == 3 and "Failed: pubmed" in entries[0].summary
    assert asyncio.run(fetch("/-/feeds/documents.atom")).status_code == 200, "the other feeds still answer"


def test_release_writes_a_checkable_snapshot_and_refuses_a_shrunken_corpus(three_nights, tmp_path):
    db_path = tmp_path / "corpus.db"
    shutil.copy(three_nights["db"], db_path)
    shutil.copy(three_nights["db"].parent / "corpus.digest.md", tmp_path / "corpus.digest.md")
    out = tmp_path / "releases" / "one"
    done = subprocess.run(HARVEST + ["release", str(db_path), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    listed = {line.split("  ", 1)[1] for line in (out / "SHA256SUMS").read_text().splitlines()}
    assert {"corpus.db", "CITATION.cff", "DATA-DICTIONARY.md", "RELEASE.md", "csv/documents.csv",
            "jsonl/documents.jsonl"} <= listed
    snapshot = sqlite3.connect(out / "corpus.db")
    assert snapshot.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert snapshot.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    documents = snapshot.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert len((out / "jsonl" / "documents.jsonl").read_text().splitlines()) == documents
    assert not snapshot.execute("SELECT 1 FROM sqlite_master WHERE name LIKE 'nightly%'").fetchone()
    snapshot.execute("UPDATE documents SET title = title || '' WHERE rowid = 1")  # still writable: triggers intact
    snapshot.rollback()
    assert not (out / "csv" / "derive_counters.csv").exists()
    citation = yaml.safe_load((out / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "dataset"
    assert "| id | TEXT primary key |" in (out / "DATA-DICTIONARY.md").read_text()
    assert "Latest nightly digest" in (out / "RELEASE.md").read_text()
    snapshot.close()
    with harvest_serve(out / "corpus.db", "--immutable") as base:  # publishing: served as it is
        page = requests.get(base + "/corpus/documents.json?_shape=array", timeout=30)
        assert page.status_code == 200 and len(page.json()) == documents
    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, f"{name} changed by serving"
    again = subprocess.run(HARVEST + ["release", str(db_path), str(out)], capture_output=True, text=True)
    assert again.returncode == 1 and "never overwritten" in again.stderr

    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE documents SET relevance = 'off-topic' WHERE kind = 'preprint'")  # 3 of 6 relevant gone
    conn.commit()
    conn.close()
    refused = subprocess.run(HARVEST + ["release", str(db_path), str(tmp_path / "two")], capture_output=True, text=True)
    assert refused.returncode == 1 and "fell from 6" in refused.stderr and not (tmp_path / "two").exists()
    forced = subprocess.run(HARVEST + ["release", str(db_path), str(tmp_path / "two"), "--force"],
                            capture_output=True, text=True)
    assert forced.returncode == 0 and "--force" in (tmp_path / "two" / "RELEASE.md").read_text()


def test_sigkill_at_random_points_then_a_rerun_converges(tmp_path):
    """Kills at random points of short runs (NIGHTLY_KILLS of them, 3 by default to keep the suite
    bounded; benchmarks/bench_nightly.py does 20): after each, the database is intact and a rerun
    ends with the rows of an uninterrupted run."""
    kills = int(os.environ.get("NIGHTLY_KILLS", "3"))
    sources = Sources()
    try:
        plan = schedule(tmp_path / "schedule.yaml", sources)
        reference = tmp_path / "reference" / "corpus.db"
        reference.parent.mkdir()
        started = time.monotonic()
        assert nightly(reference, plan).returncode == EXIT_OK
        duration = time.monotonic() - started
        expected = comparable(reference)
        rng = random.Random(14)
        for number in range(kills):
            db_path = tmp_path / f"killed-{number}" / "corpus.db"
            db_path.parent.mkdir()
            assert_kill_then_converge(db_path, plan, rng.uniform(0.5, duration), expected)
    finally:
        sources.close()


def assert_kill_then_converge(db_path: Path, plan: Path, after: float, expected: dict) -> None:
    process = subprocess.Popen(HARVEST + ["nightly", str(db_path), "--schedule", str(plan), "--allow-network",
                                          "127.0.0.1/32", "--quiet"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(after)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(0.5)  # the source's own process dies with its parent (PR_SET_PDEATHSIG)
    if db_path.exists():
        conn = sqlite3.connect(db_path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"killed after {after:.1f} s"
        conn.close()
    rerun = nightly(db_path, plan)
    assert rerun.returncode == EXIT_OK, f"killed after {after:.1f} s: {rerun.stdout}{rerun.stderr}"
    assert comparable(db_path) == expected, f"killed after {after:.1f} s"


def test_fifty_readers_while_a_nightly_run_writes(tmp_path):
    db_path = tmp_path / "corpus.db"
    database.connect(db_path).conn.close()
    sources = Sources()
    errors, answered, waits = [], [], []
    try:
        plan = schedule(tmp_path / "schedule.yaml", sources)
        with harvest_serve(db_path) as base:
            writer = subprocess.Popen(HARVEST + ["nightly", str(db_path), "--schedule", str(plan),
                                                 "--allow-network", "127.0.0.1/32", "--quiet"],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            paths = ["/corpus/documents.json?_size=10&_nocount=1&_nofacet=1", "/-/status.json",
                     "/corpus.json?sql=select+count(*)+from+documents", "/corpus/harvest_runs.json?_nocount=1&_nofacet=1",
                     "/-/feeds/documents.atom"]
            deadline = time.monotonic() + 300

            def read(number: int) -> None:
                with requests.Session() as session:  # closed at the end, so the server can stop
                    read_with(session, number)

            def read_with(session, number: int) -> None:
                turn = number
                while writer.poll() is None and time.monotonic() < deadline:
                    path = paths[turn % len(paths)]
                    turn += 1
                    try:  # two shared cores and 50 clients: answers queue, so the wait is generous
                        clock = time.monotonic()
                        response = session.get(base + path, timeout=120)
                        waits.append(time.monotonic() - clock)
                    except requests.RequestException as exc:
                        errors.append(f"{path}: {exc}")
                        continue
                    if response.status_code != 200 or "database is locked" in response.text:
                        errors.append(f"{path}: {response.status_code} {response.text[:200]}")
                    answered.append(path)
            readers = [threading.Thread(target=read, args=(n,)) for n in range(50)]
            for reader in readers:
                reader.start()
            for reader in readers:
                reader.join()
            output = writer.communicate(timeout=60)[0].decode()
            assert writer.returncode == EXIT_OK, output
            assert not errors, errors[:5]
            assert len(answered) >= 50, "every reader was answered while the run wrote"
            print(f"{len(answered)} answers, longest wait {max(waits):.1f} s")
    finally:
        sources.close()


def _can_unshare() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs `unshare -rn` (a network namespace with no network)")
def test_no_network_at_all_exit_1_every_failure_named_and_no_empty_release(tmp_path):
    """The shipped schedule, every source at its real address, in a network namespace with no
    network: every source fails, the run says so, and nothing is released."""
    db_path = tmp_path / "corpus.db"
    run = subprocess.run(["unshare", "-rn", *HARVEST, "nightly", str(db_path), "--quiet"],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "OPENSTATES_API_KEY": "k"})
    assert run.returncode == EXIT_NOTHING, run.stdout + run.stderr
    digest = digest_of(db_path)
    everything = [p.name for p in load_schedule().sources]
    idle = [s["source"] for s in digest["sources"] if s["status"] == "ok"]
    assert idle == ["crossref"], "only Crossref, with no DOI to ask about, does not fail"
    assert [f["source"] for f in digest["failed"]] == [name for name in everything if name not in idle]
    assert all(f["advice"] and f["errors"] for f in digest["failed"])
    assert {s["source"] for s in digest["stale"]} == set(everything) - set(idle)
    markdown = (tmp_path / "corpus.digest.md").read_text()
    assert all(f"**{f['source']}**" in markdown for f in digest["failed"])
    assert "could not be reached" in run.stdout
    out = tmp_path / "release"
    refused = subprocess.run(HARVEST + ["release", str(db_path), str(out)], capture_output=True, text=True)
    assert refused.returncode == 1 and "empty" in refused.stderr and not out.exists()


def test_one_lock_for_the_whole_run_and_no_advice_to_delete_it(tmp_path):
    db_path = tmp_path / "corpus.db"
    database.connect(db_path).conn.close()
    with harvest_lock(db_path):
        busy = subprocess.run(HARVEST + ["nightly", str(db_path), "--quiet"], capture_output=True, text=True)
        with pytest.raises(HarvestBusy) as raised:
            with harvest_lock(db_path):
                pass
    assert busy.returncode == 1 and "another harvest" in busy.stderr
    assert "nothing to delete" in str(raised.value) and "remove" not in str(raised.value)


def test_schedule_is_read_strictly(tmp_path):
    shipped = load_schedule()
    assert [p.name for p in shipped.sources][0] == "pubmed" and 0 < shipped.max_relevant_loss < 1
    assert parse_duration("36h", "x") == timedelta(hours=36) and parse_duration("1w", "x") == timedelta(days=7)
    for text, message in (("sources: {nosuch: {cadence: 1d}}", "sources.nosuch: no such source"),
                          ("sources: {import: {cadence: 1d}}", "sources.import: no such source"),  # loaded by hand
                          ("sources: {landing: {cadence: 1d}}", "sources.landing: no such source"),  # harvest resolve
                          ("sources: {pubmed: {cadence: soon}}", "sources.pubmed.cadence: 'soon' is not a duration"),
                          ("sources: {pubmed: {budget: 1h}}", "sources.pubmed: the key 'cadence' is missing"),
                          ("sources: {pubmed: {cadence: 1d, args: --x}}", "sources.pubmed.args: expected a list")):
        path = tmp_path / "s.yaml"
        path.write_text(text)
        with pytest.raises(ScheduleError, match=re.escape(message)):
            load_schedule(path)
    result = subprocess.run(HARVEST + ["nightly", str(tmp_path / "c.db"), "--schedule", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "sources.pubmed.args: expected a list" in result.stderr


def test_staleness_counts_runs_that_landed_something(corpus):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    day = 86400

    def ago(seconds):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))
    for number, (source, status, when) in enumerate([("pubmed", "ok", ago(3 * day)), ("news", "partial", ago(day)),
                                                     ("arxiv", "ok", ago(day)), ("arxiv", "failed", now),
                                                     ("guidance", "failed", now)]):
        corpus["harvest_runs"].insert({"id": str(number), "source": source, "started": when, "finished": when,
                                       "status": status})
    plan = Schedule([SourcePlan(name, timedelta(days=2), 60) for name in ("pubmed", "news", "arxiv", "guidance", "jmir")])
    stale = {s["source"]: s for s in stale_sources(corpus, plan)}
    assert set(stale) == {"pubmed", "guidance", "jmir"}
    assert stale["jmir"]["last_success"] is None and stale["pubmed"]["hours_since"] >= 72


def test_exit_status():
    ok, partial, failed = (StepOutcome("a", "ok"), StepOutcome("b", "partial"), StepOutcome("c", "failed"))
    assert exit_status([ok, StepOutcome("tag", "skipped")], []) == EXIT_OK
    assert exit_status([ok, partial], []) == EXIT_SOME
    assert exit_status([ok], [{"source": "x"}]) == EXIT_SOME
    assert exit_status([ok, StepOutcome("graph", "failed")], []) == EXIT_SOME
    assert exit_status([failed, StepOutcome("d", "timeout"), StepOutcome("tag", "ok")], []) == EXIT_NOTHING
    idle = StepOutcome("crossref", "ok", counts={"found": 0, "responses": 0})  # nothing to ask
    assert exit_status([idle, failed], [{"source": "c"}]) == EXIT_NOTHING
    assert exit_status([idle], []) == EXIT_OK


def test_log_rotates(tmp_path, monkeypatch):
    monkeypatch.setattr("harvest.runs.LOG_MAX_BYTES", 2000)
    handler = log_file_handler(tmp_path)
    logger = logging.getLogger("harvest.test-rotation")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for number in range(100):
            logger.error("line %d %s", number, "x" * 50)
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert (tmp_path / "harvest.log.1").exists() and (tmp_path / "harvest.log").stat().st_size <= 2000


def test_shipped_schedules(tmp_path):
    service, timer = ROOT / "deploy/systemd/evidence-harvest.service", ROOT / "deploy/systemd/evidence-harvest.timer"
    for path in (service, timer):
        text = path.read_text()
        sections = re.findall(r"^\[(\w+)\]$", text, flags=re.M)
        assert sections == (["Unit", "Service"] if path == service else ["Unit", "Timer", "Install"])
    assert re.search(r"^ExecStart=\S+/harvest nightly \S+corpus\.db --quiet$", service.read_text(), flags=re.M)
    assert "Persistent=true" in timer.read_text()
    if shutil.which("systemd-analyze"):
        local = tmp_path / service.name  # the real paths, as an operator would set them
        local.write_text(service.read_text().replace("/srv/evidence/.venv/bin/harvest", str(Path(sys.executable).parent / "harvest")))
        shutil.copy(timer, tmp_path / timer.name)
        verify = subprocess.run(["systemd-analyze", "verify", str(local), str(tmp_path / timer.name)],
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr
    cron = (ROOT / "deploy/cron/evidence-harvest.cron").read_text()
    for variable in ("HARVEST_CONTACT=", "NCBI_API_KEY=", "OPENSTATES_API_KEY="):
        assert re.search(rf"^{variable}", cron, flags=re.M)
    job, = [line for line in cron.splitlines() if re.match(r"^[\d*]", line)]
    assert len(job.split()[:5]) == 5 and "harvest nightly corpus.db --quiet" in job and ">>" in job and "2>&1" in job
    workflow = yaml.safe_load((ROOT / ".github/workflows/nightly.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"][0]["cron"] and "workflow_dispatch" in triggers
    steps = workflow["jobs"]["harvest"]["steps"]
    commands = "\n".join(step.get("run", "") for step in steps)
    assert "harvest nightly corpus.db" in commands and "harvest release corpus.db" in commands
    assert "git push" in commands and "/enable" in commands
    assert workflow["permissions"] == {"contents": "write", "actions": "write"}
    makefile = (ROOT / "Makefile").read_text()
    target = makefile[makefile.index("\nharvest:"):].split("\n\n")[0]
    assert "$(BIN)/harvest nightly $(DB)" in target and "-$(BIN)" not in target
