"""Intake: one text normalisation for every source, plausible values only, names that keep
their structure. Small inputs of our own, each one instance of a kind of fault."""

import json

import pytest

from harvest.sources.europepmc import load_europepmc_file
from harvest.store import DocumentRecord, Provenance, save_document, set_body
from harvest.text import normalised

SHY_TITLE = "emer\u00adgency de\u00adpartment triage of sui\u00adcidal patients in a cli\u00adnical chatbot study"


def test_the_normaliser_removes_what_splits_words_and_keeps_lines():
    assert normalised("sui\u00adcidal\u200b pa\u200ctient\u200d\u2060s\ufeff") == "suicidal patients"
    assert normalised("e\u0301tude") == "\u00e9tude"  # NFC: one code point
    assert normalised("a\u00a0b\u202fc\u2007d") == "a b c d"
    assert normalised("bell\x07 \x10title\x7f\x85") == "bell title"
    assert normalised("line one\r\nline two\rthree\tfour") == "line one\nline two\nthree\tfour"
    assert normalised("plain ASCII stays as it is") == "plain ASCII stays as it is"


def europepmc_answer(title: str, **extra) -> bytes:
    result = {"id": "39000001", "source": "MED", "pmid": "39000001", "doi": "10.2196/55501", "title": title,
              "abstractText": "A chat\u00adbot\u200b helped\u00a0staff in the emer\u00adgency de\u00adpartment.",
              "authorList": {"author": [{"firstName": "Zo\u0065\u0308", "lastName": "M\u00fcl\u00adler"}]},
              "journalInfo": {"journal": {"title": "JMIR\u00a0Mental Health"}}, "firstPublicationDate": "2024-03-05",
              "isOpenAccess": "N", "inEPMC": "N", **extra}
    return json.dumps({"hitCount": 1, "resultList": {"result": [result]}}).encode()


def test_a_europepmc_title_with_soft_hyphens_is_stored_clean_and_found(tmp_path, corpus):
    saved = tmp_path / "answer.json"
    saved.write_bytes(europepmc_answer(SHY_TITLE))
    run = load_europepmc_file(corpus, tmp_path / "archive", saved)
    assert run.status == "ok", run.errors
    row = corpus.execute("SELECT id, title, abstract, venue FROM documents").fetchone()
    assert row[1] == "emergency department triage of suicidal patients in a clinical chatbot study"
    assert row[2] == "A chatbot helped staff in the emergency department." and row[3] == "JMIR Mental Health"
    author = corpus.execute("SELECT name, last_name, fore_name FROM authors").fetchone()
    assert author == ("Zo\u00eb M\u00fcller", "M\u00fcller", "Zo\u00eb")
    for word in ("suicidal", "clinical", "emergency"):
        hits = corpus.execute("SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?", [word]).fetchall()
        assert len(hits) == 1, word


def test_no_source_skips_the_normaliser(corpus):
    """The store normalises whatever a source hands it: fields, identifiers, people, bodies."""
    record = DocumentRecord(fields={"kind": "news", "title": "Tri\u00adage\x10 bots", "body": "para\u200bgraph",
                                    "keywords": ["sui\u00adcide"], "url": "https://example.org/a"},
                            identifiers=[("url", "https://example.org/a\u200b")],
                            authors=[{"name": "Dana\u00a0Reyes"}])
    provenance = Provenance(source="news", source_id="a", fetched_at="2025-01-01T00:00:00Z")
    document_id, _ = save_document(corpus, record, provenance)
    row = corpus["documents"].get(document_id)
    assert (row["title"], row["body"], json.loads(row["keywords"])) == ("Triage bots", "paragraph", ["suicide"])
    assert corpus.execute("SELECT value FROM identifiers").fetchone()[0] == "https://example.org/a"
    assert corpus.execute("SELECT name FROM authors").fetchone()[0] == "Dana Reyes"
    set_body(corpus, document_id, "full\u00adtext body", "europepmc")
    assert corpus["documents"].get(document_id)["body"] == "fulltext body"


# -- plausible values only ----------------------------------------------------------------------

