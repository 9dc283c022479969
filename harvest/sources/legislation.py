"""Legislation: state bills from Open States (v3) and federal documents from the Federal Register.

start                Open States bill searches (queries x jurisdictions from annotations/
                     legislation.yaml, with actions, sponsorships, versions, abstracts and sources)
                     when OPENSTATES_API_KEY is set, and Federal Register document searches
ingest               an answer -> bills or documents, and the request for its next page
parse_openstates     a bill search answer -> bills with their status read from the action history
parse_federal_register  a documents search answer -> documents, and the next page
save_bill            a `legislation` document (IL HB 1806), its dated actions, and a new version
                     whenever its status changes (introduced -> in committee -> ... -> enacted)
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .. import config as annotations

from ..db import transaction
from ..engine import run_live
from ..limits import load_json
from ..nlp.vocab import ANNOTATIONS
from ..runs import Run, settled
from ..store import DocumentRecord, Provenance, save_document
from ..text import clean
from ..versions import latest_version, save_version, text_hash
from . import Plan, Request, Source

SOURCE = "legislation"
CONFIG = ANNOTATIONS / "legislation.yaml"
OPENSTATES_API = "https://v3.openstates.org/bills"
FEDERAL_REGISTER_API = "https://www.federalregister.gov/api/v1/documents.json"
OPENSTATES_PER_SECOND = 1 / 6   # the default Open States plan allows 10 requests a minute
FEDERAL_REGISTER_PER_SECOND = 1.0
PER_PAGE = 20
INCLUDES = ("actions", "sponsorships", "versions", "abstracts", "sources")
KEY_HELP = ("OPENSTATES_API_KEY is not set, so state bills were skipped; get a free key at "
            "https://openstates.org/accounts/profile/ and export OPENSTATES_API_KEY")


class LegislationError(ValueError):
    """An API answered with an error document or something unreadable; the message says which."""


def load_config(path: Path = CONFIG) -> dict:
    return annotations.load(path, "legislation") or {}


# -- parse ----------------------------------------------------------------------------------

def bill_status(actions: list[dict]) -> str:
    """Where a bill stands, read from its actions' Open Civic Data classifications in order."""
    status, passed_by = "introduced", set()
    for action in sorted(actions, key=lambda a: (a.get("order") or 0, a.get("date") or "")):
        kinds = set(action.get("classification") or [])
        organisation = ((action.get("organization") or {}).get("name") or "").lower()
        if kinds & {"became-law", "executive-signature"}:
            status = "enacted"
        elif "executive-veto" in kinds:
            status = "vetoed"
        elif "veto-override-passage" in kinds:
            status = "enacted (veto overridden)"
        elif "withdrawal" in kinds:
            status = "withdrawn"
        elif "failure" in kinds:
            status = "failed"
        elif "executive-receipt" in kinds:
            status = "sent to the governor"
        elif "passage" in kinds:
            passed_by.add(organisation)
            status = "passed both chambers" if len(passed_by) > 1 else "passed one chamber"
        elif "committee-passage" in kinds and status in ("introduced", "in committee"):
            status = "passed committee"
        elif "referral-committee" in kinds and status == "introduced":
            status = "in committee"
    return status


def _state(jurisdiction: dict) -> str:
    match = re.search(r"/(?:state|district|territory):(\w+)", jurisdiction.get("id") or "")
    return match.group(1).upper() if match else ""


def parse_openstates(data: bytes, name: str = "openstates") -> tuple[list[dict], dict]:
    """Bills and the pagination block of a /bills answer."""
    answer = _json(data, name)
    if "results" not in answer:
        raise LegislationError(f"{name}: Open States answered without results: {str(answer.get('detail', answer))[:200]}")
    bills = []
    for bill in answer["results"]:
        jurisdiction = bill.get("jurisdiction") or {}
        actions = bill.get("actions") or []
        identifier = " ".join(filter(None, [_state(jurisdiction), bill.get("identifier")]))
        bills.append({
            "id": bill["id"], "identifier": identifier, "title": (bill.get("title") or "").strip(),
            "jurisdiction": jurisdiction.get("name"), "session": bill.get("session"),
            "chamber": (bill.get("from_organization") or {}).get("name"),
            "classification": bill.get("classification") or [], "subjects": bill.get("subject") or [],
            "abstract": next((a.get("abstract") for a in bill.get("abstracts") or [] if a.get("abstract")), None),
            "url": _web(bill.get("openstates_url")), "first_action_date": bill.get("first_action_date"),
            "latest_action_date": bill.get("latest_action_date"),
            "latest_action": bill.get("latest_action_description"), "updated_at": bill.get("updated_at"),
            "status": bill_status(actions),
            "sponsors": [s["name"] for s in sorted(bill.get("sponsorships") or [], key=lambda s: not s.get("primary"))
                         if s.get("name")],
            "actions": [{"date": a.get("date"), "description": a.get("description"),
                         "organisation": (a.get("organization") or {}).get("name"),
                         "classification": a.get("classification") or []} for a in actions],
            "versions": [{"date": v.get("date"), "note": v.get("note"),
                          "url": _web(next((link.get("url") for link in v.get("links") or []), None))}
                         for v in bill.get("versions") or []],
        })
    return bills, answer.get("pagination") or {}


