"""PubMed's formats: efetch XML (PubmedArticleSet), MEDLINE text and esearch answers.

parse_pubmed   bytes (XML, gzipped XML or MEDLINE text) -> normalised record dicts
parse_pubmed_json_lines  the same records as JSON Lines (UTF-8 bytes, one line a record)
parse_esearch  an esearch XML answer -> SearchResult (count, history handle, ids, warnings)

Pure: bytes in, records out. The PubMed source (harvest/sources/pubmed.py) fetches and saves.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import threading
import zlib
from dataclasses import dataclass
from datetime import date
from typing import IO, Iterator

from lxml import etree

from ..chunked import parse_pieces, split_at_records
from ..dates import iso_date
from ..identifiers import normalise_doi, normalise_pmcid
from ..limits import MAX_STREAM_BYTES, LimitExceeded, Truncated, capped
from ..text import labelled

MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
WHITESPACE = re.compile(r"[ \t\n\r]+")
MEDLINE_DATE = re.compile(r"(\d{4})(?:[\s-]+([A-Za-z]{3})[a-z]*\.?(?:\s+(\d{1,2})\b)?)?")
MATHML_SKIP = {"{http://www.w3.org/1998/Math/MathML}annotation",
               "{http://www.w3.org/1998/Math/MathML}annotation-xml"}
# A generational suffix as MEDLINE text writes it after the fore name or initials ("Smith, Anne B
# 3rd", "Smith AB 3rd"); NLM spells them Jr, Sr or as ordinals, older records as roman numerals.
NAME_SUFFIX = re.compile(r"^(?:Jr|Sr|\d+(?:st|nd|rd|th)|II|III|IV)\.?$")
ORCID_PREFIX = re.compile(r"^https?://orcid\.org/")
RECORD_END_TAGS = (b"</PubmedArticle>", b"</PubmedBookArticle>")
RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle", "ERROR")
RECORD_FIELDS = (
    "pmid", "doi", "pmcid", "title", "abstract", "abstract_sections", "authors", "journal",
    "journal_abbrev", "volume", "issue", "pages", "published", "year", "publication_types", "mesh",
    "keywords", "language", "retracted", "retraction_notices", "record_type", "book_title",
    "editors", "publisher", "contribution_date",
)


class PubmedParseError(ValueError):
    """Input that is not (or not wholly) a PubMed record set; the message says where."""


# ---------------------------------------------------------------------------------------------
# parse
# ---------------------------------------------------------------------------------------------

def parse_pubmed(data: bytes | IO[bytes], name: str = "input", on_error=None,
                 workers: int | None = 1) -> Iterator[dict]:
    """Records from efetch XML, gzipped XML or MEDLINE text, whichever `data` holds.

    A record that is well-formed but unusable (no PMID, no Article) raises PubmedParseError,
    or, given `on_error`, is handed to it as that error and skipped, so one odd record does not
    hold back its batch. Malformed XML raises after every complete record before the damage:
    nothing after it can be trusted. A large XML input is parsed on `workers` processes
    (None: every core); a small one, such as an efetch batch, always in this process; with
    `workers=1` it is streamed with iterparse (measured on a loaded 2-core machine: cheaper in
    CPU and in wall time than building pieces' trees on a second thread).
    """
    return _parse(data, name, on_error, workers, json_lines=False)


def parse_pubmed_json_lines(data: bytes | IO[bytes], name: str = "input", on_error=None,
                            workers: int | None = 1) -> Iterator[bytes]:
    """`parse_pubmed`'s records, each as one line of JSON Lines: UTF-8 bytes ending in a newline,
    keys in RECORD_FIELDS order, non-ASCII text unescaped. Errors as `parse_pubmed`'s. The
    worker processes of a large file encode their own records, so the calling process only
    decompresses, cuts and passes bytes on (what `harvest parse --format pubmed` prints)."""
    return _parse(data, name, on_error, workers, json_lines=True)


def _json_line(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


def _parse(data, name: str, on_error, workers: int | None, json_lines: bool) -> Iterator:
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    head = stream.read(2)
    stream.seek(0)
    if head == b"\x1f\x8b":
        stream = capped(gzip.GzipFile(fileobj=stream), MAX_STREAM_BYTES, name)
    try:
        first = _first_text(stream)
    except (OSError, EOFError, ValueError) as exc:
        raise PubmedParseError(f"{name}: damaged or oversized gzip data: {exc}") from None
    if first.startswith(b"<"):
        if workers != 1 and b"<PubmedArticleSet>" in first:
            parse_tree = _parse_tree_json_lines if json_lines else _parse_tree
            return _unpacked(_parse_xml_pieces(stream, name, on_error, workers, parse_tree), name)
        records = parse_pubmed_xml(stream, name, on_error)
    elif first.startswith(b"PMID-") or first[:4].isupper():
        records = parse_medline(stream, name, on_error)
    else:
        hint = ("; it looks like `harvest screen` output: load it with --format screened"
                if first.lstrip().startswith(b"{") and b'"pmid"' in first else "")
        raise PubmedParseError(f"{name}: neither PubMed XML nor MEDLINE text (starts with {first[:40]!r}){hint}")
    return _unpacked(map(_json_line, records) if json_lines else records, name)


def _unpacked(records: Iterator[dict], name: str) -> Iterator[dict]:
    """`records`, with a cap hit or damage found while decompressing or splitting (LimitExceeded,
    a cut gzip stream) raised as PubmedParseError, after the complete records before it."""
    count = 0
    try:
        for record in records:
            count += 1
            yield record
    except (LimitExceeded, Truncated, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise PubmedParseError(f"{name}: {exc} (after {count} complete records)") from None


def _first_text(stream) -> bytes:
    peeked = stream.peek(1024)[:1024] if hasattr(stream, "peek") else b""
    if not peeked:
        position = stream.tell()
        peeked = stream.read(1024)
        stream.seek(position)
    return peeked.lstrip(b"\xef\xbb\xbf \t\r\n")


def _parse_xml_pieces(stream, name: str, on_error, workers: int | None, parse_tree) -> Iterator:
    """Records of a PubmedArticleSet cut into pieces (see harvest.chunked), each built into a
    tree by `_piece_tree` and read by `parse_tree`, on several cores when it is large."""
    pieces = split_at_records(stream, RECORD_END_TAGS, b"PubmedArticleSet")
    for records, errors, fatal in parse_pieces(pieces, parse_tree, name, workers, prepare=_piece_tree):
        for error in errors:
            _unusable(error, on_error)
        yield from records
        if fatal:
            raise PubmedParseError(fatal)


def _piece_tree(data: bytes) -> tuple:
    """(root element, data) of a piece parsed whole, which libxml2 does faster than iterparse
    hands out its events; (None, data) for a piece that is not well-formed."""
    try:
        return etree.fromstring(data, _piece_parser()), data
    except etree.XMLSyntaxError:
        return None, data


def _parse_tree(tree: tuple, name: str, first_record: int) -> tuple[list[dict], list[str], str | None]:
    """The records of a piece's tree (`_piece_tree`), its unusable-record messages, and the
    message of the damage that ended it, if any. A damaged piece is read again by the
    streaming parser, which keeps the records before the damage and says where it is."""
    root, data = tree
    errors: list = []
    records: list = []
    try:
        if root is None:
            for record in parse_pubmed_xml(io.BytesIO(data), name, errors.append, first_record):
                records.append(record)  # one by one: those before the damage are kept
        else:
            for count, element in enumerate(root.iter(*RECORD_TAGS), start=first_record + 1):
                if (record := _record(element, name, count, errors.append)) is not None:
                    records.append(record)
            _check_root(root, name)
    except PubmedParseError as error:
        return records, [str(e) for e in errors], str(error)
    return records, [str(e) for e in errors], None


def _parse_tree_json_lines(tree: tuple, name: str, first_record: int) -> tuple[list[bytes], list[str], str | None]:
    """`_parse_tree` with each record encoded as a JSON line (see parse_pubmed_json_lines)."""
    records, errors, fatal = _parse_tree(tree, name, first_record)
    return [_json_line(record) for record in records], errors, fatal


_PARSERS = threading.local()


def _piece_parser() -> etree.XMLParser:
    """This thread's parser for whole pieces (an lxml parser serves one thread at a time):
    no DTD, no external entities, no network."""
    parser = getattr(_PARSERS, "piece", None)
    if parser is None:
        parser = _PARSERS.piece = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False,
                                                  remove_comments=True, remove_pis=True)
    return parser


def parse_pubmed_xml(source: IO[bytes], name: str = "input", on_error=None,
                     records_before: int = 0) -> Iterator[dict]:
    """Stream records out of a PubmedArticleSet with lxml's iterparse, in constant memory.

    The parser loads no DTD, resolves no external entities and never touches the network.
    """
    context = etree.iterparse(
        source, events=("end",), tag=RECORD_TAGS, load_dtd=False, no_network=True,
        resolve_entities=False, remove_comments=True, remove_pis=True)
    count = records_before
    try:
        for _, element in context:
            if element.tag != "ERROR":
                count += 1
            record = _record(element, name, count, on_error)
            element.clear(keep_tail=False)
            parent = element.getparent()
            while element.getprevious() is not None:
                del parent[0]
            if record is not None:
                yield record
    except etree.XMLSyntaxError as exc:
        raise PubmedParseError(f"{name}: malformed XML after {count} complete records: {exc}") from exc
    _check_root(context.root, name)


def _record(element, name: str, count: int, on_error) -> dict | None:
    """The record of a PubmedArticle or PubmedBookArticle element (the `count`th of the input);
    an unusable one goes to `on_error` (None: raised); an E-utilities ERROR element raises."""
    if element.tag == "ERROR":
        raise PubmedParseError(f"{name}: E-utilities returned an error: {_text(element)}")
    try:
        return _article(element) if element.tag == "PubmedArticle" else _book(element)
    except (AttributeError, ValueError) as exc:
        pmid = _clean(element.findtext(".//PMID")) or "unknown"
        return _unusable(f"{name}: record {count} (PMID {pmid}) is unusable: {exc}", on_error)


def _check_root(root, name: str) -> None:
    if root is None or root.tag not in ("PubmedArticleSet", "PubmedArticle", "PubmedBookArticle"):
        raise PubmedParseError(f"{name}: not a PubMed efetch document (root element "
                               f"<{getattr(root, 'tag', '?')}>, expected <PubmedArticleSet>)")


def _unusable(message: str, on_error) -> None:
    error = PubmedParseError(message)
    if on_error is None:
        raise error
    on_error(error)


def _clean(text: str | None) -> str | None:
    """White space folded and trimmed; None for nothing. (The `in` tests skip the regex for
    the many short values that need no folding, which matters on a 30,000-record file.)"""
    if not text:
        return None
    if "\n" in text or "\t" in text or "\r" in text or "  " in text:
        text = WHITESPACE.sub(" ", text)
    return text.strip() or None


def _text(element) -> str | None:
    """The element's text with inline markup flattened and white space folded."""
    if element is None:
        return None
    if len(element) == 0:
        return _clean(element.text)
    return _clean("".join(_walk_text(element)))


def _texts(elements) -> list[str]:
    return [text for text in map(_text, elements) if text]


def _walk_text(element) -> Iterator[str]:
    if element.text:
        yield element.text
    for child in element:
        if child.tag not in MATHML_SKIP:
            yield from _walk_text(child)
        if child.tail:
            yield child.tail


def _find_text(element, path: str) -> str | None:
    """Text of the first element at `path`, inline markup included."""
    return _text(element.find(path))


def _first_children(element) -> dict:
    """The first child of each tag, in one pass over the children. lxml's find() goes through
    its Python path engine (several µs a call); walking the children costs one object each."""
    first: dict = {}
    if element is not None:
        for child in element:
            first.setdefault(child.tag, child)
    return first


def _child(element, tag: str):
    """The first child called `tag`, or None; found in C."""
    if element is not None:
        for child in element.iterchildren(tag):
            return child
    return None


def _leaf_text(element) -> str | None:
    """Text of an element that holds no markup (names, numbers, codes): the quick way."""
    return None if element is None else _clean(element.text)


def _leaf(element, tag: str) -> str | None:
    """Text of a child that holds no markup (names, numbers, codes)."""
    return _leaf_text(_child(element, tag))


def _raw(element) -> str | None:
    return None if element is None else element.text


def _grandchildren(element, child: str, grandchild: str) -> Iterator:
    """element/child/grandchild, walked in C (a path with '/' goes through slower Python code)."""
    for middle in element.iterchildren(child):
        yield from middle.iterchildren(grandchild)


def _article(node) -> dict:
    """The record of a PubmedArticle. Each element on the way is walked once, its children
    sorted by tag in one pass: a child costs one lxml object, while a find() or iterchildren()
    per field costs an iterator or a trip through lxml's path engine each time."""
    citation = pubmed_data = None
    for child in node:
        tag = child.tag
        if tag == "MedlineCitation":
            if citation is None:
                citation = child
        elif tag == "PubmedData" and pubmed_data is None:
            pubmed_data = child
    pmid = article = journal_info = None
    mesh_lists, keyword_lists, correction_lists = [], [], []
    for child in () if citation is None else citation:
        tag = child.tag
        if tag == "MeshHeadingList":
            mesh_lists.append(child)
        elif tag == "Article":
            if article is None:
                article = child
        elif tag == "PMID":
            if pmid is None:
                pmid = child
        elif tag == "MedlineJournalInfo":
            if journal_info is None:
                journal_info = child
        elif tag == "KeywordList":
            keyword_lists.append(child)
        elif tag == "CommentsCorrectionsList":
            correction_lists.append(child)
    if article is None:
        raise ValueError("no MedlineCitation/Article element")
    fields: dict = {}
    abstracts, type_lists = [], []
    for child in article:
        tag = child.tag
        if tag == "Abstract":
            abstracts.append(child)
        elif tag == "PublicationTypeList":
            type_lists.append(child)
        elif tag not in fields:
            fields[tag] = child
    journal_fields = _first_children(fields.get("Journal"))
    issue = _first_children(journal_fields.get("JournalIssue"))
    published = _pub_date(issue.get("PubDate")) or _ymd(fields.get("ArticleDate"))
    ids = _article_ids(pubmed_data)
    sections = _sections(abstracts)
    mesh = [_mesh(h) for mesh_list in mesh_lists for h in mesh_list.iterchildren("MeshHeading")]
    notices = _retraction_notices(correction_lists)
    abbrev = _leaf(journal_info, "MedlineTA")
    if abbrev is None:
        abbrev = _leaf_text(journal_fields.get("ISOAbbreviation"))
    publication_types = _texts(t for types in type_lists for t in types.iterchildren("PublicationType"))
    record = {  # in RECORD_FIELDS order
        "pmid": (_raw(pmid) or "").strip() or None,
        "doi": _valid_doi(normalise_doi(ids.get("doi")), article),
        "pmcid": normalise_pmcid(ids.get("pmc")),
        "title": _text(fields.get("ArticleTitle")) or _text(fields.get("VernacularTitle")),
        "abstract": "\n".join(labelled(s["label"], s["text"]) for s in sections) or None,
        "abstract_sections": sections,
        "authors": _people(fields.get("AuthorList")),
        "journal": _text(journal_fields.get("Title")),
        "journal_abbrev": abbrev,
        "volume": _leaf_text(issue.get("Volume")),
        "issue": _leaf_text(issue.get("Issue")),
        "pages": _pages(fields.get("Pagination")),
        "published": published,
        "year": int(published[:4]) if published else None,
        "publication_types": publication_types,
        "mesh": mesh,
        "keywords": _texts(k for keywords in keyword_lists for k in keywords.iterchildren("Keyword")),
        "language": _leaf_text(fields.get("Language")),
        "retracted": notices is not None or "Retracted Publication" in publication_types,
        "retraction_notices": notices or [],
        "record_type": "PubmedArticle",
        "book_title": None,
        "editors": [],
        "publisher": None,
        "contribution_date": None,
    }
    _check_pmid(record)
    return record


def _valid_doi(listed: str | None, holder) -> str | None:
    """The record's DOI: ArticleIdList's, else a valid ELocationID's. A DOI that PubMed marks
    invalid (`<ELocationID EIdType="doi" ValidYN="N">`) is never the record's, even when
    ArticleIdList repeats it (works merge by DOI: a wrong one would join two papers)."""
    invalid, valid = set(), []
    for eloc in holder.iterchildren("ELocationID"):
        if eloc.get("EIdType") == "doi" and (doi := normalise_doi(eloc.text)):
            (invalid.add(doi) if eloc.get("ValidYN") == "N" else valid.append(doi))
    if listed and listed not in invalid:
        return listed
    return next((doi for doi in valid if doi not in invalid), None)


def _book(node) -> dict:
    document = node.find("BookDocument")
    book = document.find("Book")
    published = _pub_date(book.find("PubDate") if book is not None else None)
    record = _common(document, document, node.find("PubmedBookData"), _child(document, "PMID"))
    authors = None
    for author_list in document.iterfind("AuthorList"):
        if author_list.get("Type", "authors") == "authors":
            authors = author_list
    record.update({
        "record_type": "PubmedBookArticle",
        "title": _find_text(document, "ArticleTitle") or _find_text(book, "BookTitle"),
        "book_title": _find_text(book, "BookTitle"),
        "authors": _people(authors),
        "editors": _people(book.find("AuthorList[@Type='editors']")),
        "publisher": _find_text(book, "Publisher/PublisherName"),
        "journal": None, "journal_abbrev": None, "volume": _find_text(book, "Volume"),
        "issue": None, "pages": None,
        "published": published,
        "year": int(published[:4]) if published else None,
        "contribution_date": _ymd(document.find("ContributionDate")),
        "publication_types": _texts(document.iterfind("PublicationType")),
        "language": _leaf(document, "Language"),
    })
    record["doi"] = _valid_doi(record["doi"], document)
    return _finish(record)


def _common(citation, article, pubmed_data, pmid) -> dict:
    """Fields that book chapters spell as articles do (`pmid`: the citation's PMID element)."""
    ids = _article_ids(pubmed_data)
    sections = _sections(article.iterchildren("Abstract"))
    notices = _retraction_notices(citation.iterchildren("CommentsCorrectionsList"))
    return {
        "pmid": (_raw(pmid) or "").strip() or None,
        "doi": normalise_doi(ids.get("doi")),
        "pmcid": normalise_pmcid(ids.get("pmc")),
        "abstract_sections": sections,
        "abstract": "\n".join(labelled(s["label"], s["text"]) for s in sections) or None,
        "mesh": [_mesh(h) for h in _grandchildren(citation, "MeshHeadingList", "MeshHeading")],
        "keywords": _texts(_grandchildren(citation, "KeywordList", "Keyword")),
        "retracted": notices is not None,
        "retraction_notices": notices or [],
    }


def _article_ids(pubmed_data) -> dict:
    """{IdType: id} of PubmedData/ArticleIdList, the first of each type."""
    ids: dict = {}
    if pubmed_data is not None:
        for article_id in _grandchildren(pubmed_data, "ArticleIdList", "ArticleId"):
            ids.setdefault(article_id.get("IdType"), (article_id.text or "").strip())
    return ids


def _sections(abstracts) -> list[dict]:
    """[{label, text}] of the AbstractText elements of these Abstract elements."""
    return [{"label": a.get("Label"), "text": text}
            for abstract in abstracts for a in abstract.iterchildren("AbstractText") if (text := _text(a))]


def _retraction_notices(correction_lists) -> list[str] | None:
    """PMIDs of the RetractionIn notices in these CommentsCorrectionsList elements; None if
    there is no RetractionIn entry at all (a notice without a PMID still marks the retraction)."""
    notices = None
    for corrections in correction_lists:
        for correction in corrections.iterchildren("CommentsCorrections"):
            if correction.get("RefType") == "RetractionIn":
                notices = [] if notices is None else notices
                if notice := _raw(_child(correction, "PMID")):
                    notices.append(notice)
    return notices


def _check_pmid(record: dict) -> None:
    if not record["pmid"] or not record["pmid"].isdigit():
        raise ValueError(f"no usable PMID ({record['pmid']!r})")


def _finish(record: dict) -> dict:
    """The record with every documented field, in the documented order."""
    _check_pmid(record)
    if "Retracted Publication" in record["publication_types"]:
        record["retracted"] = True
    record.setdefault("editors", [])
    return {name: record.get(name) for name in RECORD_FIELDS}


def _people(author_list) -> list[dict]:
    """Authors (or editors) in byline order; entries PubMed marks invalid are left out."""
    if author_list is None:
        return []
    people = []
    for author in author_list.iterchildren("Author"):
        if author.get("ValidYN") == "N":
            continue
        last = fore = initials = suffix = collective = orcid = None
        affiliations = []
        for child in author:  # one pass over the children beats a find() per field
            tag = child.tag  # names are plain text in PubMed's DTD: no markup to flatten
            if tag == "LastName":
                last = _clean(child.text)
            elif tag == "ForeName":
                fore = _clean(child.text)
            elif tag == "Initials":
                initials = _clean(child.text)
            elif tag == "AffiliationInfo":
                affiliation = _text(_child(child, "Affiliation"))
                if affiliation:
                    affiliations.append(affiliation)
            elif tag == "Suffix":
                suffix = _clean(child.text)
            elif tag == "CollectiveName":
                collective = _text(child)
            elif tag == "Identifier" and child.get("Source") == "ORCID" and child.text:
                orcid = ORCID_PREFIX.sub("", child.text.strip())
        people.append({"last_name": last, "fore_name": fore, "initials": initials, "suffix": suffix,
                       "collective_name": collective, "orcid": orcid, "affiliations": affiliations})
    return people


def _mesh(heading) -> dict:
    descriptor, qualifiers = None, []
    for child in heading:  # one pass: DescriptorName, then its QualifierNames
        tag = child.tag
        if tag == "QualifierName":  # (a name is plain text but for rare markup: _text then)
            qualifiers.append({"name": _text(child) if len(child) else _clean(child.text),
                               "ui": child.get("UI"), "major": child.get("MajorTopicYN") == "Y"})
        elif tag == "DescriptorName" and descriptor is None:
            descriptor = child
    if descriptor is None:
        raise ValueError("MeshHeading without DescriptorName")
    return {"descriptor": _text(descriptor) if len(descriptor) else _clean(descriptor.text),
            "ui": descriptor.get("UI"), "major": descriptor.get("MajorTopicYN") == "Y",
            "qualifiers": qualifiers}


def _pages(pagination) -> str | None:
    if pagination is None:
        return None
    parts = _first_children(pagination)
    pages = _leaf_text(parts.get("MedlinePgn"))
    if pages:
        return pages
    start, end = _leaf_text(parts.get("StartPage")), _leaf_text(parts.get("EndPage"))
    return f"{start}-{end}" if start and end else start


def _ymd(node, parts: dict | None = None) -> str | None:
    if node is None:
        return None
    parts = _first_children(node) if parts is None else parts
    return _iso_date(_raw(parts.get("Year")), _raw(parts.get("Month")), _raw(parts.get("Day")))


def _pub_date(node) -> str | None:
    """ISO date as precise as the record: '2023', '2023-01' or '2023-01-15'.

    MedlineDate ranges ('2023 Jan-Feb', '1998 Dec 15-31') give their start; seasons give the year.
    """
    if node is None:
        return None
    parts = _first_children(node)
    if "Year" in parts:
        return _ymd(node, parts)
    medline = _raw(parts.get("MedlineDate"))
    if medline:
        match = MEDLINE_DATE.search(medline)
        if match:
            return _iso_date(*match.groups())
    return None


def _iso_date(year, month=None, day=None) -> str | None:
    if not year or not year.strip().isdigit() or iso_date(year) is None:  # year 0 and the like are no date
        return None
    year = year.strip()
    number = None
    if month:
        month = month.strip()
        number = int(month) if month.isdigit() else MONTHS.get(month[:3].lower())
    if not number or not 1 <= number <= 12:
        return year
    if day and day.strip().isdigit():
        try:
            return date(int(year), number, int(day)).isoformat()
        except ValueError:
            pass
    return f"{year}-{number:02d}"


# MEDLINE text ------------------------------------------------------------------------------

def parse_medline(source: IO[bytes], name: str = "input", on_error=None) -> Iterator[dict]:
    """Records from PubMed's MEDLINE (.nbib / .txt) export: `TAG - value` lines, continuation
    lines indented by six spaces, records separated by blank lines."""
    lines = io.TextIOWrapper(source, encoding="utf-8", errors="replace")
    fields: list[tuple[str, str]] = []
    count = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if line.strip() and line.startswith("      ") and fields:
            tag, value = fields[-1]
            fields[-1] = (tag, f"{value} {line.strip()}")
        elif line.strip() and len(line) > 4 and line[4] == "-":
            fields.append((line[:4].strip(), line[6:].strip()))
        elif line.strip():
            raise PubmedParseError(f"{name}: line {number} is not a MEDLINE field: {line[:40]!r}")
        elif fields:
            count += 1
            record = _medline_or_error(fields, f"{name}: record {count}", on_error)
            fields = []
            if record is not None:
                yield record
    if fields:
        record = _medline_or_error(fields, f"{name}: record {count + 1}", on_error)
        if record is not None:
            yield record


def _medline_or_error(fields, where: str, on_error) -> dict | None:
    try:
        return _medline_record(fields)
    except ValueError as exc:
        return _unusable(f"{where} is unusable: {exc}", on_error)


def _medline_record(fields: list[tuple[str, str]]) -> dict:
    record = dict.fromkeys(RECORD_FIELDS)
    record.update(record_type="PubmedArticle", abstract_sections=[], authors=[], editors=[],
                  publication_types=[], mesh=[], keywords=[], retracted=False, retraction_notices=[])
    simple = {"PMID": "pmid", "TI": "title", "JT": "journal", "TA": "journal_abbrev",
              "VI": "volume", "IP": "issue", "PG": "pages", "LA": "language"}
    author, short_form_seen = None, True  # FAU (full name) comes before its AU (short form)
    for tag, value in fields:
        if tag in simple:
            record[simple[tag]] = record[simple[tag]] or value
        elif tag == "AB":
            record["abstract"] = value
            record["abstract_sections"] = [{"label": None, "text": value}]
        elif tag == "FAU":
            last, _, fore = value.partition(",")
            fore, suffix = _suffixed(fore)
            author = _person(last_name=last.strip(), fore_name=fore or None, suffix=suffix)
            record["authors"].append(author)
            short_form_seen = False
        elif tag == "AU" and not short_form_seen:
            short, suffix = _suffixed(value)
            author["initials"] = short.rsplit(" ", 1)[1] if " " in short else None
            author["suffix"] = author["suffix"] or suffix
            short_form_seen = True
        elif tag in ("AU", "CN"):
            short, suffix = _suffixed(value) if tag == "AU" else ("", None)
            last, _, initials = short.rpartition(" ")
            author = (_person(last_name=last or initials, initials=initials if last else None, suffix=suffix)
                      if tag == "AU" else _person(collective_name=value))
            record["authors"].append(author)
            short_form_seen = True
        elif tag == "AD" and author is not None:
            author["affiliations"].append(value)
        elif tag == "AUID" and author is not None and value.startswith("ORCID:"):
            author["orcid"] = ORCID_PREFIX.sub("", value.split(":", 1)[1].strip())
        elif tag in ("AID", "LID") and value.endswith("[doi]") and not record["doi"]:
            record["doi"] = normalise_doi(value[:-5])
        elif tag == "PMC":
            record["pmcid"] = normalise_pmcid(value)
        elif tag == "BTI":  # a book chapter: the book's title, and the chapter's own date (YYYYMMDD)
            record["book_title"], record["record_type"] = value, "PubmedBookArticle"
        elif tag == "CTDT":
            record["contribution_date"] = _iso_date(value[:4], value[4:6] or None, value[6:8] or None)
        elif tag == "DP":
            match = MEDLINE_DATE.search(value)
            record["published"] = _iso_date(*match.groups()) if match else None
        elif tag == "PT":
            record["publication_types"].append(value)
        elif tag == "OT":
            record["keywords"].append(value)
        elif tag == "MH":
            record["mesh"].append(_medline_mesh(value))
        elif tag == "RIN":
            record["retracted"] = True
            record["retraction_notices"] += re.findall(r"PMID:\s*(\d+)", value)
    record["year"] = int(record["published"][:4]) if record["published"] else None
    return _finish(record)


def _suffixed(name: str) -> tuple[str, str | None]:
    """A MEDLINE name part without its generational suffix, and the suffix:
    'Anne B 3rd' -> ('Anne B', '3rd'); 'Smith AB Jr' -> ('Smith AB', 'Jr')."""
    words = name.split()
    if len(words) > 1 and NAME_SUFFIX.match(words[-1]):
        return " ".join(words[:-1]), words[-1].rstrip(".")
    return " ".join(words), None


def _person(**fields) -> dict:
    person = {"last_name": None, "fore_name": None, "initials": None, "suffix": None,
              "collective_name": None, "orcid": None, "affiliations": []}
    person.update(fields)
    return person


def _medline_mesh(value: str) -> dict:
    descriptor, *qualifiers = value.split("/")
    return {
        "descriptor": descriptor.lstrip("*"), "ui": None, "major": descriptor.startswith("*"),
        "qualifiers": [{"name": q.lstrip("*"), "ui": None, "major": q.startswith("*")}
                       for q in qualifiers],
    }


# E-utilities responses ----------------------------------------------------------------------

@dataclass
class SearchResult:
    count: int
    webenv: str | None
    query_key: str | None
    ids: list[str]
    warnings: list[str]


def parse_esearch(data: bytes, name: str = "esearch") -> SearchResult:
    """Count, history handle and ids from an esearch XML response; errors raise."""
    try:
        root = etree.fromstring(data, etree.XMLParser(load_dtd=False, no_network=True,
                                                      resolve_entities=False))
    except etree.XMLSyntaxError as exc:
        raise PubmedParseError(f"{name}: malformed esearch XML: {exc}") from exc
    if root.tag != "eSearchResult":
        raise PubmedParseError(f"{name}: expected <eSearchResult>, got <{root.tag}>")
    error = root.findtext("ERROR")
    if error:
        raise PubmedParseError(f"{name}: E-utilities error: {error}")
    warnings = _texts(root.iterfind("WarningList/*"))
    warnings += [f"phrase not found: {_text(p)}" for p in root.iterfind("ErrorList/PhraseNotFound")]
    return SearchResult(count=int(root.findtext("Count") or 0), webenv=root.findtext("WebEnv"),
                        query_key=root.findtext("QueryKey"),
                        ids=[i.text for i in root.iterfind("IdList/Id")], warnings=warnings)
