"""Large PubMed files parsed in pieces on several processes: same records, same order, same errors."""

import gzip
import io
import json

import pytest

from conftest import DATA
from harvest import chunked
from harvest.formats.pubmed import PubmedParseError, parse_pubmed, parse_pubmed_json_lines

SAMPLE = (DATA / "pubmed_sample.xml").read_bytes()
HEAD, REST = SAMPLE.split(b"<PubmedArticleSet>", 1)
ARTICLES, TAIL = REST.rsplit(b"</PubmedArticleSet>", 1)


def big_file(copies: int, damage: bytes | None = None) -> bytes:
    """The sample's three articles repeated, each copy with its own PMIDs."""
    body = b"".join(ARTICLES.replace(b">9000000", f">{9100 + n}00".encode()) for n in range(copies))
    if damage is not None:
        body += damage
    return HEAD + b"<PubmedArticleSet>" + body + b"</PubmedArticleSet>" + TAIL


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch):
    monkeypatch.setattr(chunked, "PIECE_BYTES", 20_000)
    monkeypatch.setattr(chunked, "PARALLEL_AFTER", 2)


def test_small_input_stays_in_this_process(monkeypatch):
    monkeypatch.setattr(chunked, "PARALLEL_AFTER", 1000)
    monkeypatch.setattr(chunked, "ProcessPoolExecutor", None)  # would fail if used
    assert len(list(parse_pubmed(big_file(10), "small", workers=2))) == 30


def test_pieces_give_the_same_records_in_the_same_order():
    data = gzip.compress(big_file(40))
    one = list(parse_pubmed(data, "big", workers=1))
    many = list(parse_pubmed(data, "big", workers=2))
    assert len(many) == 120 and many == one


def test_split_keeps_prolog_first_and_closing_root_last():
    pieces = list(chunked.split_at_records(io.BytesIO(big_file(20)), (b"</PubmedArticle>",),
                                           b"PubmedArticleSet"))
    assert len(pieces) > 3
    assert pieces[0].data.startswith(b"<?xml") and pieces[-1].data.rstrip().endswith(b"</PubmedArticleSet>")
    assert [p.first_record for p in pieces[1:]] == [
        sum(p.records for p in pieces[:i]) for i in range(1, len(pieces))]
    assert sum(p.records for p in pieces) == 60


def test_unusable_records_are_reported_with_their_place_in_the_file():
    data = big_file(40).replace(b'<PMID Version="1">9124002</PMID>', b"", 1)  # copy 25, record 2
    errors = []
    records = list(parse_pubmed(data, "big", on_error=errors.append, workers=2))
    assert len(records) == 119
    assert [str(e) for e in errors] == ["big: record 74 (PMID unknown) is unusable: no usable PMID (None)"]


def test_damage_in_a_late_piece_keeps_every_record_before_it():
    data = big_file(40)
    cut = data[: data.rindex(b"<PubmedArticle>") + 400]
    seen = []
    with pytest.raises(PubmedParseError, match=r"big: malformed XML after 119 complete records"):
        for record in parse_pubmed(cut, "big", workers=2):
            seen.append(record["pmid"])
    assert len(seen) == 119


def test_only_a_few_pieces_are_in_flight():
    pulled, done = [], []

    def pieces():
        for n in range(30):
            pulled.append(n)
            yield chunked.Piece(b"x", n, 1)

    for result in chunked.parse_pieces(pieces(), _echo, "t", workers=2):
        done.append(result)
        assert len(pulled) - len(done) <= 4  # 2 pieces per worker at most
    assert done == list(range(30))


def _echo(data, name, first_record):
    return first_record


def test_a_piece_is_parsed_whole_and_a_damaged_one_streamed_to_its_damage(monkeypatch):
    """A piece that is a whole document (even one naming PubMed's DTD by its http address) is
    built as one tree, giving the streaming parser's records; a damaged piece goes to the
    streaming parser, which keeps the records before the damage."""
    from harvest.formats import pubmed
    streamed = []
    real = pubmed.parse_pubmed_xml

    def watching(source, name, *args):
        streamed.append(name)
        return real(source, name, *args)
    monkeypatch.setattr(pubmed, "parse_pubmed_xml", watching)
    doctype = (b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD '
               b'PubMedArticle, 1st January 2019//EN" "http://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_190101.dtd">\n')
    data = doctype + b"<PubmedArticleSet>" + ARTICLES + b"</PubmedArticleSet>"
    records, errors, fatal = pubmed._parse_tree(pubmed._piece_tree(data), "whole", 0)
    assert (errors, fatal, streamed) == ([], None, [])
    assert [r["pmid"] for r in records] == ["90000001", "90000002", "90000003"]
    assert records == list(parse_pubmed(data, "streamed"))
    records, errors, fatal = pubmed._parse_tree(pubmed._piece_tree(data[: data.rindex(b"<PubmedArticle>") + 100]), "cut", 7)
    assert streamed == ["streamed", "cut"]
    assert len(records) == 2 and fatal.startswith("cut: malformed XML after 9 complete records")


def test_json_lines_are_the_records_encoded_in_the_workers():
    data = gzip.compress(big_file(40))
    records = list(parse_pubmed(data, "big", workers=1))
    for workers in (1, 2):
        lines = list(parse_pubmed_json_lines(data, "big", workers=workers))
        assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
        assert [json.loads(line) for line in lines] == records
    assert "café".encode() in lines[0]  # UTF-8, not \u escapes
    errors = []
    damaged = big_file(40).replace(b'<PMID Version="1">9124002</PMID>', b"", 1)
    assert len(list(parse_pubmed_json_lines(damaged, "big", on_error=errors.append, workers=2))) == 119
    assert [str(e) for e in errors] == ["big: record 74 (PMID unknown) is unusable: no usable PMID (None)"]


def test_pieces_are_parsed_with_the_cycle_collector_paused_and_restored():
    import gc
    assert gc.isenabled()
    pieces = [chunked.Piece(b"x", n, 1) for n in range(3)]
    assert list(chunked.parse_pieces(iter(pieces), _collector_state, "t", workers=1)) == [False] * 3
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError):
        chunked.uncollected(lambda: 1 / 0)
    assert gc.isenabled()


def _collector_state(data, name, first_record):
    import gc
    return gc.isenabled()


def test_a_reader_stopped_early_lets_go_of_the_stream():
    """A consumer that stops reading a file after some pieces: the thread that decompresses
    ahead must end then, not wait for ever holding the file."""
    import threading
    before = threading.active_count()
    stream = gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(big_file(40))))
    pieces = chunked.split_at_records(stream, (b"</PubmedArticle>",), b"PubmedArticleSet")
    assert next(pieces).records > 0
    assert threading.active_count() > before
    pieces.close()
    assert threading.active_count() == before
