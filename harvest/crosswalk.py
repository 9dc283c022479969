"""Crosswalk: our curated incidents and the public incident databases' entries for the same events.

read_incident_database  a CSV export -> ExternalIncident rows, from
                        - the AIAAIC Repository's export (a title row, a header row and a
                          sub-header row; line breaks inside cells; taxonomy values spelled
                          inconsistently: "Tiktok"/"TikTok", trailing spaces, ";"-separated lists)
                        - the AI Incident Database's snapshot `incidents.csv` (incident_id, date,
                          title, description, "Alleged deployer/developer of AI system", reports,
                          ...), joined with the snapshot's `reports.csv` (report_number, url)
                          beside it by `read_incident_database_file`
propose                 curated incidents x external entries -> Proposal(score 0..1, reasons)
save_proposals          proposals into `incident_crosswalk` (a curator's accepted ids stay accepted)
record_accepted         the ids curators list under `crosswalk` in incidents.yaml, as accepted rows

Scores add up evidence a curator can check: a report both list (0.3, by canonical URL), the
product named (0.3), the company (0.1), the year (0.15, or 0.05 a year apart), the place (0.1), the harm (0.15) and word overlap between
the titles and summaries (up to 0.2). Proposals are only proposals: an id counts as the same
incident once a curator lists it under `crosswalk` in annotations/incidents.yaml.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .identifiers import canonical_url
from .limits import load_json
from .text import STOPWORDS, cosine as _cosine, word_counts

DATABASES = {"aiaaic": "AIAAIC Repository", "aiid": "AI Incident Database"}
PROPOSE_AT = 0.45
WEIGHTS = {"product": 0.25, "company": 0.05, "year": 0.1, "near_year": 0.03, "place": 0.1, "country": 0.03,
           "harm": 0.1, "age": 0.05, "name": 0.15, "text": 0.35, "report": 0.3}
AGE_WORDS = {  # incidents.yaml age groups -> how headlines name such a person
    "child": r"\bchild|\bkids?\b|\b([5-9]|1[0-2])-year-old",
    "adolescent": r"\bteen|\bboy\b|\bgirl\b|\bson\b|\bdaughter\b|\b1[3-7]-year-old|schoolboy|schoolgirl",
    "young adult": r"\bstudent|\b(1[89]|2\d)-year-old",
    "adult": r"\bman\b|\bwoman\b|\bhusband|\bwife\b|\bfather|\bmother|\bconsultant|\bworker|\b[3-9]\d-year-old",
    "older adult": r"\bretired|\bpensioner|\belderly|\b[6-9]\d-year-old",
}
HARM_WORDS = {  # entities.yaml condition -> words the databases' headlines use for it
    "suicidality": r"suicid|kills? (him|her|them)sel(f|ves)|take (his|her|their) own life|takes own life"
                   r"|hang (him|her|them)sel|ends? (his |her )?life|self-harm",
    "psychosis": r"psychos|psychotic|paranoi|delusion",
    "delusions": r"delusion|psychos|breakdown|paranoi",
    "eating disorders": r"eating|anorexi|bulimi|weight",
    "depression": r"depress",
    "anxiety": r"anxiety|anxious",
    "bipolar disorder": r"bipolar",
    "autism": r"autis",
}
PLACE_ALIASES = {"united states": "usa", "us": "usa", "united kingdom": "uk", "england": "uk"}


class CrosswalkError(ValueError):
    """The file is neither an AIAAIC Repository export nor an AI Incident Database snapshot CSV."""


@dataclass
class ExternalIncident:
    database: str  # aiaaic | aiid
    id: str
    title: str
    year: int | None = None
    products: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    harms: list[str] = field(default_factory=list)
    text: str = ""
    url: str | None = None
    report_numbers: list[str] = field(default_factory=list)  # the AIID's report numbers
    report_urls: set[str] = field(default_factory=set)  # canonical URLs of the reports it lists


@dataclass
class Proposal:
    incident_id: str
    external: ExternalIncident
    score: float
    reason: str


def _squash(value: str | None) -> str:
    return re.sub(r"\s+", " ", value or "").strip()


def _values(cell: str | None) -> list[str]:
    """A taxonomy cell's values: split on ';' (and line breaks), white space folded, empties dropped."""
    return [v for v in (_squash(p) for p in re.split(r"[;\n]", cell or "")) if v]


def _key(value: str) -> str:
    """A spelling-insensitive key for taxonomy values and names ("TikTok " == "Tiktok")."""
    return re.sub(r"[^a-z0-9]", "", value.lower())


