"""JATS XML (PMC and Europe PMC full text, JMIR, eLife): one parser for every JATS source.

parse_jats   bytes (an <article>, or a <pmc-articleset> of them) -> normalised record dicts
"""

from __future__ import annotations

import re
from typing import Iterator

from lxml import etree

from ..dates import iso_date
from ..identifiers import normalise_doi, normalise_pmcid
from ..limits import LimitExceeded, Truncated, gunzip
from ..text import folded, labelled

XLINK = "{http://www.w3.org/1999/xlink}"
SKIPPED_TEXT = {"label", "annotation", "annotation-xml", "object-id"}
# <alternatives> children that hold no text of their own, or text kept only as a last resort
NON_TEXTUAL_RENDERINGS = {"graphic", "inline-graphic", "media", "inline-media", "math", "tex-math", "private-char"}
MATHML_TOKENS = {"mi", "mn", "mo", "mtext", "ms"}
# contrib-groups that list a group's members rather than the byline
MEMBER_GROUP = re.compile(r"collab|member|consortium|non-?byline|group-author", re.I)
COLLAB_NOT_NAME = {"contrib-group", "contrib", "aff", "aff-alternatives", "xref", "fn", "address", "email",
                   "institution-wrap", "role", "bio", "on-behalf-of"}
ORCID = re.compile(r"\d{4}-\d{4}-\d{4}-\d{3}[\dXx]")
TEX_DOCUMENT = re.compile(r"\\begin\{document\}(.*?)\\end\{document\}", re.S)
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
            data = gunzip(data, name)
        except LimitExceeded as exc:
            raise JatsParseError(str(exc)) from None
        except Truncated as exc:
            raise JatsParseError(f"{name}: damaged gzip data: {exc}") from None
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
    text = folded("".join(_rendered(element)))
    return text or None


def _walk(element) -> Iterator[str]:
    if element.text:
        yield element.text
    for child in element:
        if _local(child.tag) not in SKIPPED_TEXT:
            yield from _rendered(child)
        if child.tail:
            yield child.tail


def _rendered(element) -> Iterator[str]:
    """An element's text, with formulas read once: MathML as its text, TeX without a preamble,
    and one rendering of an <alternatives>."""
    name = _local(element.tag)
    if name == "math":
        yield _mathml_text(element)
    elif name == "tex-math":
        yield _tex_text(element)
    elif name == "alternatives":
        yield from _one_rendering(element)
    else:
        yield from _walk(element)


def _one_rendering(alternatives) -> Iterator[str]:
    """One rendering of an <alternatives>: the first textual one (a <textual-form>, a table, plain
    text), else MathML as its text, else the TeX without its preamble; never all of them."""
    children = [c for c in alternatives if isinstance(c.tag, str)]
    for wanted in (lambda n: n not in NON_TEXTUAL_RENDERINGS, lambda n: n == "math", lambda n: n == "tex-math"):
        for child in children:
            if wanted(_local(child.tag)):
                yield from _rendered(child)
                return


def _mathml_text(element) -> str:
    """MathML as plain text: the token elements' text run together (white space between MathML
    elements means nothing), annotations left out: `<mi>d</mi><mo>=</mo><mn>0.5</mn>` is `d=0.5`."""
    parts = []
    if _local(element.tag) in MATHML_TOKENS and element.text:
        parts.append(element.text.strip())
    for child in element:
        if isinstance(child.tag, str) and _local(child.tag) not in SKIPPED_TEXT:
            parts.append(_mathml_text(child))
    return "".join(parts)


