"""Web pages -> articles: trafilatura for the main text and metadata, plus what a harvester adds.

parse_article   page bytes -> {url, canonical_url, title, authors, published, site_name, language,
                text, status, reason}; a page without a readable article (paywall, consent wall,
                script-only, too large) is a `link-only` record that says why, never an exception
canonical_url   the address identity is decided on: the page's declared canonical address when it
                is on the same site, tracking parameters removed

What this adds to trafilatura called bare: the HTTP charset wins over guessing; comments are left
out (they are not the report); call-to-action paragraphs (newsletter, "Read more:", app, copyright
lines) are dropped; the language comes from the page's declarations; authors become a list of names.
News reports and guidance pages both come through here.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from urllib.parse import urlsplit

import trafilatura

from ..identifiers import canonical_url as spelled
from ..text import folded

MAX_PAGE_BYTES = 8 * 1024 * 1024   # beyond this a page is kept as a link, not parsed
# Dates only from what the page states about itself (metadata, bylines, URL), never a guess from
# any date in the text such as a copyright year; original (publication) dates over updates.
DATE_SEARCH = {"extensive_search": False, "original_date": True}
WALL_SEARCH_CHARS = 200_000       # how much of a page without an article is searched for the reason why
MIN_ARTICLE_CHARS = 250            # less than this is not an article (teaser, wall, shell page)

CALL_TO_ACTION = re.compile(r"""
    ^(read\ (more|also)\b | related: | see\ also: | advertisement$ | (click|tap)\ here | subscribe\b
      | sign\ up\b | follow\ (us|the\ [\w\ ]{1,30}?)\ on\b | download\ (the|our)\b | get\ the\ latest\b
      | copyright\ © | ©)
    | \ball\ rights\ reserved\b | \balready\ a\ subscriber\b | \bplease\ subscribe\b
    | \bsubscribe\ (now|today)\b | \bwe\ want\ to\ hear\b | \bsubmit\ your\ letter\b""", re.I | re.X)
PAYWALL = re.compile(r"\b(subscribe to (continue|read)|to view the full story|already a subscriber|"
                     r"subscribers only|for subscribers|log in to continue reading)\b", re.I)
CONSENT = re.compile(r"\b(we use cookies|cookie (settings|preferences|policy)|accept all cookies|"
                     r"consent to (our|the) use)\b", re.I)
SCRIPT_ONLY = re.compile(r"\b(enable javascript|javascript is (disabled|required)|turn on javascript)\b", re.I)
NAME_NOISE = re.compile(r"^(by|par|von|door|por)\s+|,?\s+\b(phd|md|ma|msc|mph|rn|jr\.?)$", re.I)


def canonical_url(url: str, declared: str | None = None) -> str:
    """`declared` (rel=canonical, og:url) wins when it stays on the same site; tracking parameters
    (utm_*, fbclid, gclid, ...) and fragments go; scheme and host are lower-cased."""
    if declared and declared.startswith(("http://", "https://")) and _site(declared) == _site(url):
        return spelled(declared) or spelled(url) or url
    return spelled(url) or url


def _site(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.").removeprefix("m.").removeprefix("amp.")


def parse_article(data: bytes, url: str, content_type: str | None = None) -> dict:
    """One page -> one article record (see the module docstring)."""
    record = {"url": url, "canonical_url": canonical_url(url), "title": "", "authors": [], "published": None,
              "site_name": "", "language": "", "text": "", "status": "extracted", "reason": ""}
    if len(data) > MAX_PAGE_BYTES:
        return _link_only(record, f"page too large to extract ({len(data) / 2**20:.1f} MiB)")
    page = _decoded(data, content_type)
    if not page.strip():
        return _link_only(record, "empty page")
    tree = trafilatura.load_html(page)
    if tree is None:
        return _link_only(record, "not HTML: no document could be parsed from the page")
    record["language"] = _language(tree)
    document = trafilatura.bare_extraction(tree, url=url, include_comments=False, with_metadata=True,
                                           date_extraction_params=DATE_SEARCH)
    found = document.as_dict() if document is not None else {}
    record.update(title=folded(found.get("title")), authors=_authors(found.get("author")),
                  published=_iso_date(found.get("date")), site_name=folded(found.get("sitename")),
                  canonical_url=canonical_url(url, found.get("url")))
    text = _without_calls_to_action(found.get("text") or "")
    record["text"] = text
    if len(text) >= MIN_ARTICLE_CHARS and not (PAYWALL.search(text) and len(text) < 1500):
        return record
    for pattern, reason in ((PAYWALL, "paywall: only a teaser is readable"),
                            (CONSENT, "consent wall: the page shows a cookie notice instead of the article"),
                            (SCRIPT_ONLY, "script-only page: the article is drawn by JavaScript")):
        if pattern.search(text) or pattern.search(page[:WALL_SEARCH_CHARS]):  # the wall is in the page, not the text
            return _link_only(record, reason)
    return _link_only(record, f"too little text for an article ({len(text)} characters)")


def _iso_date(value: str | None) -> str | None:
    """trafilatura gives the publication day (YYYY-MM-DD); anything else is no date."""
    try:
        return date.fromisoformat(value[:10]).isoformat() if value else None
    except ValueError:
        return None


def _link_only(record: dict, reason: str) -> dict:
    record.update(status="link-only", reason=reason)
    return record


def _decoded(data: bytes, content_type: str | None) -> str:
    """The HTTP charset, when declared and known, wins; otherwise trafilatura's detection decides."""
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.I)
    if match:
        try:
            return data.decode(match.group(1), errors="replace")
        except LookupError:
            pass
    return trafilatura.utils.decode_file(data)


def _without_calls_to_action(text: str) -> str:
    kept = [p for p in text.split("\n") if not (len(p) < 300 and CALL_TO_ACTION.search(p.strip()))]
    return "\n".join(kept).strip()


def _authors(value: str | None) -> list[str]:
    names = []
    for name in re.split(r";|\band\b|&", value or ""):
        name = NAME_NOISE.sub("", folded(name)).strip(" ,")
        if name and name not in names and len(name) < 80:
            names.append(name)
    return names


def _language(tree) -> str:
    """The page's own declaration: <html lang>, Content-Language, og:locale."""
    candidates = tree.xpath("/html/@lang | /html/@xml:lang",
                            namespaces={"xml": "http://www.w3.org/XML/1998/namespace"})
    candidates += tree.xpath("//meta[translate(@http-equiv,'CONTENTLANGUAGE','contentlanguage')"
                             "='content-language']/@content | //meta[@property='og:locale']/@content")
    for value in candidates:
        value = value.strip().replace("_", "-")
        if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", value):
            return value.split("-")[0].lower()
    return ""




def token_f1(extracted: str, reference: str) -> float:
    """Bag-of-words F1 of an extracted text against a human-annotated body (how extraction is
    measured in benchmarks/ and the conformance tests)."""
    ours, theirs = Counter(re.findall(r"\w+", extracted.lower())), Counter(re.findall(r"\w+", reference.lower()))
    overlap = sum((ours & theirs).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(ours.values()), overlap / sum(theirs.values())
    return 2 * precision * recall / (precision + recall)