from harvest.sources.crossref import parse_crossref  # noqa: E402
from harvest.dates import iso_date, plausible  # noqa: E402
from harvest.identifiers import dois_in, normalise_doi  # noqa: E402
from harvest.formats.pubmed import parse_pubmed  # noqa: E402
from harvest.sources.pubmed import to_document as pubmed_document  # noqa: E402


def pubmed_xml(article_extra: str = "", ids: str = "", authors: str = "") -> bytes:
    return f"""<?xml version="1.0"?><PubmedArticleSet><PubmedArticle><MedlineCitation>
<PMID Version="1">91000001</PMID><Article><Journal><JournalIssue><PubDate><Year>2024</Year></PubDate></JournalIssue>
<Title>Journal of Invented Studies</Title></Journal><ArticleTitle>A chatbot trial.</ArticleTitle>{article_extra}
<AuthorList>{authors}</AuthorList></Article></MedlineCitation>
<PubmedData><ArticleIdList><ArticleId IdType="pubmed">91000001</ArticleId>{ids}</ArticleIdList></PubmedData>
</PubmedArticle></PubmedArticleSet>""".encode()


@pytest.mark.parametrize("extra, ids, doi", [
    ('<ELocationID EIdType="doi" ValidYN="N">10.9999/wrong.1</ELocationID>', "", None),
    ('<ELocationID EIdType="doi" ValidYN="N">10.9999/wrong.1</ELocationID>',
     '<ArticleId IdType="doi">10.9999/wrong.1</ArticleId>', None),
    ('<ELocationID EIdType="doi" ValidYN="N">10.9999/wrong.1</ELocationID>'
     '<ELocationID EIdType="doi" ValidYN="Y">10.9999/right.2</ELocationID>',
     '<ArticleId IdType="doi">10.9999/wrong.1</ArticleId>', "10.9999/right.2"),
    ('<ELocationID EIdType="doi" ValidYN="Y">10.9999/RIGHT.2</ELocationID>', "", "10.9999/right.2"),
    ('<ELocationID EIdType="pii" ValidYN="Y">S0000</ELocationID>', '<ArticleId IdType="doi">10.9999/listed</ArticleId>',
     "10.9999/listed"),
])
def test_a_doi_pubmed_marks_invalid_is_not_the_records(extra, ids, doi):
    record, = parse_pubmed(pubmed_xml(extra, ids))
    assert record["doi"] == doi
    assert ("doi", "10.9999/wrong.1") not in pubmed_document(record).identifiers


def crossref_work(**dates) -> bytes:
    message = {"DOI": "10.1000/chap", "type": "book-chapter", "title": ["A chapter"], **dates}
    return json.dumps({"status": "ok", "message-type": "work", "message": message}).encode()


@pytest.mark.parametrize("dates, published", [
    ({"issued": {"date-parts": [[0]]}}, None),
    ({"issued": {"date-parts": [[0]]}, "created": {"date-parts": [[2019, 5, 2]]}}, None),  # deposited is not published
    ({"issued": {"date-parts": [[None]]}}, None),
    ({"published": {"date-parts": [[0, 1, 1]]}, "issued": {"date-parts": [[2021, 5]]}}, "2021-05"),
    ({"issued": {"date-parts": [[2021, 2, 30]]}}, "2021-02"),
    ({"issued": {"date-parts": [[2021, 13, 1]]}}, "2021"),
    ({"issued": {"date-parts": [[9999]]}}, None),
    ({"issued": {"date-parts": [["2020", "3", "4"]]}}, "2020-03-04"),
])
def test_a_crossref_date_that_cannot_be_true_is_no_date(dates, published):
    work, = parse_crossref(crossref_work(**dates)).works
    assert work["published"] == published
    assert work["year"] == (int(published[:4]) if published else None)


def test_dates_are_cut_to_what_can_be_true():
    assert [plausible(v) for v in ("0", "0000-00-00", "2023-02-29", "2024-02-29", "2023-13-01", "2023-04-05T06:07:08Z",
                                   "junk")] == [None, None, "2023-02", "2024-02-29", "2023", "2023-04-05", None]
    assert iso_date("2020", "Feb", "15") == "2020-02-15" and iso_date(2020, 0) == "2020"