def _tex_text(tex) -> str:
    """TeX as written, without a LaTeX document's preamble (\\documentclass, \\usepackage, ...):
    only what stands between \\begin{document} and \\end{document}, without $ delimiters then."""
    text = "".join(tex.itertext())
    body = TEX_DOCUMENT.search(text)
    if body:
        return body.group(1).strip().strip("$").strip()
    if "\\documentclass" in text:
        return ""
    return text


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
        "abstract": "\n".join(labelled(s["label"], s["text"]) for s in sections) or None,
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
    """The byline: every author <contrib> of the article-meta's contrib-groups, in order.

    A contributor is named by whichever JATS form it uses: <name> (surname, given-names, prefix,
    suffix), <string-name> (structured or not), <name-alternatives> (its <name>, Western style
    first), <collab> or <collab-alternatives> (a group author, named by its own text: members
    nested in it as a <contrib-group> are neither glued into the name nor byline authors), or
    <anonymous/>. Contributors listed apart from the byline (contrib-type "author non-byline",
    a contrib-group of members) are not authors. ORCID from <contrib-id> (or an ORCID link)."""
    affiliations = {aff.get("id"): _content(aff) for aff in _descendants(meta, "aff") if aff.get("id")}
    people = []
    for group in _children(meta, "contrib-group"):
        if MEMBER_GROUP.search(group.get("content-type") or ""):
            continue
        shared = [_content(a) for a in _children(group, "aff")] if not any(
            x.get("ref-type") == "aff" for x in _descendants(group, "xref")) else []
        for contrib in _children(group, "contrib"):
            if (contrib.get("contrib-type") or "author").strip().lower() != "author":
                continue
            person = _contributor(contrib)
            if person is None:
                continue
            rids = [rid for x in _children(contrib, "xref") if x.get("ref-type") == "aff"
                    for rid in (x.get("rid") or "").split()]
            affs = [affiliations[rid] for rid in rids if affiliations.get(rid)]
            affs += [_content(a) for a in _children(contrib, "aff")] + shared
            person["affiliations"] = list(dict.fromkeys(a for a in affs if a))
            people.append(person)
    return people


def _contributor(contrib) -> dict | None:
    """One <contrib> as a person (or group) record; None when it names nobody."""
    person = {"last_name": None, "fore_name": None, "initials": None, "suffix": None,
              "collective_name": None, "orcid": _orcid(contrib), "affiliations": []}
    name = _child(contrib, "name-alternatives")
    forms = _children(name, "name") + _children(name, "string-name") if name is not None else []
    forms.sort(key=lambda n: (n.get("name-style") or "western") != "western")
    forms += _children(contrib, "name") + _children(contrib, "string-name")
    collab = _child(_child(contrib, "collab-alternatives"), "collab")
    if collab is None:
        collab = _child(contrib, "collab")
    if forms:
        person.update(_person_name(forms[0]))
    elif collab is not None:
        person["collective_name"] = _collab_name(collab)
    elif _child(contrib, "anonymous") is not None:
        person["collective_name"] = _text(_child(contrib, "anonymous")) or "Anonymous"
    if not (person["last_name"] or person["fore_name"] or person["collective_name"]):
        return None
    return person


def _person_name(name) -> dict:
    """A <name> or <string-name>: surname, given names and suffix; an unstructured string-name
    ('Kim Lee', 'Lee, Kim') is split at its comma, else before its last word."""
    surname, given = _text(_child(name, "surname")), _text(_child(name, "given-names"))
    suffix = _text(_child(name, "suffix"))
    if surname is None and given is None:
        whole = _text(name) or ""
        if "," in whole:
            surname, _, given = (part.strip() for part in whole.partition(","))
        else:
            given, _, surname = whole.rpartition(" ")
        given = given or None
    return {"last_name": surname or None, "fore_name": given, "suffix": suffix}


def _collab_name(collab) -> str | None:
    """A group author's own text: its nested members (<contrib-group>, <contrib>), their
    affiliations, footnote links and addresses left out."""
    parts = [collab.text or ""]
    for child in collab:
        if isinstance(child.tag, str) and _local(child.tag) not in COLLAB_NOT_NAME:
            parts.append("".join(_rendered(child)))
        parts.append(child.tail or "")
    return folded("".join(parts)).strip(" ,;:") or None


def _orcid(contrib) -> str | None:
    for element in _children(contrib, "contrib-id") + _descendants(contrib, "uri") + _descendants(contrib, "ext-link"):
        kind = (element.get("contrib-id-type") or element.get("content-type") or element.get("ext-link-type") or "")
        value = " ".join(filter(None, ((element.text or "").strip(), element.get(f"{XLINK}href"))))
        match = ORCID.search(value)
        if match and (kind.lower() == "orcid" or "orcid.org" in value):
            return match.group(0).upper()
    return None


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
        if iso_date(year) is None:  # year 0 and the like are no date; a later pub-date may be one
            continue
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
