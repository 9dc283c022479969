"""Citation files as reference managers export them, read into plain citation items.

parse_citations   bytes, file name -> CitationFile (items, refused entries, format)
parse_landing_page  HTML, URL -> one item from the page's Highwire `citation_*` and Dublin Core tags

Formats (detected from the content, the file name breaking ties):

- BibTeX / BibLaTeX (bibtexparser 2): LaTeX escapes decoded (`{\\"a}` -> ä), names split into
  family and given parts, `eprint` with `archivePrefix = {arXiv}` (or `eprinttype = {arxiv}`,
  or a journal of "arXiv preprint arXiv:NNNN.NNNNN") read as an arXiv id, "PMID: N" in a note
  read as a PMID.
- RIS (rispy): TY/TI/AU/PY/DO/UR..., as Zotero, Mendeley and EndNote write it.
- CSL-JSON (a list of CSL items, or {"items": [...]}) and CSL-YAML (pandoc's `references:`),
  per the Citation Style Language 1.0.2 data schema.
- MEDLINE text (.nbib) and PubMed XML: recognised here and left to `harvest.formats.pubmed`.
- Plain lists: one DOI, PMID, PMC id, arXiv id or URL per line; `#` starts a comment.

An item is a dict with the keys of `EMPTY_ITEM`: `entry` is its key in the file (BibTeX key,
CSL id, RIS ID or position), `where` names it for people ("lib.bib @smith2024"), `authors` is a list of {"last_name",
"fore_name"} or {"collective_name"} dicts (the store's person shape), `published` an ISO date
(YYYY, YYYY-MM or YYYY-MM-DD), identifiers normalised as `harvest.identifiers` spells them.
An entry that cannot become an item (nothing to identify it by, unreadable syntax) is a
`Refused(entry, reason)`, never silently dropped.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field

from .. import config
from ..identifiers import (ARXIV_PATTERN, canonical_url, identifiers_from_url, normalise_doi,
                           normalise_pmcid, normalise_pmid)
from ..limits import load_json

EMPTY_ITEM = {
    "entry": None, "where": None, "kind": "paper", "title": None, "abstract": None, "authors": [], "venue": None, "year": None,
    "published": None, "volume": None, "issue": None, "pages": None, "publisher": None,
    "doi": None, "pmid": None, "pmcid": None, "arxiv": None, "url": None, "keywords": None,
}
ID_SCHEMES = ("doi", "pmid", "pmcid", "arxiv", "url")
ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$")
ARXIV_IN_TEXT = re.compile(r"arxiv[:\s/]*(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?", re.I)
PMID_IN_TEXT = re.compile(r"\bPMID:?\s*(\d{1,9})\b")
PMCID_IN_TEXT = re.compile(r"\bPMCID:?\s*(PMC\d+)\b", re.I)
MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                      "oct", "nov", "dec"), start=1)}
KINDS = {  # BibTeX entry types, RIS TY codes and CSL types -> document kinds
    "article": "paper", "inproceedings": "paper", "conference": "paper", "incollection": "paper",
    "book": "book", "inbook": "book", "phdthesis": "thesis", "mastersthesis": "thesis",
    "techreport": "report", "report": "report", "online": "web", "misc": "paper",
    "JOUR": "paper", "CONF": "paper", "CPAPER": "paper", "CHAP": "paper", "BOOK": "book",
    "THES": "thesis", "RPRT": "report", "ELEC": "web", "NEWS": "news", "MGZN": "news", "BLOG": "blog",
    "GEN": "paper", "article-journal": "paper", "paper-conference": "paper", "chapter": "paper",
    "thesis": "thesis", "webpage": "web", "article-newspaper": "news", "article-magazine": "news",
    "post-weblog": "blog", "preprint": "preprint", "manuscript": "preprint", "legal_case": "litigation",
    "legislation": "legislation", "bill": "legislation",
}


class CitationParseError(ValueError):
    """The file is in none of the formats this module reads, or is broken as a whole."""


@dataclass
class Refused:
    entry: str
    reason: str


@dataclass
class CitationFile:
    format: str  # bibtex, ris, csl-json, csl-yaml, pubmed, list
    items: list[dict] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def detect_format(text: str, name: str = "") -> str:
    """bibtex | ris | csl-json | csl-yaml | pubmed | html | list, from the content (and name)."""
    head = text.lstrip("\ufeff \t\r\n")[:4000]
    lower_name = name.lower()
    if head.startswith("<"):
        if re.search(r"<(PubmedArticleSet|PubmedArticle|PubmedBookArticle|MedlineCitation)\b", head):
            return "pubmed"
        if re.search(r"<html|<!doctype html|<head|<meta", head, re.I):
            return "html"
        raise CitationParseError(f"{name}: XML that is not PubMed XML (starts with {head[:40]!r})")
    if head.startswith(("[", "{")):
        return "csl-json"
    if re.match(r"PMID- ", head):
        return "pubmed"
    if re.match(r"TY  - ", head) or re.search(r"^TY  - ", head, re.M):
        return "ris"
    if re.search(r"^\s*@\w+\s*[{(]", head, re.M):
        return "bibtex"
    if lower_name.endswith((".yaml", ".yml")) or head.startswith(("---", "references:")):
        return "csl-yaml"
    return "list"


def parse_citations(data: bytes, name: str = "input") -> CitationFile:
    """The items of one citation file. Raises CitationParseError for a file that is not one."""
    text = _decode(data, name)
    if not text.strip():
        raise CitationParseError(f"{name}: the file is empty")
    fmt = detect_format(text, name)
    if fmt == "html":
        raise CitationParseError(f"{name}: an HTML page, not a citation file "
                                 "(a landing page is read by `harvest resolve` from its URL)")
    if fmt == "pubmed":
        return CitationFile("pubmed")  # harvest.formats.pubmed reads these
    parser = {"bibtex": _bibtex, "ris": _ris, "csl-json": _csl_json, "csl-yaml": _csl_yaml,
              "list": _identifier_list}[fmt]
    result = CitationFile(fmt)
    for entry, item, reason in parser(text, name):
        if item is not None and reason is None:
            item = finish_item({**item, "where": entry})
            if not any(item[s] for s in ID_SCHEMES) and not item["title"]:
                reason = "neither an identifier (DOI, PMID, PMC id, arXiv id, URL) nor a title"
        if reason:
            result.refused.append(Refused(entry, reason))
        else:
            result.items.append(item)
    return result


def _decode(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = data.decode(encoding)
            if "\x00" not in text:
                return text
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", errors="replace")


def finish_item(item: dict) -> dict:
    """Normalise identifiers, derive the ones an identifier states (an arXiv DataCite DOI names
    the arXiv id; a doi.org, PubMed, PMC or arXiv URL names its id) and the year."""
    item = {**EMPTY_ITEM, **item}
    item["doi"] = normalise_doi(item["doi"])
    item["pmid"] = normalise_pmid(item["pmid"])
    item["pmcid"] = normalise_pmcid(item["pmcid"]) if item["pmcid"] else None
    if item["arxiv"]:
        match = ARXIV_PATTERN.match(str(item["arxiv"]).strip().removeprefix("arXiv:").removeprefix("arxiv:"))
        item["arxiv"] = match.group(1) if match else None
    if item["doi"] and not item["arxiv"]:
        match = ARXIV_DOI.match(item["doi"])
        if match and ARXIV_PATTERN.match(match.group(1)):
            item["arxiv"] = ARXIV_PATTERN.match(match.group(1)).group(1)
    if item["url"]:
        derived = identifiers_from_url(item["url"])
        for scheme in ("doi", "pmid", "pmcid", "arxiv"):
            if derived.get(scheme) and not item[scheme]:
                item[scheme] = derived[scheme]
        if not derived.get("url"):
            item["url"] = None
    if item["arxiv"] and item["kind"] == "paper" and not item["venue"]:
        item["kind"] = "preprint"
    if item["published"] and not item["year"]:
        item["year"] = int(item["published"][:4])
    if item["year"] is not None:
        item["year"] = int(item["year"])
    for key in ("title", "venue", "publisher"):
        if item[key]:
            item[key] = re.sub(r"\s+", " ", str(item[key])).strip().rstrip(".") or None
    return item


def identifiers_of(item: dict) -> list[tuple[str, str]]:
    """The item's identifiers in the store's order of precedence."""
    ids = [(s, item[s]) for s in ("doi", "pmid", "pmcid", "arxiv") if item.get(s)]
    if item.get("arxiv") and not item.get("doi"):
        ids.append(("doi", f"10.48550/arxiv.{item['arxiv']}".lower()))
    if item.get("url") and canonical_url(item["url"]):
        ids.append(("url", canonical_url(item["url"])))
    return ids


def _iso(year, month=None, day=None) -> str | None:
    try:
        year = int(str(year).strip()[:4])
    except (TypeError, ValueError):
        return None
    if month is not None and str(month).strip():
        month_text = str(month).strip().lower()
        month_number = MONTHS.get(month_text[:3]) if not month_text.isdigit() else int(month_text)
        if month_number and 1 <= month_number <= 12:
            if day is not None and str(day).strip().isdigit() and 1 <= int(day) <= 31:
                return f"{year:04d}-{month_number:02d}-{int(day):02d}"
            return f"{year:04d}-{month_number:02d}"
    return f"{year:04d}"


def _person(family: str | None, given: str | None = None, literal: str | None = None) -> dict | None:
    family, given, literal = (_clean(family), _clean(given), _clean(literal))
    if family:
        return {"last_name": family, "fore_name": given}
    if literal:
        return {"collective_name": literal}
    return None


def _clean(value) -> str | None:
    if value is None:
        return None
    value = re.sub(r"\s+", " ", str(value).replace("{", "").replace("}", "")).strip()
    return value or None


# -- BibTeX -----------------------------------------------------------------------------------

def _bibtex(text: str, name: str):
    import bibtexparser
    from bibtexparser.middlewares import SeparateCoAuthors, SplitNameParts
    from pylatexenc.latex2text import LatexNodes2Text

    latex = LatexNodes2Text(math_mode="verbatim", strict_latex_spaces=True)
    decode = lambda value: _clean(latex.latex_to_text(value)) if value else None  # noqa: E731
    # names are split before decoding, so a braced {Collective Name} stays one name
    library = bibtexparser.parse_string(text, append_middleware=[SeparateCoAuthors(), SplitNameParts()])
    for block in library.failed_blocks:
        start = getattr(block, "start_line", None)
        where = f"{name} line {start + 1}" if start is not None else name
        yield where, None, f"unreadable BibTeX ({block.__class__.__name__}): {str(block.raw)[:60]!r}"
    if not library.entries and not library.failed_blocks:
        raise CitationParseError(f"{name}: no BibTeX entries")
    for entry in library.entries:
        fields = {k.lower(): f.value for k, f in entry.fields_dict.items()}
        value = lambda key: decode(fields.get(key)) if isinstance(fields.get(key), str) else None  # noqa: E731
        raw = lambda key: _clean(fields.get(key)) if isinstance(fields.get(key), str) else None  # noqa: E731
        authors = []
        for person in fields.get("author") or []:
            if not hasattr(person, "last"):
                continue
            if not person.first and len(person.last) == 1 and person.last[0].startswith("{"):
                authors.append(_person(None, None, decode(person.last[0])))
                continue
            family = decode(" ".join(person.von + person.last))
            given = decode(" ".join(person.first + person.jr))
            authors.append(_person(family, given) if family else _person(None, None, given))
        eprint_type = (value("archiveprefix") or value("eprinttype") or "").lower()
        arxiv = raw("eprint") if eprint_type == "arxiv" else None
        venue = value("journal") or value("journaltitle") or value("booktitle")
        note_text = " ".join(filter(None, (value("note"), value("annote"), venue or "")))
        if not arxiv and venue and ARXIV_IN_TEXT.search(venue):
            arxiv = ARXIV_IN_TEXT.search(venue).group(1)
            venue = None if venue.lower().startswith("arxiv") else venue
        pmid = value("pmid") or (PMID_IN_TEXT.search(note_text).group(1) if PMID_IN_TEXT.search(note_text) else None)
        pmcid = value("pmcid") or (PMCID_IN_TEXT.search(note_text).group(1) if PMCID_IN_TEXT.search(note_text) else None)
        date = value("date")
        published = date[:10] if date and re.match(r"\d{4}(-\d\d){0,2}$", date[:10]) else (
            _iso(value("year"), value("month"), value("day")) if value("year") else None)
        yield f"{name} @{entry.key}", {
            "entry": entry.key, "kind": KINDS.get(entry.entry_type.lower(), "paper"),
            "title": value("title"), "abstract": value("abstract"), "authors": [a for a in authors if a], "venue": venue,
            "published": published, "volume": value("volume"), "issue": value("number") or value("issue"),
            "pages": re.sub(r"[-\u2013\u2014]+", "-", raw("pages") or "") or None, "publisher": value("publisher"),
            "doi": raw("doi"), "pmid": pmid, "pmcid": pmcid, "arxiv": arxiv, "url": raw("url"),
            "keywords": [k.strip() for k in re.split(r"[,;]", value("keywords") or "") if k.strip()] or None,
        }, None


# -- RIS --------------------------------------------------------------------------------------

def _ris(text: str, name: str):
    import rispy

    try:
        entries = rispy.loads(text, skip_unknown_tags=True)
    except (OSError, ValueError) as exc:  # rispy raises IOError on a broken file
        raise CitationParseError(f"{name}: not readable as RIS: {exc}") from None
    opened = len(re.findall(r"^TY  - ", text, re.M))
    if opened > len(entries):  # rispy drops a record whose closing "ER  -" line is missing
        yield f"{name} record {len(entries) + 1}", None, \
            f"{opened - len(entries)} record(s) not closed by an 'ER  - ' line (cut short?)"
    for position, entry in enumerate(entries, start=1):
        where = f"{name} record {position}"
        first = lambda *keys: next((_clean(entry[k][0] if isinstance(entry[k], list) else entry[k])  # noqa: E731
                                    for k in keys if entry.get(k)), None)
        people = entry.get("authors") or entry.get("first_authors") or []
        authors = []
        for person in people:
            family, _, given = person.partition(",")
            authors.append(_person(family, given) if given else _person(None, None, family))
        date = first("date", "publication_year", "year") or ""
        parts = [p for p in re.split(r"[/-]", date) if p]
        published = _iso(parts[0], *(parts[1:3])) if parts and parts[0][:4].isdigit() else None
        notes = " ".join(entry.get("notes") or []) + " " + (first("note") or "")
        accession = first("accession_number") or ""
        pmid = accession if accession.isdigit() and (entry.get("name_of_database") or "").lower().startswith("pubmed") \
            else (PMID_IN_TEXT.search(notes).group(1) if PMID_IN_TEXT.search(notes) else None)
        pmcid = first("custom2") if (first("custom2") or "").upper().startswith("PMC") else None
        start, end = first("start_page"), first("end_page")
        yield where, {
            "entry": first("id") or str(position), "kind": KINDS.get(entry.get("type_of_reference") or "", "paper"),
            "title": first("title", "primary_title", "translated_title"), "abstract": first("abstract", "notes_abstract"),
            "authors": [a for a in authors if a],
            "venue": first("secondary_title", "journal_name", "alternate_title3", "alternate_title1"),
            "published": published, "volume": first("volume"), "issue": first("number"),
            "pages": f"{start}-{end}" if start and end else start, "publisher": first("publisher"),
            "doi": first("doi"), "pmid": pmid, "pmcid": pmcid,
            "arxiv": ARXIV_IN_TEXT.search(notes).group(1) if ARXIV_IN_TEXT.search(notes) else None,
            "url": first("urls"), "keywords": list(entry.get("keywords") or []) or None,
        }, None


# -- CSL-JSON / CSL-YAML ----------------------------------------------------------------------

def _csl_json(text: str, name: str):
    try:
        data = load_json(text)  # depth-capped (harvest.limits)
    except json.JSONDecodeError as exc:
        raise CitationParseError(f"{name}: not valid JSON: {exc}") from None
    yield from _csl_items(data, name)


def _csl_yaml(text: str, name: str):
    try:  # harvest.config's bounded YAML reader (size and alias-expansion caps)
        data = config.loads(text, name)
    except config.ConfigError as exc:
        raise CitationParseError(str(exc)) from None
    yield from _csl_items(data, name, strict=True)


# The CSL 1.0.2 data schema (csl-data.json): an item's variables, and the keys of a name and of a date.
CSL_VARIABLES = frozenset("""
    id type citation-key categories language journalAbbreviation shortTitle
    author chair collection-editor compiler composer container-author contributor curator director editor
    editorial-director executive-producer guest host interviewer illustrator narrator organizer original-author
    performer producer recipient reviewed-author script-writer series-creator translator
    accessed available-date event-date issued original-date submitted
    abstract annote archive archive_collection archive_location archive-place authority call-number chapter-number
    citation-number citation-label collection-number collection-title container-title container-title-short
    dimensions division DOI edition event event-title event-place first-reference-note-number genre ISBN ISSN issue
    jurisdiction keyword locator medium note number number-of-pages number-of-volumes original-publisher
    original-publisher-place original-title page page-first part part-title PMCID PMID printing publisher
    publisher-place references reviewed-genre reviewed-title scale section source status supplement title
    title-short URL version volume volume-title volume-title-short year-suffix custom
