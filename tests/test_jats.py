"""JATS parsing: the team's own sample, bad input, and every JATS sample in ../shared/fixtures."""

import gzip
import json
import subprocess
import sys

import pytest

from conftest import DATA, FIXTURES, normalised
from harvest.formats.jats import JatsParseError, parse_jats

SAMPLE = (DATA / "jats_sample.xml").read_bytes()
EXPECTED = (json.loads((FIXTURES / "expected" / "jats.json").read_text())["files"]
            if FIXTURES.is_dir() else {})


def test_front_matter_authors_and_license():
    record, = parse_jats(SAMPLE, "sample")
    assert (record["doi"], record["pmid"], record["pmcid"]) == ("10.2196/12345", "39000001", "PMC11000001")
    assert record["title"] == "A chatbot for low mood: a pilot"
    assert record["journal"] == "JMIR Mental Health" and record["issn"] == ["2368-7959"]
    assert record["published"] == "2024-03-05" and record["year"] == 2024  # epub before collection
    assert record["pages"] == "e12345" and record["volume"] == "11"
    assert record["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert record["keywords"] == ["chatbot", "depression"]
    first, group = record["authors"]
    assert (first["last_name"], first["fore_name"], first["orcid"]) == ("Nakamura", "Aiko", "0000-0002-1825-0097")
    assert first["affiliations"] == ["Department of Psychiatry, Invented University, Osaka, Japan"]
    assert group["collective_name"] == "The Invented Study Group"  # the editor is not an author


def test_abstract_sections_body_and_references():
    record, = parse_jats(gzip.compress(SAMPLE), "sample.gz")
    assert record["abstract_sections"] == [
        {"label": "Background", "text": "People talk to chatbots about low mood."},
        {"label": "Results", "text": "Mood improved by 3 points."}]  # the toc abstract is skipped
    assert [s["title"] for s in record["sections"]] == ["Introduction", "Aims", "Methods"]
    assert record["sections"][0]["text"] == "Intro text."  # its sub-section stands on its own
    assert record["references"] == [
        {"doi": "10.1000/earlier", "pmid": "30000001", "title": "An earlier study", "year": "2020"},
        {"doi": None, "pmid": None, "title": None, "year": None}]


@pytest.mark.parametrize("data, message", [
    (b"<article><front><journal-meta/></front></article>", "has no <front>/<article-meta>"),
    (b"<html><body>not jats</body></html>", "no JATS <article>"),
    (SAMPLE[:400], "malformed XML"),
])
def test_bad_input_is_a_clear_error(data, message):
    with pytest.raises(JatsParseError, match=message):
        list(parse_jats(data, "bad"))


def test_parse_command_reads_jats():
    run = subprocess.run([sys.executable, "-m", "harvest", "parse", "--format", "jats", str(DATA / "jats_sample.xml")],
                         capture_output=True, text=True, check=True)
    assert json.loads(run.stdout)["doi"] == "10.2196/12345"


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures not present")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_jats_fixture(name):
    expected = EXPECTED[name]
    records = list(parse_jats((FIXTURES / "jats" / name).read_bytes(), name))
    assert len(records) == expected["n_articles"]
    for record, wanted in zip(records, expected["articles"]):
        first = record["authors"][0] if record["authors"] else {}
        observed = {
            "article_type": record["article_type"], "journal": record["journal"], "issn": record["issn"],
            "publisher": record["publisher"], "doi": record["doi"], "pmid": record["pmid"],
            "pmcid": (record["pmcid"] or "").removeprefix("PMC") or None,  # expected ids are bare
            "publisher_id": record["publisher_id"], "title": record["title"],
            "n_authors": len(record["authors"]),
            "first_author_surname": first.get("last_name") or first.get("collective_name"),
            "year": str(record["year"]) if record["year"] else None, "volume": record["volume"],
            "keywords": record["keywords"], "n_body_sections": len(record["sections"]),
            "n_references": len(record["references"]),
        }
        for field, value in wanted.items():
            if field == "title_with_inline_markup":
                continue  # the raw title with its tags describes the file, not our output
            if field == "abstract_starts_with":
                assert record["abstract_sections"][0]["text"].startswith(normalised(value)), name
                continue
            if field == "doi":
                value = value.lower()
            assert normalised(observed[field]) == normalised(value), f"{name} {field}"
