""""Is this already here?": a URL, DOI, PMID, PMC id, arXiv id or document id -> the corpus document.

`lookup(conn, text)` works on a plain sqlite3 connection (Datasette's `execute_fn` hands one over)
and never writes. It reads what the text names (a doi.org, PubMed, PMC or arXiv URL names its
identifier; any URL is also looked up by its canonical spelling, with and without `www.`, over
http and https, and among the addresses sources were fetched from), finds the document holding
it, and follows merge redirects to the document's present id.

Answer (a dict, JSON-ready): {"query", "understood_as": ["doi:10...", ...], "found": bool,
"matched": "scheme:value" | None, "redirected_from": old id | None, "document": {id, kind,
title, venue, published, url, identifiers: {scheme: [values]}} | None, "message": str}.
Raises LookupInputError for text that names nothing (empty, or not an identifier or URL).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from .formats.citations import identify
from .identifiers import canonical_url, identifiers_from_url, normalise_doi, normalise_pmcid
from .db import query_rows

DOCUMENT_ID = re.compile(r"d[0-9a-f]{12}")


class LookupInputError(ValueError):
    """The text is not a URL, DOI, PMID, PMC id, arXiv id or document id."""


def understand(text: str) -> list[tuple[str, str]]:
    """The (scheme, value) pairs to look for, most specific first."""
    text = (text or "").strip()
    if not text:
        raise LookupInputError("give a URL, DOI, PMID, PMC id or arXiv id")
    if DOCUMENT_ID.fullmatch(text):
        return [("id", text)]
    named = identify(text)
    if named is None:
        doi = normalise_doi(text) if "10." in text else None
        if not doi:
            raise LookupInputError(f"{text[:80]!r} is not a URL, DOI, PMID, PMC id or arXiv id")
        named = {"doi": doi}
    if "url" in named:
        derived = identifiers_from_url(named["url"])
        pairs = [(s, derived[s]) for s in ("doi", "pmid", "pmcid", "arxiv") if derived.get(s)]
        return pairs + [("url", u) for u in _url_variants(named["url"])]
    scheme, value = next(iter(named.items()))
    value = {"doi": normalise_doi, "pmcid": normalise_pmcid}.get(scheme, lambda v: re.sub(r"^(?i:arxiv:|pmid:)\s*", "", v))(value)
    return [(scheme, value)]


def _url_variants(url: str) -> list[str]:
    canonical = canonical_url(url)
    if not canonical:
        return []
    parts = urlsplit(canonical)
    host = parts.netloc
    other_host = host[4:] if host.startswith("www.") else f"www.{host}"
    variants = [canonical]
    for scheme in ("https", "http"):
        for netloc in (host, other_host):
            variant = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
            if variant not in variants:
                variants.append(variant)
    return variants


def _present_id(conn, document_id: str) -> tuple[str, str | None]:
    """(present id, the id asked about if it was merged away)."""
    seen, current = set(), document_id
    while current not in seen:
        seen.add(current)
        row = conn.execute("SELECT new_id FROM redirects WHERE old_id = ?", [current]).fetchone()
        if not row:
            break
        current = row[0]
    return current, (document_id if current != document_id else None)


def lookup(conn, text: str) -> dict:
    """Find the document `text` names; see the module docstring for the answer's shape."""
    pairs = understand(text)
    answer = {"query": text, "understood_as": [f"{s}:{v}" for s, v in pairs], "found": False, "matched": None,
              "redirected_from": None, "document": None}
    for scheme, value in pairs:
        if scheme == "id":
            row = conn.execute("SELECT id FROM documents WHERE id = ? UNION ALL SELECT old_id FROM redirects "
                               "WHERE old_id = ?", [value, value]).fetchone()
        else:
            row = conn.execute("SELECT document_id FROM identifiers WHERE scheme = ? AND value = ?", [scheme, value]).fetchone()
            if row is None and scheme == "url":
                row = conn.execute("SELECT document_id FROM document_sources WHERE url = ? LIMIT 1", [value]).fetchone()
        if row:
            document_id, merged_from = _present_id(conn, row[0])
            answer.update(found=True, matched=f"{scheme}:{value}", redirected_from=merged_from,
                          document=_document(conn, document_id))
            break
    answer["message"] = (f"In the corpus as {answer['document']['id']}" + (
        f" (merged from {answer['redirected_from']})" if answer["redirected_from"] else "") + "."
        if answer["found"] else "Not in the corpus. Add it with `harvest import corpus.db FILE` "
        "(a one-line file holding the identifier will do), or wait for the next harvest.")
    return answer


def _document(conn, document_id: str) -> dict:
    rows = query_rows(conn, "SELECT id, kind, title, venue, published, url FROM documents WHERE id = ?", [document_id])
    document = rows[0] if rows else {"id": document_id}
    identifiers: dict[str, list[str]] = {}
    for scheme, value in conn.execute("SELECT scheme, value FROM identifiers WHERE document_id = ? ORDER BY scheme, value",
                                      [document_id]):
        identifiers.setdefault(scheme, []).append(value)
    return {**document, "identifiers": identifiers}