""".split()) | {"arxiv"}  # arxiv: read by csl_to_item (an arXiv id), as some exporters write it
CSL_NAME_KEYS = frozenset("family given dropping-particle non-dropping-particle suffix comma-suffix static-ordering "
                          "literal parse-names".split())
CSL_DATE_KEYS = frozenset("date-parts season circa literal raw".split())
CSL_NAMES = frozenset("""author chair collection-editor compiler composer container-author contributor curator director
    editor editorial-director executive-producer guest host interviewer illustrator narrator organizer original-author
    performer producer recipient reviewed-author script-writer series-creator translator""".split())
CSL_DATES = frozenset({"accessed", "available-date", "event-date", "issued", "original-date", "submitted"})


def _unknown_key(key, known: frozenset, where: str) -> str:
    """"unknown CSL key 'containter-title' (did you mean 'container-title'?)" for a key not in `known`."""
    by_case = {k.lower(): k for k in known}
    guess = by_case.get(str(key).lower()) or next(iter(difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.7)), None)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    return (f"unknown CSL key {str(key)!r}{where}{hint}; CSL 1.0.2 names are expected: the item was not imported, "
            "correct the key and import the file again")


def csl_key_problem(item: dict) -> str | None:
    """The first key of a CSL item, or of one of its names or dates, that the CSL 1.0.2 schema does
    not know (a misspelling would otherwise be dropped in silence), as a reason naming it and the
    closest known key; None when every key is known."""
    for key, value in item.items():
        if key not in CSL_VARIABLES:
            return _unknown_key(key, CSL_VARIABLES, "")
        people = value if key in CSL_NAMES and isinstance(value, list) else []
        for person in people:
            for part in (person if isinstance(person, dict) else {}):
                if part not in CSL_NAME_KEYS:
                    return _unknown_key(part, CSL_NAME_KEYS, f" in a name of {key!r}")
        if key in CSL_DATES and isinstance(value, dict):
            for part in value:
                if part not in CSL_DATE_KEYS:
                    return _unknown_key(part, CSL_DATE_KEYS, f" in the date {key!r}")
    return None


def _csl_items(data, name: str, strict: bool = False):
    """CSL items of a parsed file. `strict` (CSL-YAML, which people write by hand) refuses an item
    with a key the CSL schema does not know; CSL-JSON, which programs write, may carry extra keys
    (Crossref's `indexed`, `reference-count`...) and they are ignored."""
    if isinstance(data, dict):
        data = data.get("items") or data.get("references") or ([data] if data.get("type") else None)
    if not isinstance(data, list):
        raise CitationParseError(f"{name}: expected a list of CSL items (or items:/references: holding one)")
    for position, item in enumerate(data, start=1):
        where = f"{name} item {position}"
        if not isinstance(item, dict):
            yield where, None, "not a CSL item (an object with type, title, ...)"
            continue
        where = f"{name} item {item.get('id') or position}"
        problem = csl_key_problem(item) if strict else None
        yield (where, None, problem) if problem else (where, csl_to_item(item), None)


def csl_to_item(item: dict) -> dict:
    """One CSL item (CSL-JSON 1.0.2 variable names) as a citation item."""
    def text(key):
        value = item.get(key)
        return _clean(value[0] if isinstance(value, list) and value else value) if value else None

    authors = [_person(p.get("family"), p.get("given"), p.get("literal")) for p in item.get("author") or []
               if isinstance(p, dict)]
    issued = item.get("issued") or {}
    published = None
    if isinstance(issued, dict) and issued.get("date-parts"):
        parts = issued["date-parts"][0]
        published = _iso(*parts[:3]) if parts else None
    elif isinstance(issued, dict) and issued.get("raw"):
        published = _iso(*re.split(r"[-/]", str(issued["raw"]))[:3])
    elif isinstance(issued, (str, int)):
        published = _iso(*re.split(r"[-/]", str(issued))[:3])
    number = " ".join(filter(None, (text("number"), text("archive_location"), text("note"))))
    arxiv = text("arxiv") or (ARXIV_IN_TEXT.search(number).group(1) if ARXIV_IN_TEXT.search(number) else None)
    keywords = item.get("keyword")
    return {
        "entry": str(item.get("id") or ""), "kind": KINDS.get(item.get("type") or "", "paper"),
        "title": text("title"), "abstract": text("abstract"), "authors": [a for a in authors if a],
        "venue": text("container-title"),
        "published": published, "volume": text("volume"), "issue": text("issue"), "pages": text("page"),
        "publisher": text("publisher"), "doi": text("DOI"), "pmid": text("PMID"), "pmcid": text("PMCID"),
        "arxiv": arxiv, "url": text("URL"),
        "keywords": [k.strip() for k in keywords.split(",")] if isinstance(keywords, str) else keywords,
    }


# -- plain identifier lists -------------------------------------------------------------------

def _identifier_list(text: str, name: str):
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.split("#", 1)[0].strip() if not line.strip().startswith("http") else line.strip()
        if not value:
            continue
        where = f"{name} line {number}"
        item = identify(value)
        if item is None:
            yield where, None, f"{value[:80]!r} is not a DOI, PMID, PMC id, arXiv id or URL"
        else:
            yield where, {**item, "entry": f"line {number}"}, None


def identify(value: str) -> dict | None:
    """{scheme: value} for one written identifier (DOI, doi: form, PMID, PMC id, arXiv id or
    arXiv:id, URL), or None."""
    value = value.strip()
    if re.match(r"https?://", value, re.I):
        return {"url": value} if canonical_url(value) else None
    lowered = value.lower()
    if lowered.startswith(("doi:", "10.")) and normalise_doi(value):
        return {"doi": value}
    if lowered.startswith("pmid:") or value.isdigit():
        pmid = normalise_pmid(value.split(":", 1)[-1])
        return {"pmid": pmid} if pmid else None
    if re.fullmatch(r"(PMCID:\s*)?PMC\d+", value, re.I):
        return {"pmcid": value.split(":")[-1].strip()}
    bare = re.sub(r"^arxiv:\s*", "", value, flags=re.I)
    if ARXIV_PATTERN.fullmatch(bare):
        return {"arxiv": bare}
    return None


# -- landing pages ----------------------------------------------------------------------------

def parse_landing_page(html: bytes | str, url: str) -> dict:
    """The item a reference manager would capture from an article's landing page: Highwire
    Press `citation_*` meta tags first (Google Scholar's inclusion guidelines), Dublin Core
    (`DC.*` / `dc.*` / `DCTERMS.*`) where those are missing, then `og:title` / `<title>`.
    Dates like 2024/03/05 and 2024-03-05 are both read. Returns an unfinished item whose `url`
    is `url` unless the page gives `citation_public_url` or `citation_abstract_html_url`."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    meta: dict[str, list[str]] = {}
    for tag in soup.find_all("meta"):
        key = (tag.get("name") or tag.get("property") or "").strip().lower()
        content = (tag.get("content") or "").strip()
        if key and content:
            meta.setdefault(key, []).append(content)

    def first(*keys):
        return next((_clean(meta[k][0]) for k in keys if meta.get(k)), None)

    authors = []
    for name in meta.get("citation_author") or meta.get("dc.creator") or meta.get("dcterms.creator") or []:
        family, comma, given = name.partition(",")
        if comma:
            authors.append(_person(family, given))
        else:
            parts = name.split()
            authors.append(_person(parts[-1], " ".join(parts[:-1]) or None) if parts else None)
    date = first("citation_publication_date", "citation_date", "citation_online_date",
                 "dc.date", "dcterms.issued", "dcterms.date", "article:published_time") or ""
    parts = re.findall(r"\d+", date)
    published = _iso(parts[0], *parts[1:3]) if parts and len(parts[0]) == 4 else (
        _iso(parts[-1]) if parts and len(parts[-1]) == 4 else None)
    doi = first("citation_doi", "dc.identifier", "dcterms.identifier", "prism.doi")
    title_tag = soup.title.string if soup.title and soup.title.string else None
    first_page, last_page = first("citation_firstpage"), first("citation_lastpage")
    return {
        "kind": "preprint" if first("citation_arxiv_id") or (
            first("citation_technical_report_institution") or "").lower() == "arxiv" else "paper",
        "title": first("citation_title", "dc.title", "dcterms.title", "og:title") or _clean(title_tag),
        "authors": [a for a in authors if a],
        "venue": first("citation_journal_title", "citation_conference_title", "citation_inbook_title",
                       "dc.source", "dcterms.ispartof", "dcterms.bibliographiccitation"),
        "published": published, "volume": first("citation_volume"), "issue": first("citation_issue"),
        "pages": f"{first_page}-{last_page}" if first_page and last_page else first_page,
        "publisher": first("citation_publisher", "dc.publisher", "dcterms.publisher"),
        "doi": doi if normalise_doi(doi) else None, "pmid": first("citation_pmid"),
        "pmcid": first("citation_pmcid"), "arxiv": first("citation_arxiv_id"),
        "url": first("citation_public_url", "citation_abstract_html_url") or url,
        "keywords": [k.strip() for k in ";".join(meta.get("citation_keywords") or []).split(";") if k.strip()] or None,
    }
