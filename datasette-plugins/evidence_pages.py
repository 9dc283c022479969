"""The pages that make each record explain itself: a document's page (identifiers as links, themes
with the sentences behind them, entities, incidents, neighbours, versions, a Cite panel and
Highwire meta tags), an incident's page (timeline and Cite panel), and a content note with
crisis-line information wherever suicide or self-harm is the subject.

Everything from the corpus reaches the templates as data, and Jinja escapes it; the only markup
passed through is citeproc's APA rendering, which escapes the record's text itself.
"""

import json
import re

from datasette import hookimpl
from markupsafe import Markup

from harvest.cite import apa, bibtex, csl_item, csl_json, load_citable, ris
from harvest.db import query_rows
from harvest.identifiers import identifier_url
from harvest.serve import public_url

SUICIDE = re.compile(r"\bsuicid\w*|\bself[- ]harm\w*|\bkill(?:ed|ing|s)? (?:him|her|them|my|your)sel(?:f|ves)\b"
                     r"|\btook (?:his|her|their) own li(?:fe|ves)\b", re.I)


def needs_content_note(*texts) -> bool:
    """True when any of the texts (strings, rows, lists of rows) speaks of suicide or self-harm."""
    def flatten(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from flatten(item)
        elif hasattr(value, "__iter__") and not isinstance(value, bytes):  # lists, rows, Datasette's Row
            for item in value:
                yield from flatten(item)
    return any(SUICIDE.search(text) for value in texts for text in flatten(value))


def web_address(value) -> str:
    """A harvested address as a link target only when it is http(s) (never javascript: or data:),
    with the characters a URL cannot hold percent-encoded (`identifier_url`)."""
    return (identifier_url("url", value) if isinstance(value, str) else None) or ""


@hookimpl
def prepare_jinja2_environment(env):
    env.filters["needs_content_note"] = needs_content_note
    env.filters["web_address"] = web_address


def _document_view(conn, document_id: str, permalink: str) -> dict:
    records = load_citable(conn, [document_id])
    if not records:
        return {}
    record = records[0]
    item = csl_item(record, permalink)
    identifiers = [{"scheme": scheme, "value": value, "href": identifier_url(scheme, value)}
                   for scheme, value in record["identifiers"].items()]
    themes = query_rows(conn, "SELECT t.theme, th.label, t.method, t.score, t.pipeline_version, t.curator, t.reason "
                         "FROM document_themes t LEFT JOIN themes th ON th.id = t.theme WHERE t.document_id = ? "
                         "ORDER BY t.method = 'curated' DESC, t.score DESC", [document_id])
    for theme in themes:
        theme["evidence"] = query_rows(conn, "SELECT field, sentence, matched, hedged FROM evidence WHERE document_id = ? "
                                        "AND theme = ? AND negated = 0 ORDER BY field = 'title' DESC, start LIMIT 3",
                                  [document_id, theme["theme"]])
    entities = query_rows(conn, "SELECT e.id, e.type, e.name, d.mentions FROM document_entities d JOIN entities e "
                           "ON e.id = d.entity_id WHERE d.document_id = ? ORDER BY e.type, d.mentions DESC", [document_id])
    incidents = query_rows(conn, "SELECT i.id, i.title, i.status, l.role, l.method FROM incident_documents l JOIN incidents i "
                            "ON i.id = l.incident_id WHERE l.document_id = ?", [document_id])
    related = {
        "Cites": query_rows(conn, "SELECT d.id, d.title, d.url, d.kind, d.year FROM citations c JOIN documents d ON d.id = c.cited_id "
                             "WHERE c.citing_id = ? ORDER BY d.year DESC", [document_id]),
        "Cited by": query_rows(conn, "SELECT d.id, d.title, d.url, d.kind, d.year FROM citations c JOIN documents d ON d.id = c.citing_id "
                                "WHERE c.cited_id = ? ORDER BY d.year DESC", [document_id]),
        "Same story": query_rows(conn, "SELECT id, title, url, kind, year, venue FROM documents WHERE story_id = ? AND id != ? "
                                  "AND story_id IS NOT NULL", [record.get("story_id"), document_id]),
        "Shares entities with": query_rows(conn, "SELECT n.ref_id AS id, n.label AS title, n.type AS kind, e.weight FROM graph_edges e "
                                            "JOIN graph_nodes n ON n.id = CASE WHEN e.source = ? THEN e.target ELSE e.source END "
                                            "WHERE (e.source = ? OR e.target = ?) AND e.type = 'shares_entities' "
                                            "ORDER BY e.weight DESC LIMIT 10",
                                      [f"document:{document_id}"] * 3),
    }
    versions = query_rows(conn, "SELECT version, fetched_at, change, diff IS NOT NULL AS has_diff FROM document_versions "
                           "WHERE document_id = ? ORDER BY version DESC", [document_id])
    unverified = record.get("unverified_fields") or ""
    return {
        "document": record, "identifiers": identifiers, "themes": themes, "entities": entities,
        "incidents": incidents, "related": {k: v for k, v in related.items() if v}, "versions": versions,
        "unverified": [f for f in re.findall(r"\w+", unverified)],
        "cite": _cite(item, record), "permalink": permalink, "highwire": _highwire(record),
        "content_note": needs_content_note(record.get("title"), record.get("abstract"),
                                           [e["name"] for e in entities if e["name"] == "suicidality"]),
    }


def _cite(item: dict, record: dict) -> dict:
    return {"apa": Markup(apa([item])[0]), "bibtex": bibtex([item]), "ris": ris([item]), "csljson": csl_json([item]),
            "snapshot": record.get("snapshot")}


def _highwire(record: dict) -> list[tuple[str, str]]:
    """citation_* meta tags, which reference managers' browser buttons read."""
    tags = [("citation_title", record.get("title") or "")]
    for author in record.get("authors") or []:
        name = author.get("collective_name") or (f"{author['last_name']}, {author.get('fore_name') or ''}".strip(", ")
                                                 if author.get("last_name") else author.get("name"))
        if name:
            tags.append(("citation_author", name))
    if record.get("published"):
        tags.append(("citation_publication_date", record["published"].replace("-", "/")))
    venue_tag = {"paper": "citation_journal_title", "preprint": "citation_publisher"}.get(record.get("kind"))
    if record.get("venue"):
        tags.append((venue_tag or "citation_publisher", record["venue"]))
    for tag, column in (("citation_volume", "volume"), ("citation_issue", "issue"), ("citation_language", "language")):
        if record.get(column):
            tags.append((tag, str(record[column])))
    if record.get("pages"):
        tags.append(("citation_firstpage", str(record["pages"]).split("-")[0]))
    identifiers = record.get("identifiers") or {}
    for tag, scheme in (("citation_doi", "doi"), ("citation_pmid", "pmid"), ("citation_arxiv_id", "arxiv")):
        if identifiers.get(scheme):
            tags.append((tag, identifiers[scheme]))
    if identifier_url("url", record.get("url")):
        tags.append(("citation_abstract_html_url", identifier_url("url", record["url"])))
    return [t for t in tags if t[1]]


CURATION_FILE = "annotations/incidents.yaml"


def _wrong_match(incident: dict, event: dict) -> dict:
    """What a reader sends to say a report does not belong to an incident: the curation file's
    `rejected` entry, prefilled (the site is read-only; curators edit the file)."""
    snippet = f"  - id: {incident['id']}\n    rejected:\n      - {event.get('url') or event['document_id']}\n"
    return {"document_id": event["document_id"], "snippet": snippet,
            "subject": f"Wrong match: {event.get('title') or event['document_id']} is not {incident['id']}"}


def _incident_view(conn, incident_id: str, permalink: str) -> dict:
    rows = query_rows(conn, "SELECT * FROM incidents WHERE id = ?", [incident_id])
    if not rows:
        return {}
    incident = rows[0]
    timeline = query_rows(conn, "SELECT d.published AS date, l.role, d.kind, d.title, d.venue AS outlet, d.url, l.method, "
                           "l.score, l.reason, d.id AS document_id FROM incident_documents l JOIN documents d "
                           "ON d.id = l.document_id WHERE l.incident_id = ? ORDER BY d.published IS NULL, d.published, d.id",
                           [incident_id])  # undated reports last
    for column in ("products", "companies", "harms"):
        incident[f"{column}_list"] = json.loads(incident[column]) if incident.get(column) else []
    item = {"id": incident_id, "type": "entry-encyclopedia", "title": incident["title"],
            "container-title": "LLMs & Mental Health Evidence Base", "URL": permalink,
            "author": [{"literal": "LLMs & Mental Health Evidence Base"}],
            "note": f"Incident status: {incident['status']}"}
    if incident.get("first_reported"):
        item["issued"] = {"date-parts": [[int(p) for p in incident["first_reported"].split("-")]]}
    has_crosswalk = query_rows(conn, "SELECT name FROM sqlite_master WHERE name = 'incident_crosswalk'", [])
    elsewhere = query_rows(conn, "SELECT database, external_id, title, url FROM incident_crosswalk WHERE incident_id = ? "
                                 "AND status = 'accepted' ORDER BY database, external_id", [incident_id]) if has_crosswalk else []
    return {"incident": incident, "timeline": timeline, "permalink": permalink, "cite": _cite(item, {}),
            "elsewhere": elsewhere, "wrong_match": [_wrong_match(incident, event) for event in timeline],
            "content_note": needs_content_note(incident.get("title"), incident.get("summary"), incident.get("harms"))}


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    if view_name != "row" or table not in ("documents", "incidents") or request is None:
        return {}

    async def view():
        key = request.url_vars.get("pks", "")
        permalink = public_url(datasette.urls.row(database, table, key))
        build = _document_view if table == "documents" else _incident_view
        found = await datasette.get_database(database).execute_fn(lambda conn: build(conn, key, permalink))
        if found and table == "incidents":  # where readers report a wrong match (metadata: plugins: evidence_pages)
            found["report_url"] = (datasette.plugin_config("evidence_pages") or {}).get("report_url")
            found["curation_file"] = CURATION_FILE
        return found
    return view

