"""PubMed parsing: the team's own small fixtures, the documented JSON Lines interface, bad input."""

import gzip
import io
import json
import subprocess
import sys

import pytest

from conftest import DATA
from harvest.formats.pubmed import PubmedParseError, parse_esearch, parse_pubmed

SAMPLE = (DATA / "pubmed_sample.xml").read_bytes()


def records(data=SAMPLE):
    return list(parse_pubmed(data, "sample"))


def test_full_record_fields():
    first = records()[0]
    assert first["pmid"] == "90000001"
    assert first["doi"] == "10.9999/invented.2023.001"  # from the article's own ids, not references
    assert first["pmcid"] == "PMC9000001"
    assert first["title"] == "Chatbot companions & loneliness: a test of H2 – café talk"
    assert first["journal"] == "Journal of Invented Studies"
    assert first["journal_abbrev"] == "J Invent Stud"
    assert (first["volume"], first["issue"], first["pages"]) == ("11", "2", "101-9")
    assert first["language"] == "eng"
    assert first["keywords"] == ["large language models", "companionship"]
    assert first["publication_types"] == ["Journal Article", "Randomized Controlled Trial"]


def test_structured_abstract_keeps_labels():
    first = records()[0]
    assert first["abstract_sections"] == [
        {"label": "BACKGROUND", "text": "People talk to chatbots."},
        {"label": "RESULTS", "text": "Loneliness fell by 3 points."}]
    assert first["abstract"] == "BACKGROUND: People talk to chatbots.\nRESULTS: Loneliness fell by 3 points."


def test_authors_collective_orcid_affiliations_and_invalid_entries():
    authors = records()[0]["authors"]
    assert [a["last_name"] or a["collective_name"] for a in authors] == [
        "Rivera", "Chatbot Safety Consortium"]
    assert authors[0]["fore_name"] == "Ana María" and authors[0]["initials"] == "AM"
    assert authors[0]["orcid"] == "0000-0002-1825-0097"
    assert authors[0]["affiliations"] == ["Dept of Psychiatry, Invented University.", "Second Institute."]


def test_mesh_with_qualifiers_and_major_flags():
    mesh = records()[0]["mesh"]
    assert mesh[0] == {"descriptor": "Loneliness", "ui": "D008132", "major": True, "qualifiers": []}
    assert mesh[1]["qualifiers"] == [{"name": "psychology", "ui": "Q000523", "major": True},
                                     {"name": "epidemiology", "ui": "Q000453", "major": False}]


def test_dates_medline_date_season_and_numeric_month():
    first, second, third = records()
    assert (first["published"], first["year"]) == ("2023-01", 2023)   # MedlineDate "2023 Jan-Feb"
    assert (second["published"], second["year"]) == ("2019", 2019)    # Season: year only
    assert third["published"] == "2024-03-07"


def test_retraction_links_mark_documents_retracted():
    first, second, third = records()
    assert first["retracted"] and first["retraction_notices"] == ["90000009"]
    assert not second["retracted"]
    assert third["retracted"]  # publication type "Retracted Publication"


def test_gzipped_xml_is_read():
    assert [r["pmid"] for r in parse_pubmed(gzip.compress(SAMPLE))] == ["90000001", "90000002", "90000003"]


def test_truncated_xml_raises_clear_error_after_complete_records():
    cut = SAMPLE[: SAMPLE.index(b"<PMID Version=\"1\">90000003")]
    seen = []
    with pytest.raises(PubmedParseError, match=r"batch-7: malformed XML after 2 complete records"):
        for record in parse_pubmed(cut, "batch-7"):
            seen.append(record["pmid"])
    assert seen == ["90000001", "90000002"]


def test_not_pubmed_xml_is_rejected():
    with pytest.raises(PubmedParseError, match="not a PubMed efetch document"):
        records(b"<?xml version='1.0'?><html><body>hi</body></html>")
    with pytest.raises(PubmedParseError, match="neither PubMed XML nor MEDLINE"):
        records(b"\x00\x01binary")


def test_eutilities_error_document_is_reported():
    with pytest.raises(PubmedParseError, match="E-utilities returned an error: Invalid"):
        records(b"<eFetchResult><ERROR>Invalid query_key</ERROR></eFetchResult>")


