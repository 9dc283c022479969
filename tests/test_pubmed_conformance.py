"""Conformance: every PubMed sample in ../shared/fixtures against its expected values."""

import json
import re

import pytest

from conftest import FIXTURES, normalised
from harvest.formats.pubmed import PubmedParseError, parse_pubmed

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures not present")

EXPECTED = (json.loads((FIXTURES / "expected" / "pubmed.json").read_text())["files"]
            if FIXTURES.is_dir() else {})
# Expected values that describe the file rather than our output (the raw title with its tags).
NOT_OUR_FIELDS = {"title_with_inline_markup"}


def observed(record: dict) -> dict:
    first = record["authors"][0] if record["authors"] else {}
    return {
        "pmid": record["pmid"], "title": record["title"], "doi": record["doi"],
        "journal": record["journal"], "journal_abbrev": record["journal_abbrev"],
        "year": str(record["year"]), "pmcid": record["pmcid"],
        "first_author_last_name": first.get("last_name") or first.get("collective_name"),
        "n_authors": len(record["authors"]),
        "mesh_descriptors": [m["descriptor"] for m in record["mesh"]],
        "publication_types": record["publication_types"],
        "record_type": record["record_type"], "book_title": record["book_title"],
        "n_book_editors": len(record["editors"]),
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_pubmed_fixture(name):
    expected = EXPECTED[name]
    data = (FIXTURES / "pubmed" / name).read_bytes()
    if expected.get("expect_error"):
        with pytest.raises(PubmedParseError, match=re.escape(name)):
            list(parse_pubmed(data, name))
        return
    records = list(parse_pubmed(data, name))
    assert len(records) == expected["n_records"]
    for record, wanted in zip(records, expected["records"]):
        got = observed(record)
        for field, value in wanted.items():
            if field in NOT_OUR_FIELDS:
                continue
            if field == "doi":
                value = value.lower()  # DOIs are stored lower-cased (they are case-insensitive)
            assert normalised(got[field]) == normalised(value), f"{name} {record['pmid']} {field}"
