"""`harvest resolve`: complete the records that only the seed list, an import or the starter
reading list brought (placeholder titles, no abstracts, no authors) from the real sources.

Steps, each one ordinary live run of a registered source through `harvest.engine.run_live`
(archived with roles, replayable by rebuild):

1. Europe PMC: a search for the records' DOIs, PMIDs and PMC ids (`DOI:"…" OR EXT_ID:… OR
   PMCID:…`, 40 to a query) brings abstracts, PMIDs and open-access full text.
2. PubMed: the PMIDs now known, fetched by `esearch` on `N[uid] OR …` and `efetch`.
3. Crossref: each DOI not yet answered for (title, authors, venue, licence, references).
4. Landing pages (`harvest.sources.landing`): a paper known only by its URL is fetched and read
   from its Highwire `citation_*` and Dublin Core meta tags, as reference managers capture a page.

At most `limit` documents are completed per call (the oldest first); a document counts as done
once PubMed, Crossref, Europe PMC or arXiv has answered for it, so running again goes on where
the last call stopped. `progress(step, run)` is called after each run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .engine import run_live
from .http import Client
from .runs import Run
from .sources import crossref, europepmc, pubmed

VERIFIED_SOURCES = ("pubmed", "crossref", "europepmc", "arxiv", "jmir")
QUERY_CHUNK = 40
PMID_CHUNK = 200


def pending(db, limit: int) -> list[str]:
    """Ids of documents no bibliographic source has answered for yet, oldest first."""
    marks = ",".join("?" * len(VERIFIED_SOURCES))
    return [r[0] for r in db.execute(
        f"SELECT d.id FROM documents d WHERE d.kind IN ('paper', 'preprint') AND NOT EXISTS ("
        f"SELECT 1 FROM document_sources s WHERE s.document_id = d.id AND s.source IN ({marks})) "
        "ORDER BY d.first_seen, d.id LIMIT ?", [*VERIFIED_SOURCES, limit])]


def _identifiers(db, ids: list[str], scheme: str) -> list[str]:
    if not ids:
        return []
    return [r[0] for r in db.execute(
        f"SELECT value FROM identifiers WHERE scheme = ? AND document_id IN ({','.join('?' * len(ids))}) "
        "ORDER BY value", [scheme, *ids])]


def europepmc_query(dois: list[str], pmids: list[str], pmcids: list[str]) -> str:
    """One Europe PMC query naming each identifier (its documented DOI, EXT_ID and PMCID fields)."""
    terms = [f'DOI:"{d}"' for d in dois] + [f"EXT_ID:{p} AND SRC:MED" for p in pmids] + [f"PMCID:{p}" for p in pmcids]
    return " OR ".join(f"({t})" if " AND " in t else t for t in terms)


def resolve(db, archive_dir: Path, client: Client, limit: int = 200, progress: Callable | None = None,
            europepmc_api: str = europepmc.API, eutils: str = pubmed.EUTILS, crossref_api: str = crossref.API,
            api_key: str | None = None) -> list[Run]:
    """Complete up to `limit` documents; the runs, in order."""
    runs: list[Run] = []

    def done(step: str, run: Run) -> None:
        runs.append(run)
        if progress:
            progress(step, run)

    targets = pending(db, limit)
    if not targets:
        return runs
    dois = [d for d in _identifiers(db, targets, "doi") if not d.startswith("10.48550/")]
    pmids, pmcids = _identifiers(db, targets, "pmid"), _identifiers(db, targets, "pmcid")
    named = [("doi", d) for d in dois] + [("pmid", p) for p in pmids] + [("pmcid", p) for p in pmcids]
    for start in range(0, len(named), QUERY_CHUNK):
        chunk = named[start:start + QUERY_CHUNK]
        query = europepmc_query(*([v for s, v in chunk if s == scheme] for scheme in ("doi", "pmid", "pmcid")))
        done("europepmc", run_live(db, archive_dir, client, "europepmc",
                                   {"query": query, "max_results": len(chunk), "base": europepmc_api}))
    known = _identifiers(db, targets, "pmid")
    for start in range(0, len(known), PMID_CHUNK):
        query = " OR ".join(f"{p}[uid]" for p in known[start:start + PMID_CHUNK])
        done("pubmed", run_live(db, archive_dir, client, "pubmed",
                                {"query": query, "since": pubmed.EARLIEST, "api_key": api_key, "base": eutils,
                                 "contact": client.contact}))
    asked = {r[0] for r in db.execute("SELECT source_id FROM document_sources WHERE source = 'crossref'")}
    to_ask = [d for d in _identifiers(db, targets, "doi") if d not in asked and not d.startswith(crossref.NOT_IN_CROSSREF)]
    if to_ask:
        done("crossref", run_live(db, archive_dir, client, "crossref",
                                  {"dois": to_ask, "base": crossref_api, "contact": client.contact}))
    url_only = [r[0] for r in db.execute(
        f"SELECT i.value FROM identifiers i WHERE i.scheme = 'url' AND i.document_id IN ({','.join('?' * len(targets))}) "
        "AND NOT EXISTS (SELECT 1 FROM identifiers o WHERE o.document_id = i.document_id AND o.scheme IN "
        "('doi', 'pmid', 'pmcid', 'arxiv')) ORDER BY i.value", targets)]
    if url_only:
        done("landing", run_live(db, archive_dir, client, "landing", {"urls": url_only}))
    return runs


def corpus_origin(conn) -> dict:
    """Where the corpus came from, for the home page (a plain sqlite3 connection; read only):
    {"offline": True when no source has been reached over the network, "documents": n,
    "incidents": n, "networked": {source: last finished run}}."""
    networked = {}
    for source, parameters, finished in conn.execute(
            "SELECT source, parameters, max(finished) FROM harvest_runs WHERE status IN ('ok', 'partial') "
            "AND source NOT IN ('seed', 'import') GROUP BY source, parameters"):
        if '"load"' not in (parameters or ""):
            networked[source] = max(networked.get(source) or "", finished or "")
    count = lambda table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: E731
    return {"offline": not networked, "documents": count("documents"), "incidents": count("incidents"),
            "networked": networked}