def _year(value: str | None) -> int | None:
    match = re.search(r"\b(19|20)\d{2}\b", value or "")
    return int(match.group(0)) if match else None


def read_incident_database(data: bytes, name: str = "input") -> list[ExternalIncident]:
    """The entries of an AIAAIC Repository export or an AI Incident Database snapshot CSV.
    Raises CrosswalkError for anything else. Entries sharing an id (the AIAAIC export repeats a
    few) are folded into one, the first non-empty value of each field winning."""
    text = data.decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header_at = next((i for i, row in enumerate(rows[:10]) if row and _key(row[0]).startswith("aiaaicid")), None)
    if header_at is not None:
        return _fold(_aiaaic(rows, header_at))
    if rows and {"incident_id", "title"} <= {c.strip() for c in rows[0]}:
        return _fold(_aiid(rows))
    raise CrosswalkError(f"{name}: neither an AIAAIC Repository export (a header row starting 'AIAAIC ID#') "
                         "nor an AI Incident Database snapshot (columns incident_id, title, ...)")


def read_incident_database_file(path: Path) -> list[ExternalIncident]:
    """`read_incident_database` of a file; an AI Incident Database `incidents.csv` is joined
    with the `reports.csv` beside it (when there is one), so each entry knows its reports' URLs."""
    entries = read_incident_database(path.read_bytes(), path.name)
    reports = path.with_name("reports.csv")
    if entries and entries[0].database == "aiid" and reports.exists():
        urls = {}
        for record in csv.DictReader(io.StringIO(reports.read_text(encoding="utf-8-sig", errors="replace"), newline="")):
            number, url = (record.get("report_number") or "").strip(), canonical_url(record.get("url"))
            if number and url:
                urls[number] = url
        for entry in entries:
            entry.report_urls = {urls[n] for n in entry.report_numbers if n in urls}
    return entries


def _aiaaic(rows: list[list[str]], header_at: int) -> list[ExternalIncident]:
    header = [_squash(c) for c in rows[header_at]]
    sub = [_squash(c) for c in rows[header_at + 1]] if header_at + 1 < len(rows) else []
    has_sub = sub and not _key(sub[0]).startswith("aiaaic") and not any(re.match(r"AIAAIC\d", c) for c in sub[:1])
    names = []
    for i, title in enumerate(header):
        below = sub[i] if has_sub and i < len(sub) else ""
        names.append((below or title).lower())
    column = {n: i for i, n in reversed(list(enumerate(names)))}

    def cell(row, *keys):
        for key in keys:
            for n, i in column.items():
                if n.startswith(key) and i < len(row) and row[i].strip():
                    return row[i]
        return ""

    found = []
    for row in rows[header_at + (2 if has_sub else 1):]:
        if not row or not re.match(r"AIAAIC\d+$", row[0].strip()):
            continue
        links = cell(row, "summary/links", "summary")
        url = next(iter(re.findall(r"https?://\S+", links)), None)
        harms = _values(cell(row, "individual")) + _values(cell(row, "societal"))
        found.append(ExternalIncident(
            "aiaaic", row[0].strip(), _squash(cell(row, "headline")), _year(cell(row, "occurred")),
            products=_values(cell(row, "system name")) + _values(cell(row, "technology")),
            companies=_values(cell(row, "deployer")) + _values(cell(row, "developer")),
            places=_values(cell(row, "jurisdiction")), harms=harms,
            text=" ".join(_squash(cell(row, k)) for k in ("headline", "purpose", "system name")), url=url))
    return found


def _aiid(rows: list[list[str]]) -> list[ExternalIncident]:
    header = [c.strip() for c in rows[0]]
    found = []
    for row in rows[1:]:
        record = dict(zip(header, row))
        if not (record.get("incident_id") or "").strip():
            continue
        number = record["incident_id"].strip()
        report_numbers = [str(n).strip() for n in _list_cell(record.get("reports"))]
        parties = lambda key: [p.replace("-", " ") for p in _list_cell(record.get(key))]  # noqa: E731
        found.append(ExternalIncident(
            "aiid", number, _squash(record.get("title")), _year(record.get("date")),
            products=[], companies=parties("Alleged deployer of AI system") + parties("Alleged developer of AI system"),
            places=[], harms=[], text=_squash(f"{record.get('title', '')} {record.get('description', '')}"),
            url=f"https://incidentdatabase.ai/cite/{number}/", report_numbers=report_numbers))
    return found