def parse_federal_register(data: bytes, name: str = "federal register") -> tuple[list[dict], str | None]:
    """Documents of a documents.json search, and the next page's address."""
    answer = _json(data, name)
    if "errors" in answer:
        raise LegislationError(f"{name}: the Federal Register refused the search: {answer['errors']}")
    documents = [{"document_number": d["document_number"], "title": (d.get("title") or "").strip(),
                  "type": d.get("type"), "abstract": d.get("abstract"), "url": _web(d.get("html_url")),
                  "pdf_url": _web(d.get("pdf_url")), "published": d.get("publication_date"),
                  "agencies": [a.get("name") or a.get("raw_name") for a in d.get("agencies") or []
                               if a.get("name") or a.get("raw_name")]}
                 for d in answer.get("results") or [] if d.get("document_number")]
    return documents, answer.get("next_page_url")


def _web(url) -> str | None:
    """Only http(s) addresses from an API are kept: they become links on pages."""
    return url if isinstance(url, str) and url.lower().startswith(("http://", "https://")) else None


def _json(data: bytes, name: str) -> dict:
    try:
        answer = load_json(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LegislationError(f"{name}: not JSON ({error})") from None
    if not isinstance(answer, dict):
        raise LegislationError(f"{name}: not a JSON object")
    return answer


# -- fetch ----------------------------------------------------------------------------------

def openstates_url(query: str, jurisdiction: str | None, page: int, api_key: str, base: str = OPENSTATES_API) -> str:
    params = [("q", query), ("sort", "updated_desc"), ("page", page), ("per_page", PER_PAGE), ("apikey", api_key)]
    if jurisdiction:
        params.insert(1, ("jurisdiction", jurisdiction))
    return base + "?" + urlencode(params + [("include", i) for i in INCLUDES])


def federal_register_url(term: str, base: str = FEDERAL_REGISTER_API) -> str:
    return base + "?" + urlencode({"conditions[term]": term, "order": "newest", "per_page": 100})


def start(db, options: dict) -> Plan:
    """options: config (default: annotations/legislation.yaml), api_key (default: the
    environment's OPENSTATES_API_KEY), openstates_api, federal_register_api."""
    config = options.get("config") or load_config()
    api_key = options["api_key"] if options.get("api_key") is not None else os.environ.get("OPENSTATES_API_KEY")
    openstates_api = options.get("openstates_api") or OPENSTATES_API
    federal_register_api = options.get("federal_register_api") or FEDERAL_REGISTER_API
    states, federal = config.get("openstates") or {}, config.get("federal_register") or {}
    requests = []
    if api_key:
        requests += [_openstates(query, jurisdiction, 1, api_key, openstates_api)
                     for query in states.get("queries") or [] for jurisdiction in states.get("jurisdictions") or [None]]
    requests += [Request(federal_register_url(term, federal_register_api), "federal-register", context={"page": 1})
                 for term in federal.get("terms") or []]
    hosts = {urlsplit(openstates_api).hostname: OPENSTATES_PER_SECOND,
             urlsplit(federal_register_api).hostname: FEDERAL_REGISTER_PER_SECOND}
    return Plan(parameters={"config": config, "openstates_api": openstates_api,
                            "federal_register_api": federal_register_api},
                requests=requests, rate_limits=hosts, api_hosts=tuple(hosts), notes=[] if api_key else [KEY_HELP],
                state={"api_key": api_key, "openstates_api": openstates_api,
                       "max_pages": (states.get("max_pages", 3), federal.get("max_pages", 2))})


def _openstates(query: str, jurisdiction: str | None, page: int, api_key: str, base: str) -> Request:
    """A bill search page; the key is in the address only (redacted in the archive), never in
    the context."""
    return Request(openstates_url(query, jurisdiction, page, api_key, base), "openstates",
                   context={"query": query, "jurisdiction": jurisdiction, "page": page})


def _next_page(archived, run: Run, last: int | None = None, next_url: str | None = None) -> list[Request]:
    state, context = run.context, archived.context
    if "max_pages" not in state or "page" not in context:
        return []  # rebuild, or a loaded file: follow-ups are not made
    page = context["page"]
    if archived.role == "openstates":
        if page >= min(last or 1, state["max_pages"][0]):
            return []
        return [_openstates(context["query"], context["jurisdiction"], page + 1, state["api_key"],
                            state["openstates_api"])]
    if next_url and page < state["max_pages"][1]:
        return [Request(next_url, "federal-register", context={"page": page + 1})]
    return []


# -- save -----------------------------------------------------------------------------------

def save_bill(db, bill: dict, archived, run: Run) -> None:
    record = DocumentRecord(
        fields={"kind": "legislation", "title": bill["title"] or bill["identifier"], "abstract": bill["abstract"],
                "url": bill["url"], "venue": bill["jurisdiction"], "published": bill["first_action_date"],
                "year": int(bill["first_action_date"][:4]) if bill["first_action_date"] else None,
                "keywords": bill["subjects"] or None, "publication_types": bill["classification"] or None,
                "jurisdiction": bill["jurisdiction"], "legislative_session": bill["session"],
                "bill_identifier": bill["identifier"], "bill_status": bill["status"]},
        identifiers=[("openstates", bill["id"])], authors=[{"name": n} for n in bill["sponsors"]])
    provenance = Provenance(source=SOURCE, source_id=bill["id"], fetched_at=archived.date, url=bill["url"],
                            archive_file=archived.file, archive_record_id=archived.record_id)
    document_id, action = save_document(db, record, provenance)
    events = [{**a, "classification": json.dumps(a["classification"]), "url": None} for a in bill["actions"]]
    events += [{"date": v["date"], "description": f"text version: {v['note'] or 'version'}", "organisation": None,
                "classification": json.dumps(["version"]), "url": v["url"]} for v in bill["versions"]]
    rows = clean([{"document_id": document_id, "position": position, **event}  # stored text is normalised (harvest.text)
                  for position, event in enumerate(sorted(events, key=lambda e: e["date"] or ""), start=1)])
    if rows != list(db.query("SELECT * FROM bill_actions WHERE document_id = ? ORDER BY position", [document_id])):
        db.execute("DELETE FROM bill_actions WHERE document_id = ?", [document_id])  # a bill seen again unchanged writes nothing
        db["bill_actions"].insert_all(rows)
    previous = latest_version(db, document_id)
    change = f"status: {previous['text'].splitlines()[0]} -> {bill['status']}" if previous and previous["text"] else None
    summary = f"{bill['status']}\nlatest action ({bill['latest_action_date'] or 'undated'}): {bill['latest_action'] or ''}"
    if save_version(db, document_id, summary, text_hash(bill["status"]), archived, change=change):
        run.note(f"{bill['identifier']}: {change or 'first seen, ' + bill['status']}")
    run.count(action)


def save_federal_document(db, document: dict, archived, run: Run) -> None:
    record = DocumentRecord(
        fields={"kind": "legislation", "title": document["title"], "abstract": document["abstract"],
                "url": document["url"], "venue": "Federal Register", "publisher": "; ".join(document["agencies"]) or None,
                "published": document["published"], "year": int(document["published"][:4]) if document["published"] else None,
                "publication_types": [document["type"]] if document["type"] else None,
                "jurisdiction": "United States", "bill_identifier": f"FR Doc. {document['document_number']}",
                "bill_status": document["type"]},
        identifiers=[("federal_register", document["document_number"])])
    provenance = Provenance(source=SOURCE, source_id=document["document_number"], fetched_at=archived.date,
                            url=document["url"], archive_file=archived.file, archive_record_id=archived.record_id)
    document_id, action = save_document(db, record, provenance)
    save_version(db, document_id, document["type"], text_hash(document["type"] or ""), archived)
    run.count(action)


def ingest(db, archived, run: Run) -> list[Request]:
    """One archived API answer into rows, and the request for its next page; shared by
    harvest and rebuild."""
    if settled(archived, run, lost=0, label=archived.uri):
        return []
    try:
        if archived.role == "openstates":
            bills, pagination = parse_openstates(archived.body, archived.uri)
            with transaction(db):
                for bill in bills:
                    save_bill(db, bill, archived, run)
            run.count("found", len(bills))
            try:
                last = int(pagination.get("max_page") or 1)
            except ValueError:
                last = 1
            return _next_page(archived, run, last=last)
        documents, next_url = parse_federal_register(archived.body, archived.uri)
        with transaction(db):
            for document in documents:
                save_federal_document(db, document, archived, run)
        run.count("found", len(documents))
        return _next_page(archived, run, next_url=next_url)
    except LegislationError as error:
        run.fail(str(error), n=0)
        return []


def legacy_role(archived, run: Run) -> tuple[str, dict]:
    """The role of a record archived before roles were: which API, from its address."""
    if archived.uri.startswith(run.parameters.get("openstates_api", OPENSTATES_API)):
        return "openstates", {}
    return "federal-register", {}


SOURCE_SPEC = Source(name=SOURCE, start=start, ingest=ingest, legacy_role=legacy_role)


def harvest_legislation(db, archive_dir, client, config: dict | None = None, api_key: str | None = None,
                        openstates_api: str = OPENSTATES_API, federal_register_api: str = FEDERAL_REGISTER_API,
                        progress=None) -> Run:
    """Every configured search through the engine (for scripts and tests)."""
    return run_live(db, archive_dir, client, SOURCE_SPEC,
                    {"config": config, "api_key": api_key, "openstates_api": openstates_api,
                     "federal_register_api": federal_register_api}, progress)