def test_the_store_never_keeps_an_impossible_date(corpus):
    for number, (published, year) in enumerate([("0", 0), ("2023-02-30", 2023), ("2023-04-05T06:07:08Z", 2023)]):
        record = DocumentRecord(fields={"kind": "paper", "title": "t", "published": published, "year": year},
                                identifiers=[("doi", f"10.1000/{number}")])
        document_id, _ = save_document(corpus, record, Provenance("crossref", str(number), "2025-01-01T00:00:00Z"))
        row = corpus["documents"].get(document_id)
        assert (row["published"], row["year"]) == [(None, None), ("2023-02", 2023),
                                                   ("2023-04-05T06:07:08Z", 2023)][number]


@pytest.mark.parametrize("value, dois", [
    ("10.1000/a; 10.1000/b", ["10.1000/a", "10.1000/b"]),
    ("10.1000/A,10.2000/b", ["10.1000/a", "10.2000/b"]),
    ("doi:10.1000/a doi:10.2000/b", ["10.1000/a", "10.2000/b"]),
    ("https://doi.org/10.1000/a | https://doi.org/10.1000/b", ["10.1000/a", "10.1000/b"]),
    ("10.1002/(SICI)1097-4636(199706)35:4<475::AID-JBM7>3.0.CO;2-L",
     ["10.1002/(sici)1097-4636(199706)35:4<475::aid-jbm7>3.0.co;2-l"]),  # one DOI holding ';'
    ("10.1000/x.", ["10.1000/x"]),
])
def test_a_field_holding_several_dois_is_split(value, dois):
    assert dois_in(value) == dois and normalise_doi(value) == dois[0]


def test_several_dois_in_a_pubmed_field_give_one_identifier_not_a_glued_one():
    record, = parse_pubmed(pubmed_xml(ids='<ArticleId IdType="doi">10.9999/one.1;10.9999/two.2</ArticleId>'))
    assert record["doi"] == "10.9999/one.1"


BOOK = b"""<?xml version="1.0"?><PubmedArticleSet><PubmedBookArticle><BookDocument>
<PMID Version="1">91000002</PMID><Book><Publisher><PublisherName>Invented Press</PublisherName></Publisher>
<BookTitle>Handbook of Invented Care</BookTitle><PubDate><Year>1993</Year></PubDate></Book>
<ArticleTitle>Chatbots in crisis lines</ArticleTitle>
<AuthorList Type="authors"><Author><LastName>Okafor</LastName><ForeName>Ada</ForeName><Initials>A</Initials></Author></AuthorList>
%s</BookDocument><PubmedBookData><ArticleIdList><ArticleId IdType="pubmed">91000002</ArticleId></ArticleIdList>
</PubmedBookData></PubmedBookArticle></PubmedArticleSet>"""


def test_a_dated_chapter_of_a_dated_book_takes_its_own_date():
    dated, = parse_pubmed(BOOK % b"<ContributionDate><Year>2006</Year><Month>2</Month><Day>15</Day></ContributionDate>")
    assert (dated["published"], dated["contribution_date"]) == ("1993", "2006-02-15")  # the book's, and the chapter's
    fields = pubmed_document(dated).fields
    assert (fields["published"], fields["year"]) == ("2006-02-15", 2006)
    undated, = parse_pubmed(BOOK % b"")
    assert (pubmed_document(undated).fields["published"], pubmed_document(undated).fields["year"]) == ("1993", 1993)


# -- names keep their structure -----------------------------------------------------------------

MEDLINE = """PMID- 91000003
TI  - A chatbot trial.
DP  - 2024 Mar
FAU - Smith, Anne B 3rd
AU  - Smith AB 3rd
FAU - Lee, Kim
AU  - Lee K
FAU - Jones, Robert Jr
AU  - Jones R Jr
AU  - Brown CD 2nd
"""

XML_AUTHORS = """<Author ValidYN="Y"><LastName>Smith</LastName><ForeName>Anne B</ForeName><Initials>AB</Initials>
<Suffix>3rd</Suffix></Author><Author ValidYN="Y"><LastName>Lee</LastName><ForeName>Kim</ForeName><Initials>K</Initials>
</Author><Author ValidYN="Y"><LastName>Jones</LastName><ForeName>Robert</ForeName><Initials>R</Initials><Suffix>Jr</Suffix>
</Author>"""


