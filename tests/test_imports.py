"""`harvest import`: citation files (BibTeX, RIS, CSL, MEDLINE, identifier lists) as documents."""

import json
import sqlite3
import re
import subprocess
import sys

import pytest

from harvest import db as database
from harvest.formats.citations import CitationParseError, identify, parse_citations, parse_landing_page
from harvest.sources.imports import load_import
from harvest.rebuild import rebuild

from conftest import FIXTURES, table_rows

REVIEW_BIB = FIXTURES / "imports" / "review-llm-mental-health.bib"

BIBTEX = rb"""
@article{hadzic2024,
  title = {Zero-Shot {LLM} Tests for Depression Detection in Schr{\"o}dinger's Clinic},
  author = {Had{\v{z}}i{\'c}, Bakir and von Neumann, John and {World Health Organization}},
  journal = {Computer Speech \& Language},
  year = {2024}, month = mar, volume = {88}, pages = {101--110},
  doi = {https://doi.org/10.1016/J.CSL.2024.101663},
  note = {PMID: 38000001}
}
@misc{li2025bench,
  title = {A Benchmark of Chatbot Counselling},
  author = {Li, Yahan},
  year = {2025},
  eprint = {2506.08584},
  archivePrefix = {arXiv},
  primaryClass = {cs.CL}
}
@article{old2023,
  title = {Titles Alone: A Study},
  journal = {arXiv preprint arXiv:2301.01234},
  year = {2023}
}
@article{broken,
  title = {Missing the closing brace
"""

RIS = b"""TY  - JOUR
TI  - Chatbots for Anxiety: A Randomised Trial
AU  - Smith, Anna
AU  - Jones, B.
PY  - 2024/05/02/
T2  - Journal of Testing
VL  - 3
IS  - 2
SP  - 10
EP  - 19
DO  - 10.5555/ris.1
UR  - https://example.org/ris-1
ER  -

TY  - JOUR
TI  - From PubMed
AN  - 39999999
DB  - PubMed
PY  - 2023
ER  -
""".replace(b"ER  -\n", b"ER  - \n")  # RIS's end tag has its trailing space

CSL = [
    {"id": "a", "type": "article-journal", "title": "Therapy Chatbots Reviewed",
     "author": [{"family": "Doe", "given": "Jane"}, {"literal": "The Study Group"}],
     "container-title": "Journal of CSL", "issued": {"date-parts": [[2022, 7, 14]]},
     "DOI": "10.5555/CSL.1", "PMID": "35000001", "PMCID": "PMC9000001"},
    {"id": "b", "type": "article", "title": "An arXiv Preprint", "DOI": "10.48550/arXiv.2401.00002",
     "number": "arXiv:2401.00002", "issued": {"date-parts": [[2024]]}},
    {"id": "c", "type": "article-journal"},
]

MEDLINE = b"""PMID- 40000001
TI  - Large language models in psychiatry: a test record.
FAU - Roe, Richard
AU  - Roe R
JT  - Test Journal of Psychiatry
DP  - 2025 Jan 3
AID - 10.5555/medline.1 [doi]
PT  - Journal Article

"""

LIST = b"""# my reading list
10.2196/59479
doi:10.1038/S44277-024-00010-Z
PMID: 40000002
PMC12017374
arXiv:2504.18412
https://www.example.org/study?utm_source=x
not an identifier at all
"""

LANDING = b"""<html><head><title>Site | Paper</title>
<meta name="citation_title" content="Landing Page Metadata for Chatbot Studies">
<meta name="citation_author" content="Kim, Min-Jun">
<meta name="citation_author" content="Ada Lovelace">
<meta name="citation_journal_title" content="Journal of Landing Pages">
<meta name="citation_publication_date" content="2024/03/05">
<meta name="citation_volume" content="7"><meta name="citation_firstpage" content="11">
<meta name="citation_lastpage" content="20"><meta name="citation_doi" content="10.5555/LP.7">
<meta name="citation_pmid" content="38111111">
</head><body></body></html>"""

DUBLIN_CORE = b"""<html><head><title>Only a title tag</title>
<meta name="DC.title" content="A Dublin Core Report">
<meta name="DC.creator" content="Garcia, Luis">
<meta name="DC.date" content="2021-11-30">
<meta name="DC.publisher" content="Institute of Examples">
</head></html>"""


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return path


def _outcomes(run):
    return {o.entry: o for o in run.context["outcomes"]}


