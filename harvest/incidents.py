"""Incidents: real-world events, the reports that tell them, and the curators who decide.

load_curation     annotations/incidents.yaml -> the curated incidents, rejections and merges; a
                  malformed entry is an error that names it (nothing is applied)
match_reports     news not yet linked -> the best incident (a score and the reason), or, for
                  reports that name a product and a harm but fit no incident, a proposed new
                  incident grouping reports of the same product and harm close in time
update_incidents  both, in one transaction: curated facts and links first, then the machine's,
                  which never override a curator (a rejected report stays off its incident)

Incident ids are permanent: a merge keeps the old id as a redirect in `incident_redirects`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from . import config

from .crosswalk import record_accepted
from .db import transaction
from .identifiers import canonical_url
from .nlp.vocab import ANNOTATIONS
from .store import find_document
from .text import clean, cosine as _cosine, word_counts as _words

CURATION = ANNOTATIONS / "incidents.yaml"
STATUSES = ("alleged", "litigated", "confirmed", "disputed")
ROLES = ("report", "filing", "response", "follow-up", "study", "commentary")
AGE_GROUPS = ("child", "adolescent", "young adult", "adult", "older adult")
LINK_SCORE = 0.75        # machine links need a shared product and harm and more (place, words)
CANDIDATE_WINDOW_DAYS = 60
WEIGHTS = {"product": 0.35, "harm": 0.35, "place": 0.1, "text": 0.2}


class CurationError(ValueError):
    """incidents.yaml says something that cannot be applied; the message names the entry."""


@dataclass
class CuratedIncident:
    id: str
    title: str
    status: str
    facts: dict = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    merged_into: str | None = None
    crosswalk: dict = field(default_factory=dict)  # {"aiaaic": ["AIAAIC1781"], "aiid": ["826"]}


@dataclass
class IncidentSummary:
    curated: int = 0
    curated_links: int = 0
    machine_links: int = 0
    candidates: int = 0
    merged: int = 0
    crosswalk: int = 0
    missing_sources: list[str] = field(default_factory=list)


# -- curation -------------------------------------------------------------------------------

def load_curation(path: Path = CURATION) -> list[CuratedIncident]:
    try:
        spec = config.load(path, "incidents") or {}
    except config.ConfigError as error:
        raise CurationError(str(error)) from None
    incidents, seen = [], set()
    for position, entry in enumerate(spec.get("incidents") or [], start=1):
        where = f"{path.name} incident {position}"
        if not isinstance(entry, dict) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", str(entry.get("id", ""))):
            raise CurationError(f"{where}: needs an id of lower-case words and hyphens")
        where = f"{path.name} incident {entry['id']}"
        if entry["id"] in seen:
            raise CurationError(f"{where}: the id is used twice")
        seen.add(entry["id"])
        if entry.get("merged_into"):
            incidents.append(CuratedIncident(entry["id"], entry.get("title", ""), "merged",
                                             merged_into=str(entry["merged_into"])))
            continue
        if not entry.get("title"):
            raise CurationError(f"{where}: needs a title")
        if entry.get("status") not in STATUSES:
            raise CurationError(f"{where}: status must be one of {', '.join(STATUSES)}")
        if entry.get("age_group") and entry["age_group"] not in AGE_GROUPS:
            raise CurationError(f"{where}: age_group must be one of {', '.join(AGE_GROUPS)}")
        sources = []
        for source in entry.get("sources") or []:
            if not isinstance(source, dict) or not canonical_url(source.get("url")):
                raise CurationError(f"{where}: every source needs an http(s) url")
            if source.get("role", "report") not in ROLES:
                raise CurationError(f"{where}: source role must be one of {', '.join(ROLES)}")
            sources.append({"url": canonical_url(source["url"]), "role": source.get("role", "report")})
        facts = {key: entry.get(key) for key in ("summary", "location", "age_group", "outcome")}
        facts.update({key: str(entry[key]) if entry.get(key) else None for key in ("event_date", "first_reported")})
        facts.update({key: list(entry.get(key) or []) for key in ("products", "companies", "harms")})
        incidents.append(CuratedIncident(entry["id"], entry["title"].strip(), entry["status"], facts, sources,
                                         [canonical_url(u) for u in entry.get("rejected") or []],
                                         crosswalk=_crosswalk(entry.get("crosswalk"), where)))
    ids = {i.id for i in incidents if not i.merged_into}
    for incident in incidents:
        if incident.merged_into and incident.merged_into not in ids:
            raise CurationError(f"{path.name} incident {incident.id}: merged_into {incident.merged_into!r} "
                                f"is not a live incident in the file")
    return incidents


def _crosswalk(value, where: str) -> dict:
    if not value:
        return {}
    patterns = {"aiaaic": r"AIAAIC\d+", "aiid": r"\d+"}
    if not isinstance(value, dict) or set(value) - set(patterns):
        raise CurationError(f"{where}: crosswalk maps aiaaic and/or aiid to lists of their ids")
    ids = {db: [str(v) for v in (value[db] if isinstance(value[db], list) else [value[db]])] for db in value}
    for db, values in ids.items():
        bad = [v for v in values if not re.fullmatch(patterns[db], v)]
        if bad:
            raise CurationError(f"{where}: {bad[0]!r} is not a {db} id")
    return ids


def apply_curation(db, incidents: list[CuratedIncident], summary: IncidentSummary) -> set[tuple[str, str]]:
    """Curated incidents and links into rows; returns the (incident, document) pairs curators rejected."""
    rejected = set()
    for incident in incidents:
        if incident.merged_into:
            continue
        facts = incident.facts
        db["incidents"].upsert(clean({  # stored text is normalised like every document's (harvest.text)
            "id": incident.id, "title": incident.title, "summary": facts["summary"], "event_date": facts["event_date"],
            "first_reported": facts["first_reported"], "location": facts["location"],
            "products": json.dumps(facts["products"]), "companies": json.dumps(facts["companies"]),
            "harms": json.dumps(facts["harms"]), "age_group": facts["age_group"], "outcome": facts["outcome"],
            "status": incident.status, "method": "curated", "curator": CURATION.name}), pk="id")
        summary.curated += 1
        db.execute("DELETE FROM incident_documents WHERE incident_id = ? AND method = 'curated'", [incident.id])
        for source in incident.sources:
            document_id = find_document(db, "url", source["url"])
            if document_id is None:
                summary.missing_sources.append(f"{incident.id}: {source['url']} is not in the corpus yet")
                continue
            db["incident_documents"].upsert({"incident_id": incident.id, "document_id": document_id,
                                             "role": source["role"], "method": "curated", "score": None,
                                             "reason": "listed by a curator"}, pk=("incident_id", "document_id"))
            summary.curated_links += 1
        for url in incident.rejected:
            document_id = find_document(db, "url", url)
            if document_id:
                rejected.add((incident.id, document_id))
    for incident in incidents:
        if incident.merged_into:
            _merge(db, incident.id, incident.merged_into)
            summary.merged += 1
    return rejected


def _merge(db, old_id: str, new_id: str) -> None:
    """Move the old incident's links to the new one and keep the old id as a redirect."""
    for document_id, role, method, score, reason in db.execute(
            "SELECT document_id, role, method, score, reason FROM incident_documents WHERE incident_id = ?", [old_id]).fetchall():
        db.execute("INSERT OR IGNORE INTO incident_documents VALUES (?, ?, ?, ?, ?, ?)",
                   [new_id, document_id, role, method, score, reason])
    db.execute("DELETE FROM incident_documents WHERE incident_id = ?", [old_id])
    db.execute("DELETE FROM incidents WHERE id = ?", [old_id])
    db.execute("UPDATE incident_redirects SET new_id = ? WHERE new_id = ?", [new_id, old_id])
    db["incident_redirects"].upsert({"old_id": old_id, "new_id": new_id, "reason": "merged by a curator"}, pk="old_id")