def test_a_suffix_is_its_own_field_in_medline_text():
    record, = parse_pubmed(MEDLINE.encode())
    names = [(a["last_name"], a["fore_name"], a["initials"], a["suffix"]) for a in record["authors"]]
    assert names == [("Smith", "Anne B", "AB", "3rd"), ("Lee", "Kim", "K", None), ("Jones", "Robert", "R", "Jr"),
                     ("Brown", None, "CD", "2nd")]


def test_pubmed_xml_and_medline_text_of_one_record_give_the_same_authors():
    from_xml, = parse_pubmed(pubmed_xml(authors=XML_AUTHORS))
    from_text, = parse_pubmed(MEDLINE.encode())
    assert from_xml["authors"] == from_text["authors"][:3]


def test_the_suffix_is_stored_and_keeps_father_and_son_apart(corpus):
    record, = parse_pubmed(pubmed_xml(authors=XML_AUTHORS + XML_AUTHORS.replace("Jr", "Sr")))
    save_document(corpus, pubmed_document(record), Provenance("pubmed", "91000001", "2025-01-01T00:00:00Z"))
    rows = corpus.execute("SELECT a.name, a.last_name, a.fore_name, a.initials, a.suffix FROM document_authors d "
                          "JOIN authors a ON a.id = d.author_id ORDER BY d.position").fetchall()
    assert rows[0] == ("Anne B Smith 3rd", "Smith", "Anne B", "AB", "3rd")
    assert rows[2] == ("Robert Jones Jr", "Jones", "Robert", "R", "Jr") and rows[5][4] == "Sr"
    assert len({row for row in rows}) == 4  # Smith and Lee twice are one person each; Jones Jr and Sr are two


def test_a_crossref_suffix_is_kept():
    message = {"DOI": "10.1000/s", "type": "journal-article", "title": ["t"],
               "author": [{"given": "Anne B", "family": "Smith", "suffix": "III"}]}
    work, = parse_crossref(json.dumps({"status": "ok", "message-type": "work", "message": message}).encode()).works
    assert work["authors"][0]["suffix"] == "III"


def test_a_medline_book_chapter_takes_its_own_date():
    record, = parse_pubmed(b"PMID- 91000004\nTI  - Chatbots in crisis lines\nBTI - Handbook of Invented Care\n"
                           b"DP  - 1993\nCTDT- 20060215\nFAU - Okafor, Ada\nAU  - Okafor A\n")
    assert (record["record_type"], record["book_title"], record["published"], record["contribution_date"]) == (
        "PubmedBookArticle", "Handbook of Invented Care", "1993", "2006-02-15")
    assert pubmed_document(record).fields["published"] == "2006-02-15"


def test_an_impossible_year_is_no_date_in_pubmed_and_jats():
    from harvest.formats.jats import parse_jats
    record, = parse_pubmed(pubmed_xml().replace(b"<Year>2024</Year>", b"<Year>0</Year>"))
    assert record["published"] is None and record["year"] is None
    jats = b"""<article><front><article-meta><title-group><article-title>t</article-title></title-group>
<pub-date pub-type="epub"><year>0000</year></pub-date><pub-date pub-type="collection"><year>2024</year><month>3</month></pub-date>
</article-meta></front></article>"""
    article, = parse_jats(jats)
    assert (article["published"], article["year"]) == ("2024-03", 2024)


def test_guidance_and_bill_versions_are_stored_normalised(corpus):
    from types import SimpleNamespace
    from harvest.versions import save_version
    record = DocumentRecord(fields={"kind": "guidance", "title": "Guidance"}, identifiers=[("url", "https://example.org/g")])
    document_id, _ = save_document(corpus, record, Provenance("guidance", "g", "2025-01-01T00:00:00Z"))
    archived = SimpleNamespace(date="2025-01-01T00:00:00Z", uri="https://example.org/g", file="a.warc.gz", record_id="r1")
    save_version(corpus, document_id, "Screen for sui\u00adcidal ideation.\nLast updated: 2024", "h1", archived)
    text = corpus.execute("SELECT text FROM document_versions").fetchone()[0]
    assert text == "Screen for suicidal ideation.\nLast updated: 2024"  # cleaned, and nothing else taken out