def test_bibtex_decodes_latex_and_reads_arxiv_and_pmid():
    parsed = parse_citations(BIBTEX, "lib.bib")
    assert parsed.format == "bibtex"
    first, second, third = parsed.items
    assert first["title"] == "Zero-Shot LLM Tests for Depression Detection in Schrödinger's Clinic"
    assert first["venue"] == "Computer Speech & Language"
    assert first["authors"][0] == {"last_name": "Hadžić", "fore_name": "Bakir"}
    assert first["authors"][1] == {"last_name": "von Neumann", "fore_name": "John"}
    assert first["authors"][2] == {"collective_name": "World Health Organization"}
    assert (first["doi"], first["pmid"], first["published"], first["pages"]) == \
        ("10.1016/j.csl.2024.101663", "38000001", "2024-03", "101-110")
    assert (second["arxiv"], second["kind"]) == ("2506.08584", "preprint")
    assert third["arxiv"] == "2301.01234" and third["venue"] is None
    assert len(parsed.refused) == 1 and "unreadable BibTeX" in parsed.refused[0].reason


def test_ris_csl_and_lists():
    ris = parse_citations(RIS, "lib.ris")
    assert ris.format == "ris"
    assert ris.items[0]["authors"] == [{"last_name": "Smith", "fore_name": "Anna"},
                                       {"last_name": "Jones", "fore_name": "B."}]
    assert (ris.items[0]["published"], ris.items[0]["pages"], ris.items[0]["venue"]) == ("2024-05-02", "10-19", "Journal of Testing")
    assert ris.items[1]["pmid"] == "39999999"
    csl = parse_citations(json.dumps(CSL).encode(), "lib.json")
    assert csl.format == "csl-json"
    assert csl.items[0]["authors"][1] == {"collective_name": "The Study Group"}
    assert (csl.items[0]["doi"], csl.items[0]["pmid"], csl.items[0]["pmcid"], csl.items[0]["published"]) == \
        ("10.5555/csl.1", "35000001", "PMC9000001", "2022-07-14")
    assert csl.items[1]["arxiv"] == "2401.00002"
    assert csl.refused[0].reason.startswith("neither an identifier")
    yaml_file = parse_citations(b"references:\n- id: x\n  type: book\n  title: A Book\n  DOI: 10.5555/book\n", "r.yaml")
    assert yaml_file.format == "csl-yaml" and yaml_file.items[0]["kind"] == "book"
    listed = parse_citations(LIST, "ids.txt")
    assert listed.format == "list"
    assert [(i["doi"], i["pmid"], i["pmcid"], i["arxiv"]) for i in listed.items][:5] == [
        ("10.2196/59479", None, None, None), ("10.1038/s44277-024-00010-z", None, None, None),
        (None, "40000002", None, None), (None, None, "PMC12017374", None), (None, None, None, "2504.18412")]
    assert listed.items[5]["url"] == "https://www.example.org/study?utm_source=x"
    assert listed.refused[0].entry == "ids.txt line 8"
    assert identify("12345") == {"pmid": "12345"} and identify("hello") is None


def test_a_file_in_no_format_is_a_clear_error():
    with pytest.raises(CitationParseError, match="not valid JSON"):
        parse_citations(b"[{broken", "x.json")
    with pytest.raises(CitationParseError, match="not PubMed XML"):
        parse_citations(b"<?xml version='1.0'?><rss/>", "x.xml")
    with pytest.raises(CitationParseError, match="HTML page"):
        parse_citations(LANDING, "page.html")
    with pytest.raises(CitationParseError, match="empty"):
        parse_citations(b"\n  \n", "empty.txt")
    with pytest.raises(CitationParseError, match=r"refs.yaml line \d+: not valid YAML"):
        parse_citations(b"references:\n  - id: a\n    title: 'unclosed\n", "refs.yaml")
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
        b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n" % ((c,) * 2 + (c - 1,) * 9) for c in range(98, 106))
    with pytest.raises(CitationParseError, match="alias bomb"):  # read through harvest.config's bounds
        parse_citations(b"references:\n" + bomb, "bomb.yaml")
    with pytest.raises(CitationParseError, match="not valid JSON.*nested more than"):  # harvest.limits.load_json
        parse_citations(b"[" * 10000 + b"]" * 10000, "deep.json")
    cut = parse_citations(RIS.rsplit(b"ER  -", 1)[0], "cut.ris")  # the last record lost its closing line
    assert len(cut.items) == 1 and "not closed by an 'ER  - ' line" in cut.refused[0].reason


