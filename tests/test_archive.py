"""The raw archive: damaged files, interrupted runs, and the rebuild command."""

import subprocess
import sys

from conftest import DATA, table_rows
from harvest import db as database
from harvest.archive import archive_files
from harvest.sources.pubmed import load_pubmed_file
from harvest.rebuild import rebuild
from harvest.runs import mark_interrupted, recorded_run
from harvest.sources.seed import load_seed


def test_damaged_archive_tail_keeps_every_complete_record(tmp_path, corpus):
    archive = tmp_path / "archive"
    load_seed(corpus, archive)
    load_pubmed_file(corpus, archive, DATA / "pubmed_sample.xml")
    last = archive_files(archive)[-1]
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])  # a crash while the loaded file's record was written
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    runs = rebuild(rebuilt, archive)
    assert [r.status for r in runs] == ["ok", "failed"]
    assert "damaged: record" in runs[1].errors[0] and "cut short" in runs[1].errors[0]
    assert rebuilt["documents"].count == 23  # the seed run replayed whole


def test_crashed_run_is_marked_interrupted_not_left_running(tmp_path, corpus):
    try:
        with recorded_run(corpus, tmp_path / "a", "pubmed", {"query": "q"}) as (run, _):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    row = corpus["harvest_runs"].get(run.run_id)
    assert row["status"] == "failed" and "KeyboardInterrupt" in row["error"]
    corpus["harvest_runs"].insert({"id": "ghost", "source": "pubmed", "started": "x", "status": "running"})
    assert mark_interrupted(corpus) == 1
    assert corpus["harvest_runs"].get("ghost")["status"] == "interrupted"


def test_rebuild_command_refuses_to_overwrite_and_rebuilds_equal(tmp_path):
    db_path, archive = tmp_path / "corpus.db", tmp_path / "archive"
    harvest = [sys.executable, "-m", "harvest"]
    subprocess.run(harvest + ["seed", str(db_path), "--quiet"], check=True)
    subprocess.run(harvest + ["pubmed", str(db_path), "--load", str(DATA / "pubmed_sample.xml")], check=True,
                   capture_output=True)
    refused = subprocess.run(harvest + ["rebuild", str(db_path), "--archive", str(archive)],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "exists" in refused.stderr
    target = tmp_path / "rebuilt.db"
    done = subprocess.run(harvest + ["rebuild", str(target), "--archive", str(archive)],
                          capture_output=True, text=True, check=True)
    assert "26 documents" in done.stdout and "graph:" in done.stdout
    for step in ("tag", "incidents", "graph"):  # what a nightly run does after the harvests
        subprocess.run(harvest + [step, str(db_path)], check=True, capture_output=True)
    harvested = table_rows(database.connect(db_path))
    assert harvested["document_themes"] and harvested["graph_edges"] and harvested["incidents"]
    assert table_rows(database.connect(target)) == harvested
    replayed = tmp_path / "replayed.db"
    subprocess.run(harvest + ["rebuild", str(replayed), "--archive", str(archive), "--no-derive", "--quiet"], check=True)
    assert not table_rows(database.connect(replayed))["graph_edges"]


def test_unexpected_storage_error_stops_with_a_clear_message(tmp_path):
    db_path = tmp_path / "corpus.db"
    db_path.write_bytes(b"this is not a database" * 100)
    result = subprocess.run([sys.executable, "-m", "harvest", "seed", str(db_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "harvest stopped: DatabaseError" in result.stderr and "run the same command again" in result.stderr
    assert "Traceback" not in result.stderr