def _list_cell(value: str | None) -> list[str]:
    """The AIID snapshot writes lists as JSON (["openai","character.ai"]) or comma-separated."""
    value = (value or "").strip()
    if value.startswith("["):
        try:
            return [str(v) for v in load_json(value)]
        except json.JSONDecodeError:
            value = value.strip("[]")
    return [v.strip().strip("'\"") for v in value.split(",") if v.strip()]


def _fold(entries: list[ExternalIncident]) -> list[ExternalIncident]:
    by_id: dict[str, ExternalIncident] = {}
    for entry in entries:
        kept = by_id.setdefault(entry.id, entry)
        if kept is not entry:
            for name in ("title", "year", "url", "text"):
                if not getattr(kept, name):
                    setattr(kept, name, getattr(entry, name))
            for name in ("products", "companies", "places", "harms"):
                getattr(kept, name).extend(v for v in getattr(entry, name) if v not in getattr(kept, name))
    return list(by_id.values())


# -- matching ---------------------------------------------------------------------------------

def _words(text: str) -> Counter:
    return word_counts(text, r"[a-z][a-z']+")  # "mental-health" is two words, as headlines vary


def _places(location: str | None) -> tuple[set[str], set[str]]:
    """(states, cities and regions; the country): "Florida, United States" -> ({florida}, {usa})."""
    parts = [_squash(p).lower() for p in re.split(r"[,;]", location or "") if _squash(p)]
    keys = [_key(PLACE_ALIASES.get(p, p)) for p in parts]
    return set(keys[:-1]), set(keys[-1:])


def _names(text: str) -> set[str]:
    """Capitalised words not opening a sentence or clause: the people, places and services a
    headline names ("Jacob Irwin", "Koko")."""
    found = set()
    for match in re.finditer(r"(?<![.:;!?\"'“‘]\s)(?<!^)\b([A-Z][a-z][\w-]+)", text):
        word = match.group(1)
        if word.lower() not in STOPWORDS and len(word) > 2:
            found.add(_key(word))
    return found


def score(incident: dict, entry: ExternalIncident) -> tuple[float, str]:
    """How well an external entry fits one of our incidents (a row of `incidents`, JSON lists
    decoded), and why."""
    total, reasons = 0.0, []
    shared_reports = set(incident.get("report_urls") or ()) & entry.report_urls
    if shared_reports:
        total += WEIGHTS["report"]
        reasons.append(f"report {sorted(shared_reports)[0]}" + (f" and {len(shared_reports) - 1} more" if len(shared_reports) > 1 else ""))
    haystack = _key(" ".join(entry.products + [entry.title]))
    products = [p for p in incident["products"] if _key(p) and _key(p) in haystack]
    if products:
        total += WEIGHTS["product"]
        reasons.append(f"product {', '.join(products)}")
    their_companies = _key(" ".join(entry.companies + [entry.text]))
    companies = [c for c in incident["companies"] if _key(c) and _key(c) in their_companies]
    if companies:
        total += WEIGHTS["company"]
        reasons.append(f"company {', '.join(companies)}")
    years = {y for y in (_year(incident.get("event_date") or ""), _year(incident.get("first_reported") or "")) if y}
    if years and entry.year:  # databases date an incident by the event or by its first report
        if entry.year in years:
            total += WEIGHTS["year"]
            reasons.append(f"year {entry.year}")
        elif min(abs(entry.year - y) for y in years) == 1:
            total += WEIGHTS["near_year"]
            reasons.append(f"year {entry.year} against {'/'.join(map(str, sorted(years)))}")
    regions, country = _places(incident.get("location"))
    theirs = {_key(PLACE_ALIASES.get(p.lower(), p)): p for p in entry.places}
    theirs.update({_key(w): w for w in re.findall(r"[A-Z][\w-]+", entry.title) if _key(w) in regions})
    if regions & theirs.keys():
        total += WEIGHTS["place"]
        reasons.append(f"place {', '.join(sorted(theirs[k] for k in regions & theirs.keys()))}")
    elif country & theirs.keys() or (not regions and country & {_key(t) for t in re.findall(r"\w+", entry.title)}):
        total += WEIGHTS["country"]
        reasons.append(f"country {incident['location'].split(',')[-1].strip()}")
    age = incident.get("age_group")
    if age in AGE_WORDS and re.search(AGE_WORDS[age], entry.title.lower()):
        total += WEIGHTS["age"]
        reasons.append(f"age group {age}")
    harm_text = " ".join([entry.title] + entry.harms).lower()
    harms = [h for h in incident["harms"] if h in HARM_WORDS and re.search(HARM_WORDS[h], harm_text)]
    if harms:
        total += WEIGHTS["harm"]
        reasons.append(f"harm {', '.join(harms)}")
    names = _names(f"{incident['title']}. {incident.get('summary') or ''}") & _names(entry.title)
    known = [_key(w) for w in incident["products"] + incident["companies"]]
    names = {n for n in names if not any(n in k for k in known)} - regions - country
    if names:
        total += WEIGHTS["name"]
        reasons.append(f"name {', '.join(sorted(names))}")
    similarity = _cosine(_words(f"{incident['title']} {incident.get('summary') or ''}"), _words(entry.text or entry.title))
    total += WEIGHTS["text"] * min(1.0, similarity * 2)
    reasons.append(f"text similarity {similarity:.2f}")
    return round(total, 3), "; ".join(reasons)


