"""Damaged WARC files: every cut is found and reported (on the terminal too), the run never
vanishes from the rebuild, and the records before the damage are replayed."""

import io
import subprocess
import sys
import zlib

import pytest
from warcio.warcwriter import WARCWriter

from conftest import DATA
from harvest import db as database
from harvest.archive import ArchiveDamaged, archive_files, check_members, read_run
from harvest.sources.pubmed import load_pubmed_file
from harvest.rebuild import rebuild
from harvest.sources.seed import load_seed


@pytest.fixture
def archive(tmp_path, corpus):
    folder = tmp_path / "archive"
    load_seed(corpus, folder)
    load_pubmed_file(corpus, folder, DATA / "pubmed_sample.xml")
    return folder


def test_every_cut_of_a_run_file_is_reported_never_replayed_as_ok(archive, tmp_path):
    """Cut at 31 places, from inside the warcinfo record to inside the end record."""
    last = archive_files(archive)[-1]
    whole = last.read_bytes()
    for cut in range(1, len(whole), max(1, len(whole) // 31)):
        last.write_bytes(whole[:cut])
        target = tmp_path / f"rebuilt-{cut}.db"
        runs = rebuild(database.connect(target), archive)
        assert [r.source for r in runs] == ["seed", "pubmed"], f"cut at {cut}: the run vanished"
        assert runs[0].status == "ok"
        assert runs[1].status in ("failed", "partial") and "damaged" in runs[1].context, f"cut at {cut}"
        assert runs[1].errors[-1].startswith(last.name)
        target.unlink()
    last.write_bytes(whole)
    assert [r.status for r in rebuild(database.connect(tmp_path / "whole.db"), archive)] == ["ok", "ok"]


def test_a_cut_inside_the_warcinfo_record_still_names_the_run(archive):
    last = archive_files(archive)[-1]
    last.write_bytes(last.read_bytes()[:40])
    info, records = read_run(last)
    assert info.source == "pubmed" and info.run_id in last.name
    with pytest.raises(ArchiveDamaged, match="record 1 \\(at byte 0\\) is cut short; 0 complete"):
        list(records)


def test_a_cut_at_a_record_boundary_is_found_by_the_end_record(archive):
    last = archive_files(archive)[-1]
    complete, damage = check_members(last)
    assert damage is None and complete >= 3
    data = last.read_bytes()
    boundaries, offset = [], 0
    while offset < len(data):  # the offsets where gzip members start
        boundaries.append(offset)
        decoder = zlib.decompressobj(31)
        decoder.decompress(data[offset:])
        offset = len(data) - len(decoder.unused_data)
    last.write_bytes(data[:boundaries[-1]])  # the end record gone, everything else whole
    _, records = read_run(last)
    with pytest.raises(ArchiveDamaged, match="cut short: no end record"):
        list(records)


def test_an_archive_written_before_end_records_still_replays(tmp_path, corpus):
    folder = tmp_path / "archive"
    folder.mkdir()
    path = folder / "20250101T000000000000Z-seed-0123456789ab.warc.gz"
    with open(path, "wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {
            "run-id": "0123456789ab", "source": "seed", "started": "2025-01-01T00:00:00Z", "parameters": "{}"}))
        body = (DATA.parent.parent / "annotations" / "seed.yaml").read_bytes()
        writer.write_record(writer.create_warc_record("urn:harvest:file:seed.yaml", "resource", payload=io.BytesIO(body),
                                                      length=len(body), warc_content_type="application/yaml"))
    runs = rebuild(corpus, folder)
    assert [r.status for r in runs] == ["ok"] and corpus["documents"].count == 23


def test_rebuild_prints_every_damaged_file_even_when_quiet(archive, tmp_path):
    for path in archive_files(archive):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    done = subprocess.run([sys.executable, "-m", "harvest", "rebuild", str(tmp_path / "r.db"), "--archive",
                           str(archive), "--quiet"], capture_output=True, text=True, timeout=120)
    damaged = [line for line in done.stderr.splitlines() if line.startswith("Error: damaged archive file: ")]
    assert len(damaged) == 2 and "2 damaged archive file(s)" in done.stderr
    assert all(path.name in done.stderr for path in archive_files(archive))