def test_external_entities_are_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    hostile = f"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "file://{secret}">]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>
<ArticleTitle>a &xxe; b</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"""
    titles = [r["title"] for r in records(hostile.encode())]
    assert "TOPSECRET" not in json.dumps(titles)


def test_medline_text_records():
    text = (DATA / "medline_sample.txt").read_bytes()
    first, second = parse_pubmed(text, "medline")
    assert first["pmid"] == "90000011" and first["title"] == "A chatbot study that spans two lines of title text."
    assert first["doi"] == "10.9999/medline.1" and first["pmcid"] == "PMC9000011"
    assert [a["last_name"] or a["collective_name"] for a in first["authors"]] == [
        "Okafor", "Lindqvist", "Digital Psychiatry Group"]
    assert first["authors"][0]["fore_name"] == "Chinwe" and first["authors"][0]["initials"] == "C"
    assert first["authors"][0]["affiliations"] == ["Clinic One, Somewhere."]
    assert first["authors"][0]["orcid"] == "0000-0001-2345-6789"
    assert first["mesh"][0] == {"descriptor": "Chatbots", "ui": None, "major": True, "qualifiers": []}
    assert first["mesh"][1]["qualifiers"] == [{"name": "psychology", "ui": None, "major": True}]
    assert (first["published"], first["year"]) == ("2024-05", 2024)
    assert first["keywords"] == ["LLM"]
    assert second["retracted"] and second["retraction_notices"] == ["90000099"]


def test_esearch_response_and_its_errors():
    result = parse_esearch(b"""<eSearchResult><Count>3</Count><RetMax>0</RetMax><QueryKey>1</QueryKey>
        <WebEnv>MCID_abc</WebEnv><IdList/><WarningList><OutputMessage>No items found.</OutputMessage>
        </WarningList></eSearchResult>""")
    assert (result.count, result.query_key, result.webenv) == (3, "1", "MCID_abc")
    assert result.warnings == ["No items found."]
    with pytest.raises(PubmedParseError, match="E-utilities error: Invalid db"):
        parse_esearch(b"<eSearchResult><ERROR>Invalid db name</ERROR></eSearchResult>")
    with pytest.raises(PubmedParseError, match="malformed esearch XML"):
        parse_esearch(b"<eSearchResult><Count>3</Cou")


def test_parse_command_prints_documented_json_lines(tmp_path):
    gz = tmp_path / "sample.xml.gz"
    gz.write_bytes(gzip.compress(SAMPLE))
    out = subprocess.run([sys.executable, "-m", "harvest", "parse", "--format", "pubmed", str(gz)],
                         capture_output=True, text=True, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3
    assert list(lines[0])[:20] == [
        "pmid", "doi", "pmcid", "title", "abstract", "abstract_sections", "authors", "journal",
        "journal_abbrev", "volume", "issue", "pages", "published", "year", "publication_types",
        "mesh", "keywords", "language", "retracted", "retraction_notices"]
    assert set(lines[0]["authors"][0]) == {"last_name", "fore_name", "initials", "suffix", "collective_name",
                                           "orcid", "affiliations"}


def test_parse_command_reports_bad_files_and_fails(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(SAMPLE[:900])
    run = subprocess.run([sys.executable, "-m", "harvest", "parse", "--format", "pubmed", str(bad)],
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert "bad.xml: malformed XML" in run.stderr


def test_parser_frees_each_article_so_memory_stays_flat(monkeypatch):
    """iterparse keeps building the tree; the parser must drop what it has read."""
    from harvest.formats import pubmed
    article = SAMPLE[SAMPLE.index(b"<PubmedArticle>"):SAMPLE.index(b"</PubmedArticle>") + 16]
    big = b"<PubmedArticleSet>" + article * 3000 + b"</PubmedArticleSet>"
    siblings = []
    real = pubmed._article

    def watching(element):
        before = list(element.itersiblings(preceding=True))
        siblings.append((len(before), sum(len(b) for b in before)))
        return real(element)
    monkeypatch.setattr(pubmed, "_article", watching)
    assert sum(1 for _ in parse_pubmed(io.BytesIO(big), "big")) == 3000
    # at most the previous article's empty shell is left; everything read before is gone
    assert max(count for count, _ in siblings) == 1 and max(size for _, size in siblings) == 0


def test_unusable_record_is_skipped_with_an_error_and_the_rest_kept():
    broken = SAMPLE.replace(b'<PMID Version="1">90000002</PMID>', b"", 1)
    with pytest.raises(PubmedParseError, match=r"record 2 \(PMID unknown\) is unusable: no usable PMID"):
        records(broken)
    errors = []
    kept = list(parse_pubmed(broken, "sample", on_error=errors.append))
    assert [r["pmid"] for r in kept] == ["90000001", "90000003"]
    assert len(errors) == 1 and "record 2" in str(errors[0])
    no_article = b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>5</PMID></MedlineCitation>" \
                 b"</PubmedArticle></PubmedArticleSet>"
    with pytest.raises(PubmedParseError, match=r"PMID 5\) is unusable: no MedlineCitation/Article"):
        records(no_article)


def test_medline_record_without_pmid_is_reported():
    errors = []
    kept = list(parse_pubmed(b"PMID- 1\nTI  - One.\n\nTI  - No id.\n\nPMID- 3\nTI  - Three.\n",
                             "m", on_error=errors.append))
    assert [r["pmid"] for r in kept] == ["1", "3"]
    assert "m: record 2 is unusable" in str(errors[0])
    with pytest.raises(PubmedParseError, match="line 2 is not a MEDLINE field"):
        records(b"PMID- 1\n<html>\n")


def test_parse_command_prints_the_records_before_damage_then_fails(tmp_path):
    cut = tmp_path / "cut.xml"
    cut.write_bytes(SAMPLE[: SAMPLE.index(b"<PMID Version=\"1\">90000003")])
    run = subprocess.run([sys.executable, "-m", "harvest", "parse", "--format", "pubmed", str(cut)],
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert [json.loads(line)["pmid"] for line in run.stdout.splitlines()] == ["90000001", "90000002"]
    assert "cut.xml: malformed XML after 2 complete records" in run.stderr
    assert "café" in run.stdout  # UTF-8 output, not \u escapes


def test_parse_command_imports_only_the_chosen_formats_parser(tmp_path):
    sample = tmp_path / "sample.xml"
    sample.write_bytes(SAMPLE)
    probe = ("import sys\nfrom harvest.cli import main\ntry:\n    main(['parse', '--format', 'pubmed', sys.argv[1]])\n"
             "except SystemExit as end:\n    assert end.code == 0, end.code\n"
             "print(sorted(m for m in ('trafilatura', 'feedparser', 'harvest.formats.jats', 'harvest.sources.arxiv')"
             " if m in sys.modules), file=sys.stderr)\n")
    run = subprocess.run([sys.executable, "-c", probe, str(sample)], capture_output=True, text=True, check=True)
    assert len(run.stdout.splitlines()) == 3
    assert run.stderr.strip() == "[]"