def test_landing_page_highwire_and_dublin_core():
    item = parse_landing_page(LANDING, "https://journal.example/article/7")
    assert item["title"] == "Landing Page Metadata for Chatbot Studies"
    assert item["authors"] == [{"last_name": "Kim", "fore_name": "Min-Jun"},
                               {"last_name": "Lovelace", "fore_name": "Ada"}]
    assert (item["venue"], item["published"], item["pages"], item["doi"], item["pmid"]) == \
        ("Journal of Landing Pages", "2024-03-05", "11-20", "10.5555/LP.7", "38111111")
    dc = parse_landing_page(DUBLIN_CORE, "https://inst.example/report")
    assert (dc["title"], dc["published"], dc["publisher"]) == ("A Dublin Core Report", "2021-11-30", "Institute of Examples")
    assert dc["authors"] == [{"last_name": "Garcia", "fore_name": "Luis"}]
    bare = parse_landing_page(b"<html><head><title>Just a page</title></head></html>", "https://x.example/")
    assert bare["title"] == "Just a page" and bare["doi"] is None


def test_import_reports_new_merged_unchanged_and_refused(corpus, tmp_path):
    archive = tmp_path / "archive"
    medline = load_import(corpus, archive, _write(tmp_path, "pubmed.nbib", MEDLINE))
    assert [o.outcome for o in medline.context["outcomes"]] == ["new"]
    ris_path = _write(tmp_path, "lib.ris", RIS.replace(b"10.5555/ris.1", b"10.5555/MEDLINE.1"))
    run = load_import(corpus, archive, ris_path)
    outcomes = _outcomes(run)
    assert outcomes["lib.ris record 1"].outcome == "merged"
    assert "doi:10.5555/medline.1" in outcomes["lib.ris record 1"].reason
    assert outcomes["lib.ris record 2"].outcome == "new"
    document = corpus["documents"].get(outcomes["lib.ris record 1"].document_id)
    assert document["venue"] == "Journal of Testing" and document["volume"] == "3"
    sources = {r[0] for r in corpus.execute("SELECT source_id FROM document_sources WHERE document_id = ?",
                                            [document["id"]])}
    assert "lib.ris#1" in sources
    again = load_import(corpus, archive, ris_path)
    assert [o.outcome for o in again.context["outcomes"]] == ["unchanged", "unchanged"]
    listed = load_import(corpus, archive, _write(tmp_path, "ids.txt", LIST))
    assert listed.status == "partial" and listed.counts["failed"] == 1
    assert any("refused" in e and "line 8" in e for e in listed.errors)
    empty = load_import(corpus, archive, _write(tmp_path, "bad.json", b"{not json"))
    assert empty.status == "failed"


@pytest.mark.skipif(not REVIEW_BIB.exists(), reason="../shared/fixtures/imports not present")
def test_review_library_adds_66_works_once_and_rebuilds(corpus, tmp_path):
    archive = tmp_path / "archive"
    first = load_import(corpus, archive, REVIEW_BIB)
    assert first.status == "ok"
    assert [o.outcome for o in first.context["outcomes"]].count("new") == 66
    assert corpus.execute("SELECT count(*) FROM documents").fetchone()[0] == 66
    dois = {r[0] for r in corpus.execute("SELECT value FROM identifiers WHERE scheme = 'doi'")}
    arxiv = {r[0] for r in corpus.execute("SELECT value FROM identifiers WHERE scheme = 'arxiv'")}
    assert "10.1016/j.csl.2024.101663" in dois and "10.1176/appi.ps.20250086" in dois
    assert "2506.08584" in arxiv and len(arxiv) == 11
    assert len(dois - {f"10.48550/arxiv.{a}" for a in arxiv}) == 51  # the file's 51 doi fields
    names = {r[0] for r in corpus.execute("SELECT name FROM authors")}
    assert {"Bakir Hadžić", "Matthias Rätsch"} <= names
    assert not any("\\" in r[0] or "{" in r[0] for r in corpus.execute("SELECT title FROM documents"))
    second = load_import(corpus, archive, REVIEW_BIB)
    assert second.counts["added"] == 0 and second.counts["updated"] == 0
    assert corpus.execute("SELECT count(*) FROM documents").fetchone()[0] == 66
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt, skip=("harvest_runs", "_schema")) == table_rows(corpus, skip=("harvest_runs", "_schema"))


