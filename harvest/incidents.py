"""Incidents: real-world events, the reports that tell them, and the curators who decide.

load_curation     annotations/incidents.yaml -> the curated incidents, rejections and merges; a
                  malformed entry is an error that names it (nothing is applied)
match_reports     news not yet linked -> the best incident (a score and the reason), or, for
                  reports that name a product and a harm but fit no incident, a proposed new
                  incident grouping reports of the same product and harm close in time
update_incidents  both, in one transaction: curated facts and links first, then the machine's,
                  which never override a curator (a rejected report stays off its incident); only
                  what its inputs' change marker says changed is done again

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
from .runs import change_counters, files_digest, read_marker, save_marker
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
    unchanged: bool = False  # nothing it reads changed since the last run: returned at once, nothing written
    rescored: int | None = None  # reports scored this run (None: every report)


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


INCIDENT_COLUMNS = ("id", "title", "summary", "event_date", "first_reported", "location", "products", "companies",
                    "harms", "age_group", "outcome", "status", "method", "curator")


def apply_curation(db, incidents: list[CuratedIncident], summary: IncidentSummary) -> set[tuple[str, str]]:
    """Curated incidents and links into rows; returns the (incident, document) pairs curators rejected.
    Rows are compared first: only what differs from the file is written."""
    rejected = set()
    for incident in incidents:
        if incident.merged_into:
            continue
        facts = incident.facts
        row = clean({  # stored text is normalised like every document's (harvest.text)
            "id": incident.id, "title": incident.title, "summary": facts["summary"], "event_date": facts["event_date"],
            "first_reported": facts["first_reported"], "location": facts["location"],
            "products": json.dumps(facts["products"]), "companies": json.dumps(facts["companies"]),
            "harms": json.dumps(facts["harms"]), "age_group": facts["age_group"], "outcome": facts["outcome"],
            "status": incident.status, "method": "curated", "curator": CURATION.name})
        have = db.execute(f"SELECT {', '.join(INCIDENT_COLUMNS)} FROM incidents WHERE id = ?", [incident.id]).fetchone()
        if have != tuple(row.get(c) for c in INCIDENT_COLUMNS):
            db["incidents"].upsert(row, pk="id")
        summary.curated += 1
        wanted = {}
        for source in incident.sources:
            document_id = find_document(db, "url", source["url"])
            if document_id is None:
                summary.missing_sources.append(f"{incident.id}: {source['url']} is not in the corpus yet")
                continue
            wanted[document_id] = (source["role"], "curated", None, "listed by a curator")
        have_links = {r[0]: tuple(r[1:]) for r in db.execute(
            "SELECT document_id, role, method, score, reason FROM incident_documents WHERE incident_id = ? "
            "AND method = 'curated'", [incident.id])}
        for document_id in have_links.keys() - wanted.keys():
            db.execute("DELETE FROM incident_documents WHERE incident_id = ? AND document_id = ?",
                       [incident.id, document_id])
        for document_id, link in wanted.items():
            if have_links.get(document_id) != link:
                db["incident_documents"].upsert({"incident_id": incident.id, "document_id": document_id,
                                                 "role": link[0], "method": "curated", "score": None,
                                                 "reason": link[3]}, pk=("incident_id", "document_id"))
        summary.curated_links += len(wanted)
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
    """Move the old incident's links to the new one and keep the old id as a redirect (writes
    nothing when that is already so)."""
    for document_id, role, method, score, reason in db.execute(
            "SELECT document_id, role, method, score, reason FROM incident_documents WHERE incident_id = ?", [old_id]).fetchall():
        db.execute("INSERT OR IGNORE INTO incident_documents VALUES (?, ?, ?, ?, ?, ?)",
                   [new_id, document_id, role, method, score, reason])
        db.execute("DELETE FROM incident_documents WHERE incident_id = ? AND document_id = ?", [old_id, document_id])
    db.execute("DELETE FROM incidents WHERE id = ?", [old_id])
    db.execute("UPDATE incident_redirects SET new_id = ? WHERE new_id = ?", [new_id, old_id])
    if db.execute("SELECT new_id, reason FROM incident_redirects WHERE old_id = ?", [old_id]).fetchone() != \
            (new_id, "merged by a curator"):
        db["incident_redirects"].upsert({"old_id": old_id, "new_id": new_id, "reason": "merged by a curator"},
                                        pk="old_id")


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
    """The incident's facts and the titles of the reports a curator linked (never the machine's:
    a report's score must not depend on which other reports were matched)."""
    places = {j for j in jurisdictions if j.lower() in (incident["location"] or "").lower()}
    texts = [incident["title"], incident["summary"] or ""]
    for (title,) in db.execute("SELECT d.title FROM incident_documents l JOIN documents d ON d.id = l.document_id "
                               "WHERE l.incident_id = ? AND l.method != 'machine' ORDER BY d.id", [incident["id"]]):
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


