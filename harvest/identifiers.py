"""Identifier normalisation and derivation: one spelling per DOI, PMID, PMCID, arXiv id and URL."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

DOI_PATTERN = re.compile(r"10\.\d{3,9}/\S+")
# Where one DOI ends and the next begins in a field listing several: white space, or a comma,
# semicolon or bar followed by (a doi: or doi.org form of) another DOI prefix.
DOI_SEPARATOR = re.compile(r"\s+|[,;|]\s*(?=(?:doi:\s*|https?://(?:dx\.)?doi\.org/)?10\.\d{3,9}/)", re.I)
ARXIV_PATTERN = re.compile(r"(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?$")
# Parameters that say who shared or clicked a link, never which page it is.
TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|igshid|mc_cid|mc_eid|"
                             r"_hs(enc|mi)|mkt_tok|ocid|cmpid|smid|smtyp|ncid|sr_share|at_(medium|campaign)|"
                             r"taid|guccounter|guce_referrer(_sig)?|__twitter_impression|s_cid)$", re.I)
JMIR_HOST = re.compile(r"(^|\.)jmir\.org$")


def dois_in(value: str | None) -> list[str]:
    """Every DOI a field holds, each lower-cased and bare, in order: a field that lists several
    ('10.1/a; 10.2/b', '10.1/a,10.2/b', 'doi:10.1/a doi:10.2/b') is split where the next DOI
    begins, so no identifier is two DOIs glued together. Separators inside one DOI (SICI DOIs
    hold ';' and ',') stay, since no DOI prefix follows them."""
    if not value:
        return []
    found = []
    for piece in DOI_SEPARATOR.split(unquote(value.strip())):
        match = DOI_PATTERN.search(piece)
        if match:
            doi = match.group(0).rstrip(".,;").lower()
            if doi not in found:
                found.append(doi)
    return found


def normalise_doi(value: str | None) -> str | None:
    """Lower-cased bare DOI ('10.1000/xyz'), from a DOI, a doi: form or a doi.org URL. A field
    that holds several DOIs gives its first (`dois_in` gives them all), never the glued string."""
    found = dois_in(value)
    return found[0] if found else None


def normalise_pmcid(value: str | None) -> str | None:
    if not value:
        return None
    match = re.search(r"(?:PMC)?(\d+)", value.strip(), re.I)
    return f"PMC{match.group(1)}" if match else None


def normalise_pmid(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value if value.isdigit() and value != "0" else None


def canonical_url(url: str | None) -> str | None:
    """A stable spelling of a URL: lower-case scheme and host, no fragment, default port,
    tracking parameters or trailing slash."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/") or "/"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not TRACKING_PARAMS.match(k)])
    return urlunsplit(("https" if parts.scheme == "https" else "http", host, path, query, ""))


# Where each identifier resolves, and which characters stay as they are in its part of the path.
# DOI: the DOI Handbook (2.5.2.4) makes % " # ? and space mandatory to encode and < > { } ^ [ ] ` | \ +
# advisable; "/" separates prefix and suffix and stays. An old-style arXiv id keeps its "/".
RESOLVERS = {
    "doi": ("https://doi.org/{}", "/:;()!$&'*,=@"),
    "pmid": ("https://pubmed.ncbi.nlm.nih.gov/{}/", ""),
    "pmcid": ("https://pmc.ncbi.nlm.nih.gov/articles/{}/", ""),
    "arxiv": ("https://arxiv.org/abs/{}", "/"),
}
# Characters a URL may hold as they are (RFC 3986 reserved and unreserved, and "%" of an escape).
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def identifier_url(scheme: str, value: str | None) -> str | None:
    """The resolver's address for an identifier, the identifier percent-encoded (UTF-8) the way that
    resolver reads it: `identifier_url("doi", "10.1000/a<b>#1")` -> `https://doi.org/10.1000/a%3Cb%3E%231`.
    A `url` is returned as an http(s) address with the characters a URL cannot hold encoded (spaces,
    quotes, < > and non-ASCII letters) and every escape already in it kept; any other scheme, or a
    url that is not http(s), gives None. Every link, citation, meta tag and `documents.url` built
    from an identifier comes from here."""
    if not value:
        return None
    value = str(value).strip()
    if scheme == "url":
        if not value.lower().startswith(("http://", "https://")):
            return None
        return quote(value, safe=URL_SAFE)
    if scheme not in RESOLVERS:
        return None
    template, safe = RESOLVERS[scheme]
    return template.format(quote(value, safe=safe))


def identifiers_from_url(url: str) -> dict[str, str]:
    """Identifiers that a URL states outright: DOIs in doi.org, ACM, Springer, Nature and JMIR
    links, PMC ids, PubMed ids and arXiv ids. Nothing is guessed beyond the URL's own text."""
    found: dict[str, str] = {}
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path)
    if host in ("doi.org", "dx.doi.org") or host.endswith("dl.acm.org") or host == "link.springer.com":
        doi = normalise_doi(path)
        if doi:
            found["doi"] = doi
    elif host in ("www.nature.com", "nature.com"):
        match = re.match(r"/articles/(s\d{5}-\d{3}-\d{5}-\w)", path)
        if match:
            found["doi"] = f"10.1038/{match.group(1)}".lower()
    elif JMIR_HOST.search(host):
        match = re.match(r"/\d{4}/\d+/e(\d+)/?$", path)
        if match:
            found["doi"] = f"10.2196/{match.group(1)}"
    if host in ("pmc.ncbi.nlm.nih.gov", "www.ncbi.nlm.nih.gov") and "PMC" in path:
        pmcid = normalise_pmcid(re.search(r"PMC\d+", path).group(0))
        found["pmcid"] = pmcid
    if host == "pubmed.ncbi.nlm.nih.gov":
        pmid = normalise_pmid(path.strip("/").split("/")[0])
        if pmid:
            found["pmid"] = pmid
    if host in ("arxiv.org", "www.arxiv.org", "export.arxiv.org"):
        match = re.match(r"/(?:abs|pdf)/(.+?)(?:\.pdf)?$", path)
        if match and ARXIV_PATTERN.match(match.group(1)):
            found["arxiv"] = ARXIV_PATTERN.match(match.group(1)).group(1)
    canonical = canonical_url(url)
    if canonical:
        found["url"] = canonical
    return found


def stable_id(prefix: str, *parts: str) -> str:
    """A short id derived from content, so a rebuild gives every row the same id again."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"{prefix}{digest[:12]}"