def propose(incidents: list[dict], entries: list[ExternalIncident], per_incident: int = 3,
            at_least: float = PROPOSE_AT) -> list[Proposal]:
    """The best-scoring external entries for each incident, best first."""
    proposals = []
    for incident in incidents:
        ranked = sorted(((score(incident, e), e) for e in entries), key=lambda x: -x[0][0])
        for (value, reason), entry in ranked[:per_incident]:
            if value >= at_least:
                proposals.append(Proposal(incident["id"], entry, value, reason))
    return proposals


# -- storage ----------------------------------------------------------------------------------

def ensure_table(db) -> None:
    db.execute("""CREATE TABLE IF NOT EXISTS incident_crosswalk (
        incident_id TEXT NOT NULL, database TEXT NOT NULL, external_id TEXT NOT NULL,
        title TEXT, url TEXT, status TEXT NOT NULL, score REAL, reason TEXT,
        PRIMARY KEY (incident_id, database, external_id))""")


def entry_url(database: str, external_id: str) -> str:
    """Where an entry lives when the export did not say: the AIID's citation page, or the
    AIAAIC Repository's search for the id."""
    if database == "aiid":
        return f"https://incidentdatabase.ai/cite/{external_id}/"
    return f"https://www.aiaaic.org/aiaaic-repository/ai-algorithmic-and-automation-incidents?q={external_id}"


def record_accepted(db, accepted: dict[str, dict[str, list[str]]]) -> int:
    """Curator-accepted ids ({incident id: {database: [ids]}}) as `accepted` rows; an id no
    longer listed drops back to `proposed` (or disappears, if never proposed)."""
    ensure_table(db)
    db.execute("UPDATE incident_crosswalk SET status = 'proposed' WHERE status = 'accepted'")
    db.execute("DELETE FROM incident_crosswalk WHERE status = 'proposed' AND score IS NULL")
    count = 0
    for incident_id, databases in accepted.items():
        for database, ids in databases.items():
            for external_id in ids:
                db.execute("INSERT INTO incident_crosswalk (incident_id, database, external_id, url, status) "
                           "VALUES (?, ?, ?, ?, 'accepted') ON CONFLICT (incident_id, database, external_id) "
                           "DO UPDATE SET status = 'accepted'",
                           [incident_id, database, str(external_id), entry_url(database, str(external_id))])
                count += 1
    return count


def save_proposals(db, proposals: list[Proposal]) -> None:
    """Store the proposals (scores, reasons, titles, URLs); an accepted row keeps its status."""
    ensure_table(db)
    for p in proposals:
        e = p.external
        db.execute("INSERT INTO incident_crosswalk VALUES (?, ?, ?, ?, ?, 'proposed', ?, ?) "
                   "ON CONFLICT (incident_id, database, external_id) DO UPDATE SET title = excluded.title, "
                   "url = excluded.url, score = excluded.score, reason = excluded.reason",
                   [p.incident_id, e.database, e.id, e.title, e.url or entry_url(e.database, e.id), p.score, p.reason])


def incident_rows(db) -> list[dict]:
    """Our incidents with their JSON lists decoded and their reports' URLs, for `propose`."""
    rows = []
    for row in db.query("SELECT * FROM incidents"):
        urls = {r[0] for r in db.execute("SELECT i.value FROM incident_documents l JOIN identifiers i ON "
                                         "i.document_id = l.document_id AND i.scheme = 'url' WHERE l.incident_id = ?",
                                         [row["id"]])}
        rows.append({**row, **{k: json.loads(row[k] or "[]") for k in ("products", "companies", "harms")},
                     "report_urls": urls})
    return rows
