"""The seed list: the article the project grew from, and everything it links to.

parse_seed  YAML bytes -> (article, references), identifiers derived from each URL
save_seed   -> documents with their unverified fields marked, and the article's citation links
"""

from __future__ import annotations

from pathlib import Path

from .. import config

from ..db import transaction
from ..identifiers import canonical_url, identifiers_from_url, normalise_doi, normalise_pmcid
from ..engine import load_files
from ..runs import Run
from ..store import DocumentRecord, Provenance, save_citation, save_document
from . import LoadFormat, Plan, Source

SOURCE = "seed"
CONTENT_TYPE = "application/yaml"
DEFAULT_SEED = Path(__file__).resolve().parents[2] / "annotations" / "seed.yaml"
NORMALISERS = {"doi": normalise_doi, "pmcid": normalise_pmcid, "arxiv": str.strip, "pmid": str.strip}


class SeedError(ValueError):
    """The seed file is not what the loader expects; the message says which entry."""


def parse_seed(data: bytes, name: str = "seed.yaml") -> tuple[DocumentRecord, list[tuple[DocumentRecord, str]]]:
    """The article and its references as store records; each reference comes with its
    citation context (link texts and sections)."""
    try:
        spec = config.loads(data, name, "seed")
    except config.ConfigError as exc:
        raise SeedError(str(exc)) from None
    if not isinstance(spec, dict) or "article" not in spec or "references" not in spec:
        raise SeedError(f"{name}: expected the keys 'article' and 'references'")
    article = spec["article"]
    if not isinstance(article, dict) or not article.get("key") or not article.get("title"):
        raise SeedError(f"{name}: the article needs a key and a title")
    published = str(article.get("published") or "") or None
    article_record = DocumentRecord(
        fields={"kind": article.get("kind", "blog"), "title": article["title"], "published": published,
                "year": int(published[:4]) if published else None, "url": article.get("url"),
                "keywords": article.get("tags")},
        authors=[{"name": article["author"]}] if article.get("author") else [],
        identifiers=[("seed", article["key"])] + (
            [("url", canonical_url(article["url"]))] if article.get("url") else []))
    references = []
    for position, entry in enumerate(spec["references"], start=1):
        references.append(_reference(entry, f"{name} reference {position}"))
    return article_record, references


def _reference(entry: dict, where: str) -> tuple[DocumentRecord, str]:
    if not isinstance(entry, dict) or not entry.get("url"):
        raise SeedError(f"{where}: every reference needs a url")
    derived = identifiers_from_url(entry["url"])
    for scheme, value in (entry.get("identifiers") or {}).items():
        normalised = NORMALISERS.get(scheme, str.strip)(str(value))
        if scheme in derived and derived[scheme] != normalised:
            raise SeedError(f"{where}: {scheme} {normalised} disagrees with the URL ({derived[scheme]})")
        derived[scheme] = normalised
    order = ("doi", "pmid", "pmcid", "arxiv", "url")
    identifiers = [(s, derived[s]) for s in order if s in derived]
    link_texts = entry.get("link_text") or []
    title = entry.get("title") or (link_texts[0] if link_texts else None)
    published = str(entry["published"]) if entry.get("published") else None
    unverified = ["title"] if title else []
    if published:
        unverified.append("published")
    record = DocumentRecord(
        fields={"kind": entry.get("kind", "paper"), "title": title, "url": entry["url"],
                "venue": entry.get("outlet"), "published": published,
                "year": int(published[:4]) if published else None},
        identifiers=identifiers, unverified=unverified)
    context = "; ".join(part for part in (
        ("linked as " + ", ".join(f"“{t}”" for t in link_texts)) if link_texts else "",
        ("cited as " + entry["cited_as"]) if entry.get("cited_as") else "",
        ("in " + ", ".join(entry.get("sections") or [])) if entry.get("sections") else "",
    ) if part)
    return record, context


def save_seed(db, article: DocumentRecord, references, provenance: Provenance, run: Run) -> None:
    """Save the article, its references and a citation link to each, in one transaction."""
    with transaction(db):
        article_id, action = save_document(db, article, _provenance(provenance, article))
        run.count(action)
        for record, context in references:
            document_id, action = save_document(db, record, _provenance(provenance, record))
            run.count(action)
            save_citation(db, article_id, document_id, method="seed list", context=context)


def _provenance(provenance: Provenance, record: DocumentRecord) -> Provenance:
    scheme, value = record.identifiers[0]
    return Provenance(**{**provenance.__dict__, "source_id": f"{scheme}:{value}",
                         "url": record.fields.get("url")})


def ingest(db, archived, run: Run) -> list:
    """Turn the archived seed file into rows (shared by `harvest seed` and rebuild); the seed
    list asks for nothing more."""
    if archived.type != "resource":
        return []
    try:
        article, references = parse_seed(archived.body, archived.uri)
    except SeedError as error:
        run.fail(str(error))
        return []
    run.count("found", 1 + len(references))
    provenance = Provenance(source=SOURCE, source_id="", fetched_at=archived.date,
                            archive_file=archived.file, archive_record_id=archived.record_id)
    save_seed(db, article, references, provenance, run)
    return []


def start(db, options: dict) -> Plan:
    """The seed list is never fetched: it is loaded (`load_seed`, `harvest seed`)."""
    raise ValueError("the seed list is loaded from a file, not harvested: use `harvest seed`")


def legacy_role(archived, run: Run) -> tuple[str, dict]:
    return "seed", {}


SOURCE_SPEC = Source(name=SOURCE, start=start, ingest=ingest, legacy_role=legacy_role,
                     formats={"seed": LoadFormat("seed", CONTENT_TYPE)})


def load_seed(db, archive_dir: Path, path: Path = DEFAULT_SEED) -> Run:
    """`harvest seed`: archive the seed file, then save what it lists."""
    return load_files(db, archive_dir, SOURCE_SPEC, [path])