def current_incident(db, incident_id: str) -> str:
    """Follow redirects: an id once given out keeps working."""
    row = db.execute("SELECT new_id FROM incident_redirects WHERE old_id = ?", [incident_id]).fetchone()
    return row[0] if row else incident_id


# -- matching -------------------------------------------------------------------------------

@dataclass
class Features:
    products: set[str]
    harms: set[str]
    places: set[str]
    words: Counter
    when: str | None = None


def _entity_names(db, document_id: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"product": set(), "condition": set(), "jurisdiction": set()}
    for kind, name in db.execute("SELECT e.type, e.name FROM document_entities d JOIN entities e ON e.id = d.entity_id "
                                 "WHERE d.document_id = ?", [document_id]):
        if kind in found:
            found[kind].add(name)
    return found


def _document_features(db, row) -> Features:
    names = _entity_names(db, row["id"])
    text = " ".join(filter(None, [row["title"], row["title"], row["abstract"], (row["body"] or "")[:4000]]))
    return Features(names["product"], names["condition"], names["jurisdiction"], _words(text), row["published"])


def _incident_features(db, incident, jurisdictions: list[str]) -> Features:
    places = {j for j in jurisdictions if j.lower() in (incident["location"] or "").lower()}
    texts = [incident["title"], incident["summary"] or ""]
    for (title,) in db.execute("SELECT d.title FROM incident_documents l JOIN documents d ON d.id = l.document_id "
                               "WHERE l.incident_id = ?", [incident["id"]]):
        texts.append(title or "")
    return Features(set(json.loads(incident["products"] or "[]")), set(json.loads(incident["harms"] or "[]")),
                    places, _words(" ".join(texts)), incident["event_date"])


