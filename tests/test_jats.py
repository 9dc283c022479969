"""JATS parsing: the team's own sample, bad input, and every JATS sample in ../shared/fixtures."""

import gzip
import json
import re
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


def article(meta: str, title: str = "A chatbot study", abstract: str = "") -> bytes:
    return f"""<article xmlns:mml="http://www.w3.org/1998/Math/MathML" xmlns:xlink="http://www.w3.org/1999/xlink">
<front><article-meta><title-group><article-title>{title}</article-title></title-group>{meta}{abstract}
</article-meta></front></article>""".encode()


def names(meta: str) -> list[tuple]:
    record, = parse_jats(article(meta))
    return [(a["last_name"], a["fore_name"], a["suffix"], a["collective_name"], a["orcid"]) for a in record["authors"]]


def test_a_collab_holding_its_members_is_one_group_author_named_by_its_own_text():
    meta = """<contrib-group>
  <contrib contrib-type="author"><name><surname>Okafor</surname><given-names>Ada</given-names></name></contrib>
  <contrib contrib-type="author"><collab>Reproducibility Project: Digital Mental Health<xref ref-type="fn" rid="fn1">*</xref>
    <contrib-group>
      <contrib contrib-type="author"><name><surname>Lee</surname><given-names>Kim</given-names></name>
        <aff>Example Exchange<country>United States</country></aff></contrib>
      <contrib contrib-type="author"><name><surname>Tran</surname><given-names>Bo</given-names></name></contrib>
    </contrib-group></collab></contrib>
</contrib-group>"""
    assert names(meta) == [("Okafor", "Ada", None, None, None),
                           (None, None, None, "Reproducibility Project: Digital Mental Health", None)]


def test_group_members_listed_apart_from_the_byline_are_not_authors():
    meta = """<contrib-group>
  <contrib contrib-type="author"><name><surname>Okafor</surname><given-names>Ada</given-names></name></contrib>
  <contrib contrib-type="author"><collab>Chatbot Safety Consortium</collab></contrib>
</contrib-group>
<contrib-group content-type="collab-list">
  <contrib contrib-type="author"><name><surname>Lee</surname><given-names>Kim</given-names></name></contrib>
</contrib-group>
<contrib-group>
  <contrib contrib-type="author non-byline"><name><surname>Tran</surname><given-names>Bo</given-names></name></contrib>
</contrib-group>"""
    assert names(meta) == [("Okafor", "Ada", None, None, None), (None, None, None, "Chatbot Safety Consortium", None)]


def test_every_way_jats_names_a_contributor_is_read():
    meta = """<contrib-group>
  <contrib><name name-style="western"><surname>Smith</surname><given-names>Anne B</given-names><suffix>3rd</suffix></name>
    <contrib-id contrib-id-type="orcid" authenticated="true">https://orcid.org/0000-0002-1825-009x</contrib-id></contrib>
  <contrib contrib-type="author"><string-name><given-names>Kim</given-names> <surname>Lee</surname></string-name></contrib>
  <contrib contrib-type="author"><string-name>Bo Tran</string-name></contrib>
  <contrib contrib-type="author"><string-name>Nguyen, Mai</string-name></contrib>
  <contrib contrib-type="author"><name-alternatives>
    <name name-style="eastern" xml:lang="zh"><surname>王</surname><given-names>芳</given-names></name>
    <name name-style="western"><surname>Wang</surname><given-names>Fang</given-names></name></name-alternatives></contrib>
  <contrib contrib-type="author"><collab-alternatives><collab xml:lang="en">Digital Psychiatry Network</collab>
    <collab xml:lang="fr">Réseau de psychiatrie numérique</collab></collab-alternatives></contrib>
  <contrib contrib-type="author"><anonymous/></contrib>
  <contrib contrib-type="author"><name><surname>Okafor</surname><given-names>Ada</given-names></name>
    <uri content-type="orcid">https://orcid.org/0000-0001-5109-3700</uri></contrib>
  <contrib contrib-type="editor"><name><surname>Editor</surname><given-names>E</given-names></name></contrib>
  <contrib contrib-type="author"><xref ref-type="aff" rid="a1"/></contrib>
</contrib-group>"""
    assert names(meta) == [
        ("Smith", "Anne B", "3rd", None, "0000-0002-1825-009X"), ("Lee", "Kim", None, None, None),
        ("Tran", "Bo", None, None, None), ("Nguyen", "Mai", None, None, None), ("Wang", "Fang", None, None, None),
        (None, None, None, "Digital Psychiatry Network", None), (None, None, None, "Anonymous", None),
        ("Okafor", "Ada", None, None, "0000-0001-5109-3700")]


def test_affiliations_by_several_ids_and_by_group():
    meta = """<contrib-group>
  <contrib contrib-type="author"><name><surname>Lee</surname><given-names>Kim</given-names></name>
    <xref ref-type="aff" rid="a1 a2"/></contrib>
</contrib-group><aff id="a1">First Institute</aff><aff id="a2">Second Institute</aff>
<contrib-group><contrib contrib-type="author"><name><surname>Tran</surname><given-names>Bo</given-names></name></contrib>
<aff>Shared Institute</aff></contrib-group>"""
    record, = parse_jats(article(meta))
    assert [a["affiliations"] for a in record["authors"]] == [["First Institute", "Second Institute"], ["Shared Institute"]]


FORMULA = r"""Effect size <inline-formula><alternatives><tex-math id="t1"><![CDATA[\documentclass[12pt]{minimal}
\usepackage{amsmath}\usepackage{wasysym}
\begin{document}$$d=0.5$$\end{document}]]></tex-math>
<mml:math id="m1"><mml:mrow><mml:mi>d</mml:mi>
  <mml:mo>=</mml:mo>
  <mml:mn>0.5</mml:mn></mml:mrow><mml:annotation encoding="TeX">d=0.5</mml:annotation></mml:math>
<inline-graphic xlink:href="formula.gif"/></alternatives></inline-formula> for chatbot therapy"""


def test_alternatives_give_one_rendering_and_never_a_tex_preamble():
    record, = parse_jats(article("", title=FORMULA))
    assert record["title"] == "Effect size d=0.5 for chatbot therapy"
    textual = FORMULA.replace("<mml:math", "<textual-form>d = 0.5</textual-form><mml:math")
    assert parse_jats(article("", title=textual)).__next__()["title"] == "Effect size d = 0.5 for chatbot therapy"
    tex_only = re.sub(r"<mml:math.*</mml:math>", "", FORMULA, flags=re.S)
    assert parse_jats(article("", title=tex_only)).__next__()["title"] == "Effect size d=0.5 for chatbot therapy"
    lone_preamble = (r"Score <inline-formula><tex-math><![CDATA[\documentclass{minimal}\usepackage{amsmath}]]></tex-math>"
                     r"</inline-formula> rose")
    assert parse_jats(article("", title=lone_preamble)).__next__()["title"] == "Score rose"


def test_a_label_ending_in_a_colon_gets_no_second_one():
    abstract = """<abstract><sec><title>Background:</title><p>People talk to chatbots.</p></sec>
<sec><title>Results</title><p>Mood improved.</p></sec></abstract>"""
    record, = parse_jats(article("", abstract=abstract))
    assert record["abstract"] == "Background: People talk to chatbots.\nResults: Mood improved."