NEWS_REPORTS = ("SELECT id, title, abstract, body, published FROM documents WHERE kind = 'news' "
                "AND coalesce(relevance, '') NOT IN ('off-topic', 'related')")


def match_reports(db, rejected: set[tuple[str, str]], summary: IncidentSummary,
                  only: set[str] | None = None) -> None:
    """Machine links: each news report not linked by a curator, to the incident it fits best, if
    it fits well enough. Every report is scored, or with `only` those documents alone (the others'
    links stand: a report's best incident depends on that report and the curated incidents only).
    Rows are compared first and only differences written. Then the proposed incidents, from the
    reports that remain unlinked (see `_candidates`)."""
    jurisdictions = [r[0] for r in db.execute("SELECT name FROM entities WHERE type = 'jurisdiction'")]
    incidents = {row["id"]: _incident_features(db, row, jurisdictions) for row in db.query("SELECT * FROM incidents")}
    curated = {r[0] for r in db.execute("SELECT document_id FROM incident_documents WHERE method != 'machine'")}
    if only is None:
        reports = db.query(f"{NEWS_REPORTS} ORDER BY published, id")
        have = {r[0]: tuple(r[1:]) for r in db.execute(
            "SELECT document_id, incident_id, role, score, reason FROM incident_documents WHERE method = 'machine'")}
    else:
        ids = sorted(only)
        reports, have = [], {}
        for start in range(0, len(ids), 500):
            part, marks = ids[start:start + 500], ",".join("?" * len(ids[start:start + 500]))
            reports += db.query(f"{NEWS_REPORTS} AND id IN ({marks})", part)
            have.update({r[0]: tuple(r[1:]) for r in db.execute(
                f"SELECT document_id, incident_id, role, score, reason FROM incident_documents WHERE method = 'machine' "
                f"AND document_id IN ({marks})", part)})
    wanted = {}
    scored = 0
    for row in reports:
        if row["id"] in curated:
            continue
        scored += 1
        report = _document_features(db, row)
        ranked = sorted(((score(report, features), incident_id) for incident_id, features in incidents.items()
                         if (incident_id, row["id"]) not in rejected), reverse=True)
        if ranked and ranked[0][0][0] >= LINK_SCORE:
            (value, reason), incident_id = ranked[0]
            wanted[row["id"]] = (incident_id, "report", value, reason)
    for document_id, link in have.items():
        if wanted.get(document_id) != link:
            db.execute("DELETE FROM incident_documents WHERE document_id = ? AND method = 'machine'", [document_id])
    db.conn.executemany("INSERT INTO incident_documents (incident_id, document_id, role, method, score, reason) "
                        "VALUES (?, ?, ?, 'machine', ?, ?)",
                        [(link[0], document_id, *link[1:]) for document_id, link in wanted.items()
                         if have.get(document_id) != link])
    summary.rescored = None if only is None else scored
    _write_candidates(db, _candidates(_unmatched(db)))


def _unmatched(db) -> list:
    """News reports linked to no incident that name a product and a harm, oldest first, with the
    features `_candidates` groups them by (read from the tags alone: no text is scored)."""
    reports: dict[str, tuple] = {}
    for doc_id, title, published, kind, name in db.execute(
            "SELECT d.id, d.title, d.published, e.type, e.name FROM documents d "
            "JOIN document_entities x ON x.document_id = d.id JOIN entities e ON e.id = x.entity_id "
            "WHERE d.kind = 'news' AND coalesce(d.relevance, '') NOT IN ('off-topic', 'related') "
            "AND e.type IN ('product', 'condition') "
            "AND d.id NOT IN (SELECT document_id FROM incident_documents) ORDER BY d.published, d.id"):
        if doc_id not in reports:
            reports[doc_id] = ({"id": doc_id, "title": title, "published": published},
                               Features(set(), set(), set(), Counter(), published))
        features = reports[doc_id][1]
        (features.products if kind == "product" else features.harms).add(name)
    return [(row, features) for row, features in reports.values() if features.products and features.harms]


