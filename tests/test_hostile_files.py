"""Files built to grow: entity bombs in feeds, gzip payload bombs, a PubMed file whose record
never ends, nesting bombs in JSON. Each is refused or capped with the cap named, in bounded time
and memory (the dangerous ones run in a child process limited to 1 GiB of address space)."""

import gzip
import io
import json
import subprocess
import sys
import textwrap
import zlib

import pytest

from conftest import DATA
from harvest import chunked, limits
from harvest.formats.jats import JatsParseError, parse_jats
from harvest.formats.pubmed import PubmedParseError, parse_pubmed


def in_small_process(code: str, timeout: int = 120) -> str:
    """Run `code` in a child limited to 1 GiB of memory; its stdout, or the test fails."""
    script = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n" + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def gzip_bomb(inflated: int, prefix: bytes = b"") -> bytes:
    """A gzip payload of `prefix` then zeros, `inflated` bytes in all once decompressed."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts, block, left = [packer.compress(prefix)], b"\0" * (1 << 20), inflated - len(prefix)
    while left > 0:
        parts.append(packer.compress(block[:min(left, len(block))]))
        left -= len(block)
    return b"".join(parts) + packer.flush()


FEED_BOMB = """
from harvest.formats.feeds import parse_feed
entity = "x" * 50_000
body = "<title>&big;</title>" + "<item><title>&big;</title></item>" * 40_000
for encoding in ("utf-8", "utf-16"):
    data = ('<?xml version="1.0" encoding="%s"?><!DOCTYPE rss [<!ENTITY big "%s">]>'
            '<rss version="2.0"><channel>%s</channel></rss>' % (encoding, entity, body)).encode(encoding)
    feed = parse_feed(data, "bomb")
    print(encoding, len(data), len(feed.entries), max(len(e.title) for e in feed.entries), feed.warnings[:1])
"""


def test_a_feed_entity_of_50_kb_referenced_40000_times_is_never_expanded():
    """The naive expansion is 50 kB x 40,001 = 2 GB; the feed is read in under 1 GiB."""
    out = in_small_process(FEED_BOMB).splitlines()
    assert len(out) == 2
    for line in out:
        encoding, size, entries, longest, warning = line.split(" ", 4)
        assert int(entries) == 40_000 and int(longest) < 100
        if encoding == "utf-8":
            assert "removed unread" in warning


def test_the_internal_subset_goes_and_the_doctype_stays():
    plain = b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape//DTD RSS 0.91//EN" "http://x/rss.dtd"><rss/>'
    assert limits.strip_internal_subset(plain) == plain
    tricky = b'<!DOCTYPE rss [<!ENTITY a "]>"><!-- ] --><!ENTITY b \'x\'>]><rss>&a;</rss>'
    assert limits.strip_internal_subset(tricky) == b"<!DOCTYPE rss ><rss>&a;</rss>"


def test_a_jats_gzip_payload_over_the_cap_is_refused_naming_the_cap():
    """A 300 MiB payload in under a megabyte: stopped at the 256 MiB cap, in a 1 GiB process."""
    out = in_small_process(f"""
        import zlib, sys
        sys.path.insert(0, {str(DATA.parent)!r})
        from test_hostile_files import gzip_bomb
        from harvest.formats.jats import JatsParseError, parse_jats
        bomb = gzip_bomb(300 << 20, b"<article>")
        try:
            list(parse_jats(bomb, "bomb.nxml.gz"))
        except JatsParseError as error:
            print(len(bomb), error)
    """)
    size, message = out.split(" ", 1)
    assert int(size) < 1 << 20
    assert "bomb.nxml.gz: over the 268435456-byte cap after decompression" in message


def test_a_cut_jats_gzip_payload_is_damaged_not_short():
    packed = gzip.compress((DATA / "jats_sample.xml").read_bytes())
    with pytest.raises(JatsParseError, match="damaged gzip data: .* ends before its end marker"):
        list(parse_jats(packed[: len(packed) // 2], "cut.gz"))


def test_a_pubmed_record_that_never_ends_stops_at_the_record_cap():
    """A complete record, then one whose closing tag never comes: 70 MiB of it (compressed to
    70 kB). The splitter searches each block once and stops at 64 MiB, after the good record."""
    good = (DATA / "pubmed_sample.xml").read_bytes()
    head, _, rest = good.partition(b"<PubmedArticleSet>")
    first = rest[: rest.index(b"</PubmedArticle>") + len(b"</PubmedArticle>")]
    payload = head + b"<PubmedArticleSet>" + first + b"<PubmedArticle><MedlineCitation>"
    bomb = gzip_bomb(70 << 20, payload)
    records = []
    with pytest.raises(PubmedParseError, match=r"no record ends within 67108864 bytes \(after 1 complete records\)"):
        for record in parse_pubmed(io.BytesIO(bomb), "bomb.xml.gz", workers=None):
            records.append(record)
    assert len(records) == 1


def test_the_splitter_searches_each_block_once(monkeypatch):
    """Count the bytes rfind looks at: linear in the input, not quadratic."""
    looked = []
    real = chunked._end_of_last
    monkeypatch.setattr(chunked, "_end_of_last",
                        lambda buffer, tag, start=0: looked.append(len(buffer) - start) or real(buffer, tag, start))
    data = b"<PubmedArticleSet><PubmedArticle>" + b"x" * 2_000_000
    with pytest.raises(limits.LimitExceeded) as error:
        list(chunked.split_at_records(io.BytesIO(data), (b"</PubmedArticle>",), b"PubmedArticleSet",
                                      piece_bytes=10_000, max_record_bytes=1_000_000))
    assert error.value.cap == "record size"
    assert sum(looked) < 1_100_000  # a rescan of the growing buffer would look at ~50 million


def test_a_stream_over_its_cap_is_stopped():
    stream = limits.capped(gzip.GzipFile(fileobj=io.BytesIO(gzip_bomb(5 << 20))), 1 << 20, "big.gz")
    with pytest.raises(limits.LimitExceeded, match="big.gz: over the 1048576-byte cap"):
        while stream.read(65536):
            pass


def test_parse_command_reports_a_gzip_bomb_and_goes_on(tmp_path):
    bomb = tmp_path / "bomb.xml.gz"
    bomb.write_bytes(gzip_bomb(300 << 20, b"<rss>"))
    fine = tmp_path / "fine.xml"
    fine.write_bytes(b"<rss version='2.0'><channel><title>T</title><item><title>kept</title></item></channel></rss>")
    done = subprocess.run([sys.executable, "-m", "harvest", "parse", "--format", "feed", str(bomb), str(fine)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "over the 268435456-byte cap after decompression" in done.stderr
    assert json.loads(done.stdout)["title"] == "kept"


@pytest.mark.parametrize("document", [b"[" * 200_000 + b"]" * 200_000, b'{"a":' * 200_000 + b"1" + b"}" * 200_000])
def test_json_nested_200000_deep_is_malformed_json_not_a_crash(document):
    with pytest.raises(json.JSONDecodeError, match="nested more than 500 levels"):
        limits.load_json(document)


def test_ordinary_json_and_brackets_inside_strings_still_read():
    assert limits.load_json(b'{"a": [1, {"b": "[[[[["}]}') == {"a": [1, {"b": "[[[[["}]}
    assert limits.load_json(json.dumps({"s": "[" * 100_000})) == {"s": "[" * 100_000}