def score(report: Features, incident: Features) -> tuple[float, str]:
    """How well a report fits an incident, and why, in words a curator can check."""
    reasons, total = [], 0.0
    for key, label in (("products", "product"), ("harms", "harm"), ("places", "place")):
        shared = getattr(report, key) & getattr(incident, key)
        if shared:
            total += WEIGHTS[label]
            reasons.append(f"{label} {', '.join(sorted(shared))}")
    similarity = _cosine(report.words, incident.words)
    total += WEIGHTS["text"] * min(1.0, similarity * 2)
    reasons.append(f"text similarity {similarity:.2f}")
    if report.when and incident.when and report.when[:4] < incident.when[:4]:
        total *= 0.5
        reasons.append("but the report predates the event")
    return round(total, 3), "; ".join(reasons)


def match_reports(db, rejected: set[tuple[str, str]], summary: IncidentSummary) -> None:
    """Machine links and proposed incidents, recomputed from scratch each run."""
    db.execute("DELETE FROM incident_documents WHERE method = 'machine'")
    db.execute("DELETE FROM incident_candidates")
    jurisdictions = [r[0] for r in db.execute("SELECT name FROM entities WHERE type = 'jurisdiction'")]
    incidents = {row["id"]: _incident_features(db, row, jurisdictions) for row in db.query("SELECT * FROM incidents")}
    linked = {r[0] for r in db.execute("SELECT document_id FROM incident_documents")}
    unmatched = []
    for row in db.query("SELECT id, title, abstract, body, published FROM documents WHERE kind = 'news' "
                        "AND coalesce(relevance, '') NOT IN ('off-topic', 'related') ORDER BY published, id"):
        if row["id"] in linked:
            continue
        report = _document_features(db, row)
        ranked = sorted(((score(report, features), incident_id) for incident_id, features in incidents.items()
                         if (incident_id, row["id"]) not in rejected), reverse=True)
        if ranked and ranked[0][0][0] >= LINK_SCORE:
            (value, reason), incident_id = ranked[0]
            db["incident_documents"].insert({"incident_id": incident_id, "document_id": row["id"], "role": "report",
                                             "method": "machine", "score": value, "reason": reason})
            summary.machine_links += 1
        elif report.products and report.harms:
            unmatched.append((row, report))
    for candidate in _candidates(unmatched):
        db["incident_candidates"].insert(candidate)
        summary.candidates += 1


def _candidates(unmatched: list) -> list[dict]:
    """Reports naming the same product and harm within CANDIDATE_WINDOW_DAYS of each other."""
    groups: list[dict] = []
    for row, report in unmatched:
        day = _day(report.when)
        for group in groups:
            if (group["products"] & report.products and group["harms"] & report.harms
                    and (day is None or group["last"] is None or (day - group["last"]).days <= CANDIDATE_WINDOW_DAYS)):
                break
        else:
            group = {"products": set(report.products), "harms": set(report.harms), "rows": [], "last": day}
            groups.append(group)
        group["rows"].append(row)
        group["last"] = day or group["last"]
    candidates = []
    for group in groups:
        rows, products, harms = group["rows"], sorted(group["products"]), sorted(group["harms"])
        dates = sorted(r["published"][:10] for r in rows if r["published"])
        span = f" between {dates[0]} and {dates[-1]}" if len(dates) > 1 else (f" on {dates[0]}" if dates else "")
        candidates.append({
            "id": "candidate-" + hashlib.sha256(rows[0]["id"].encode()).hexdigest()[:10],
            "title": rows[0]["title"], "products": json.dumps(products), "harms": json.dumps(harms),
            "first_reported": dates[0] if dates else None, "document_ids": json.dumps([r["id"] for r in rows]),
            "score": round(min(1.0, 0.6 + 0.1 * (len(rows) - 1)), 2),
            "reason": f"{len(rows)} report(s) name {', '.join(products)} and {', '.join(harms)}{span}, "
                      f"and fit no curated incident"})
    return candidates


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def update_incidents(db, curation_path: Path = CURATION) -> IncidentSummary:
    """Apply the curators' file, then match reports; all or nothing."""
    curated = load_curation(curation_path)
    summary = IncidentSummary()
    with transaction(db):
        rejected = apply_curation(db, curated, summary)
        summary.crosswalk = record_accepted(db, {i.id: i.crosswalk for i in curated if not i.merged_into})
        match_reports(db, rejected, summary)
    return summary