def test_cli_import_says_what_happened(tmp_path):
    path = _write(tmp_path, "ids.txt", b"10.2196/59479\nnonsense\n")
    done = subprocess.run([sys.executable, "-m", "harvest", "import", str(tmp_path / "c.db"), str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 3
    assert "ids.txt: 1 new, 0 merged, 0 updated, 0 unchanged, 1 refused" in done.stdout
    assert "refused: ids.txt line 2" in done.stdout


CROSSREF_BIBTEX = {k.split("/", 1)[1]: v for k, v in json.loads((FIXTURES / "expected" / "apis.json").read_text())["files"].items()
                   if k.startswith("crossref/") and k.endswith(".bib")} if FIXTURES.is_dir() else {}


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures not present")
@pytest.mark.parametrize("name", sorted(CROSSREF_BIBTEX))
def test_crossref_content_negotiation_bibtex(name):
    expected = CROSSREF_BIBTEX[name]
    data = (FIXTURES / "apis" / "crossref" / name).read_bytes()
    parsed = parse_citations(data, name)
    assert parsed.format == "bibtex" and not parsed.refused
    (item,) = parsed.items
    assert item["doi"] == expected["doi"].lower()
    if "title" in expected:
        assert " ".join(item["title"].split()) == " ".join(expected["title"].split()).rstrip(".")
    assert item["year"] and bool(item["authors"]) == bool(re.search(rb"author\s*=", data))
    assert item["pages"] is None or "\u2013" not in item["pages"]


CSL_YAML_TYPOS = b"""references:
- id: good
  type: article-journal
  title: A Well Written Item
  container-title: Journal of Testing
  author: [{family: Smith, given: Anna}]
  issued: {date-parts: [[2024, 5]]}
  DOI: 10.5555/good
- id: venue
  type: article-journal
  title: One
  containter-title: Journal of Testing
  DOI: 10.5555/venue
- id: lower
  type: book
  title: Two
  doi: 10.5555/lower
- id: name
  type: book
  title: Three
  author: [{famly: Smith, given: A}]
- id: date
  type: book
  title: Four
  issued: {date_parts: [[2020]]}
- id: stranger
  type: book
  title: Five
  zzzz: 1
"""


def test_a_misspelt_csl_yaml_key_is_refused_naming_it_and_the_right_one():
    parsed = parse_citations(CSL_YAML_TYPOS, "refs.yaml")
    assert [i["entry"] for i in parsed.items] == ["good"]
    reasons = {r.entry: r.reason for r in parsed.refused}
    assert reasons["refs.yaml item venue"].startswith("unknown CSL key 'containter-title' (did you mean 'container-title'?)")
    assert "unknown CSL key 'doi' (did you mean 'DOI'?)" in reasons["refs.yaml item lower"]
    assert "unknown CSL key 'famly' in a name of 'author' (did you mean 'family'?)" in reasons["refs.yaml item name"]
    assert "unknown CSL key 'date_parts' in the date 'issued' (did you mean 'date-parts'?)" in reasons["refs.yaml item date"]
    assert "unknown CSL key 'zzzz';" in reasons["refs.yaml item stranger"] and "did you mean" not in reasons["refs.yaml item stranger"]
    assert all("not imported" in r for r in reasons.values())
    machine = [{"id": "x", "type": "article-journal", "title": "T", "DOI": "10.5555/x", "indexed": {"date-parts": [[2024]]},
                "reference-count": 3}]
    assert len(parse_citations(json.dumps(machine).encode(), "crossref.json").items) == 1, \
        "CSL-JSON from a program may carry extra keys (Crossref's indexed, reference-count)"


def test_cli_import_names_a_misspelt_csl_key(tmp_path):
    path = _write(tmp_path, "refs.yaml", CSL_YAML_TYPOS)
    done = subprocess.run([sys.executable, "-m", "harvest", "import", str(tmp_path / "c.db"), str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert "refs.yaml: 1 new, 0 merged, 0 updated, 0 unchanged, 5 refused" in done.stdout
    assert "refs.yaml item venue: unknown CSL key 'containter-title' (did you mean 'container-title'?)" in done.stdout


def test_an_abstract_in_any_citation_format_is_kept_and_imported(tmp_path):
    abstract = "Chatbot users reported less loneliness after four weeks."
    files = {
        "a.bib": f"@article{{k1, title={{Companion chatbots}}, abstract={{{abstract}}}, doi={{10.5555/a1}}, year={{2025}}}}",
        "a.ris": f"TY  - JOUR\nTI  - Companion chatbots\nAB  - {abstract}\nDO  - 10.5555/a2\nPY  - 2025\nER  - \n",
        "a.json": json.dumps([{"id": "k3", "type": "article-journal", "title": "Companion chatbots",
                               "abstract": abstract, "DOI": "10.5555/a3"}]),
    }
    for name, text in files.items():
        items = parse_citations(text.encode(), name).items
        assert [item["abstract"] for item in items] == [abstract], name
        (tmp_path / name).write_text(text)
    from click.testing import CliRunner
    from harvest.cli import main
    corpus = tmp_path / "corpus.db"
    for name in files:
        result = CliRunner().invoke(main, ["import", str(corpus), str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    stored = sqlite3.connect(corpus).execute("SELECT count(*) FROM documents WHERE abstract = ?", [abstract]).fetchone()[0]
    assert stored == 3