def _write_candidates(db, candidates: list[dict]) -> None:
    wanted = {c["id"]: c for c in candidates}
    columns = ("id", "title", "products", "harms", "first_reported", "document_ids", "score", "reason")
    have = {r[0]: dict(zip(columns, r)) for r in db.execute(f"SELECT {', '.join(columns)} FROM incident_candidates")}
    for candidate_id in have.keys() - wanted.keys():
        db.execute("DELETE FROM incident_candidates WHERE id = ?", [candidate_id])
    for candidate_id, candidate in wanted.items():
        if have.get(candidate_id) != {c: candidate[c] for c in columns}:
            db["incident_candidates"].insert(candidate, replace=True)


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


CODE = Path(__file__)


def update_incidents(db, curation_path: Path = CURATION, everything: bool = False) -> IncidentSummary:
    """Apply the curators' file, then match reports; all or nothing.

    Change marker (`derive_markers` row `incidents`): the change counters of documents, links,
    vocabulary and incidents, the curation file's and this module's digests. All the same: returns
    at once (`unchanged`), having read the file and the counters, writing nothing. Otherwise the
    curation is applied (only differences written); when the curated incidents, their links or the
    vocabulary changed (or `everything`), every report is scored again, else only the reports
    changed since the marker (`derive_changes`)."""
    curated = load_curation(curation_path)
    curation = files_digest(curation_path, CODE)
    marker = read_marker(db, "incidents")
    if not everything and marker == _inputs(change_counters(db), curation):
        return _unchanged_summary(db, curated)
    summary = IncidentSummary()
    with transaction(db):
        counters = change_counters(db)
        before = _curated_state(db)
        rejected = apply_curation(db, curated, summary)
        if everything or not marker or marker.get("curation") != curation:
            summary.crosswalk = record_accepted(db, {i.id: i.crosswalk for i in curated if not i.merged_into})
        else:
            summary.crosswalk = _accepted_count(db)
        full = (everything or not marker or marker.get("curation") != curation
                or marker.get("vocabulary") != counters["vocabulary"] or _curated_state(db) != before)
        changed = None
        if not full:
            changed = {r[0] for r in db.execute("SELECT document_id FROM derive_changes WHERE seq > ?",
                                                [marker["documents"]])}
            linked = {r[0] for r in db.execute("SELECT document_id FROM incident_documents WHERE method = 'curated'")}
            full = bool(changed & linked)  # a curated report's words are its incident's words
        match_reports(db, rejected, summary, None if full else changed)
        _count_links(db, summary)
        save_marker(db, "incidents", _inputs(change_counters(db), curation))
    return summary


def _inputs(counters: dict, curation: str) -> dict:
    return {**{k: counters[k] for k in ("documents", "links", "vocabulary", "incidents")}, "curation": curation}


def _curated_state(db) -> tuple:
    """What every report's score depends on besides the report: the incidents and their curated links."""
    return (db.execute("SELECT * FROM incidents ORDER BY id").fetchall(),
            db.execute("SELECT * FROM incident_documents WHERE method != 'machine' ORDER BY 1, 2").fetchall())


def _accepted_count(db) -> int:
    if not db["incident_crosswalk"].exists():  # made by the first crosswalk
        return 0
    return db.execute("SELECT count(*) FROM incident_crosswalk WHERE status = 'accepted'").fetchone()[0]


def _count_links(db, summary: IncidentSummary) -> None:
    summary.machine_links = db.execute("SELECT count(*) FROM incident_documents WHERE method = 'machine'").fetchone()[0]
    summary.candidates = db.execute("SELECT count(*) FROM incident_candidates").fetchone()[0]


def _unchanged_summary(db, curated: list[CuratedIncident]) -> IncidentSummary:
    """The totals as they stand, for a run that found nothing to do (read, never written)."""
    summary = IncidentSummary(unchanged=True, rescored=0, crosswalk=_accepted_count(db))
    for incident in curated:
        if incident.merged_into:
            summary.merged += 1
            continue
        summary.curated += 1
        for source in incident.sources:
            if find_document(db, "url", source["url"]) is None:
                summary.missing_sources.append(f"{incident.id}: {source['url']} is not in the corpus yet")
            else:
                summary.curated_links += 1
    _count_links(db, summary)
    return summary
