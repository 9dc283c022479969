"""JATS XML (PMC and Europe PMC full text, JMIR, eLife): one parser for every JATS source.

parse_jats   bytes (an <article>, or a <pmc-articleset> of them) -> normalised record dicts
"""

from __future__ import annotations

import gzip
import re
from typing import Iterator

from lxml import etree

from ..identifiers import normalise_doi, normalise_pmcid
from ..text import folded

XLINK = "{http://www.w3.org/1999/xlink}"
SKIPPED_TEXT = {"label", "annotation", "annotation-xml", "object-id"}
SKIPPED_ABSTRACTS = {"executive-summary", "teaser", "toc", "graphical", "web-summary", "summary"}
DATE_PREFERENCE = ("epub", "ppub", "pub", "epreprint", "collection", "epub-ppub", "ecorrected")
RECORD_FIELDS = (
    "doi", "pmid", "pmcid", "publisher_id", "title", "abstract", "abstract_sections", "authors",
    "journal", "issn", "publisher", "volume", "issue", "pages", "published", "year",
    "article_type", "keywords", "license", "sections", "references",
)


class JatsParseError(ValueError):
    """Input that is not JATS, or is damaged; the message says where."""


def parse_jats(data: bytes, name: str = "input") -> Iterator[dict]:
    """Every <article> in `data`, plain or gzipped (nested sub-articles belong to their parent)."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise JatsParseError(f"{name}: damaged gzip data: {exc}") from exc
    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False,
                             remove_comments=True, remove_pis=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise JatsParseError(f"{name}: malformed XML: {exc}") from exc
    articles = [root] if _local(root.tag) == "article" else [
        e for e in root.iter("{*}article") if not any(_local(a.tag) == "article" for a in e.iterancestors())]
    if not articles:
        raise JatsParseError(f"{name}: no JATS <article> in it (root element <{_local(root.tag)}>)")
    for number, article in enumerate(articles, start=1):
        front = _child(article, "front")
        meta = _child(front, "article-meta") if front is not None else None
        if meta is None:
            raise JatsParseError(f"{name}: article {number} has no <front>/<article-meta>")
        yield _article(article, front, meta)


def body_text(article: dict) -> str | None:
    """An article's sections as one text: each section's title on its own line, then its text."""
    return "\n\n".join(f"{s['title']}\n{s['text']}" if s["title"] else s["text"]
                       for s in article["sections"] if s["text"]) or None


def _local(tag) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child(element, name: str):
    if element is None:
        return None
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _children(element, name: str) -> list:
    return [] if element is None else [c for c in element if _local(c.tag) == name]


def _descendants(element, name: str) -> list:
    return [] if element is None else [e for e in element.iter() if _local(e.tag) == name]


def _text(element) -> str | None:
    """Text with inline markup flattened; labels and MathML annotations left out."""
    if element is None:
        return None
    text = folded("".join(_walk(element)))
    return text or None


def _walk(element) -> Iterator[str]:
    if element.text:
        yield element.text
    for child in element:
        if _local(child.tag) not in SKIPPED_TEXT:
            yield from _walk(child)
        if child.tail:
            yield child.tail


def _article(article, front, meta) -> dict:
    journal_meta = _child(front, "journal-meta")
    ids = {}
    for article_id in _children(meta, "article-id"):
        ids.setdefault(article_id.get("pub-id-type"), (article_id.text or "").strip())
    published = _publication_date(meta)
    abstract_element = next((a for a in _children(meta, "abstract")
                             if a.get("abstract-type") not in SKIPPED_ABSTRACTS), None)
    sections = _abstract_sections(abstract_element)
    body = _child(article, "body")
    back = _child(article, "back")
    first_page, last_page = _text(_child(meta, "fpage")), _text(_child(meta, "lpage"))
    record = {
        "doi": normalise_doi(ids.get("doi")),
        "pmid": ids.get("pmid") or None,
        "pmcid": normalise_pmcid(ids.get("pmcid") or ids.get("pmc")),
        "publisher_id": ids.get("publisher-id") or None,
        "title": _text(_descendants(_child(meta, "title-group"), "article-title")[0])
        if _descendants(_child(meta, "title-group"), "article-title") else None,
        "abstract": "\n".join(f"{s['label']}: {s['text']}" if s["label"] else s["text"]
                              for s in sections) or None,
        "abstract_sections": sections,
        "authors": _authors(article, meta),
        "journal": _text(_descendants(journal_meta, "journal-title")[0])
        if _descendants(journal_meta, "journal-title") else None,
        "issn": [i.text.strip() for i in _children(journal_meta, "issn") if i.text and i.text.strip()],
        "publisher": _text(_descendants(_child(journal_meta, "publisher"), "publisher-name")[0])
        if _descendants(_child(journal_meta, "publisher"), "publisher-name") else None,
        "volume": _text(_child(meta, "volume")),
        "issue": _text(_child(meta, "issue")),
        "pages": f"{first_page}-{last_page}" if first_page and last_page else first_page
        or _text(_child(meta, "elocation-id")),
        "published": published,
        "year": int(published[:4]) if published else None,
        "article_type": article.get("article-type"),
        "keywords": [k for k in (_text(kwd) for group in _children(meta, "kwd-group")
                                 for kwd in _children(group, "kwd")) if k],
        "license": _license(meta),
        "sections": [{"title": _text(_child(sec, "title")),
                      "text": _content(sec, ("title", "label", "sec", "object-id"))}
                     for sec in _descendants(body, "sec")],
        "references": [_reference(ref) for ref in _descendants(back, "ref")],
    }
    return record


def _abstract_sections(abstract) -> list[dict]:
    if abstract is None:
        return []
    secs = _children(abstract, "sec")
    if not secs:
        text = _content(abstract)
        return [{"label": None, "text": text}] if text else []
    return [{"label": _text(_child(sec, "title")), "text": text}
            for sec in secs if (text := _content(sec))]


def _content(element, skip: tuple[str, ...] = ("title", "label", "object-id")) -> str | None:
    """An element's own text, its children's text separated by spaces, minus the `skip` ones
    (a section's title and its sub-sections, which stand on their own)."""
    if element is None:
        return None
    parts = [element.text or ""]
    for child in element:
        if _local(child.tag) not in skip:
            parts.append(f" {_text(child) or ''} ")
        parts.append(child.tail or "")
    return folded("".join(parts)) or None


def _authors(article, meta) -> list[dict]:
    affiliations = {aff.get("id"): _content(aff) for aff in _descendants(meta, "aff")}
    people = []
    for group in _children(meta, "contrib-group"):
        for contrib in _children(group, "contrib"):
            if contrib.get("contrib-type", "author") != "author":
                continue
            names = _descendants(contrib, "name")
            name = names[0] if names else None
            orcid = next((c.text.strip() for c in _children(contrib, "contrib-id")
                          if c.get("contrib-id-type") == "orcid" and c.text), None)
            affs = [affiliations[x.get("rid")] for x in _children(contrib, "xref")
                    if x.get("ref-type") == "aff" and affiliations.get(x.get("rid"))]
            affs += [_content(a) for a in _children(contrib, "aff")]
            people.append({
                "last_name": _text(_child(name, "surname")) if name is not None else None,
                "fore_name": _text(_child(name, "given-names")) if name is not None else None,
                "initials": None,
                "collective_name": _text(_child(contrib, "collab")),
                "orcid": re.sub(r"^https?://orcid\.org/", "", orcid) if orcid else None,
                "affiliations": [a for a in affs if a],
            })
    return people


def _publication_date(meta) -> str | None:
    dates = _children(meta, "pub-date")
    def rank(date):
        kind = date.get("pub-type") or date.get("date-type") or ""
        return DATE_PREFERENCE.index(kind) if kind in DATE_PREFERENCE else len(DATE_PREFERENCE)
    for date in sorted(dates, key=rank):
        year = (_child(date, "year").text or "").strip() if _child(date, "year") is not None else ""
        if not year.isdigit():
            continue
        month = _child(date, "month")
        day = _child(date, "day")
        month_text = (month.text or "").strip() if month is not None else ""
        day_text = (day.text or "").strip() if day is not None else ""
        if month_text.isdigit() and 1 <= int(month_text) <= 12:
            if day_text.isdigit() and 1 <= int(day_text) <= 31:
                return f"{year}-{int(month_text):02d}-{int(day_text):02d}"
            return f"{year}-{int(month_text):02d}"
        return year
    return None


def _license(meta) -> str | None:
    permissions = _child(meta, "permissions")
    license_element = _child(permissions, "license")
    if license_element is None:
        return None
    href = license_element.get(f"{XLINK}href")
    if href:
        return href
    pointer = next((e.text for e in _descendants(license_element, "ext-link") if e.text), None)
    return pointer or _text(license_element)


def _reference(ref) -> dict:
    ids = {}
    for pub_id in _descendants(ref, "pub-id"):
        ids.setdefault(pub_id.get("pub-id-type"), (pub_id.text or "").strip())
    title = next((_text(t) for t in _descendants(ref, "article-title")), None)
    year = next((y.text.strip()[:4] for y in _descendants(ref, "year") if y.text and y.text.strip()[:4].isdigit()), None)
    return {"doi": normalise_doi(ids.get("doi")), "pmid": ids.get("pmid") or None, "title": title,
            "year": year}
