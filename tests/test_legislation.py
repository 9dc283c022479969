"""Legislation: Open States v3 and the Federal Register played on 127.0.0.1, end to end."""

import json
from urllib.parse import parse_qs

from conftest import Reply, table_rows
from harvest import db as database
from harvest.archive import archive_files
from harvest.sources.legislation import bill_status, harvest_legislation, parse_federal_register, parse_openstates
from harvest.rebuild import rebuild

CONFIG = {"openstates": {"queries": ["artificial intelligence therapy"], "jurisdictions": ["il"], "max_pages": 3},
          "federal_register": {"terms": ["chatbot mental health"], "max_pages": 2}}


def action(order, date, description, kinds, chamber="House"):
    return {"id": f"a{order}", "organization": {"id": "o", "name": chamber, "classification": "lower"},
            "description": description, "date": date, "classification": kinds, "order": order}


def bill(number, actions, title="Wellness and Oversight for Psychological Resources Act"):
    return {"id": f"ocd-bill/{number}", "session": "104th", "identifier": f"HB {number}", "title": title,
            "jurisdiction": {"id": "ocd-jurisdiction/country:us/state:il/government", "name": "Illinois",
                             "classification": "state"},
            "from_organization": {"id": "o", "name": "House", "classification": "lower"},
            "classification": ["bill"], "subject": ["Mental Health"], "extras": {},
            "openstates_url": f"https://openstates.org/il/bills/104th/HB{number}/",
            "first_action_date": actions[0]["date"], "latest_action_date": actions[-1]["date"],
            "latest_action_description": actions[-1]["description"], "latest_passage_date": None,
            "created_at": "2025-01-01T00:00:00+00:00", "updated_at": "2025-08-01T00:00:00+00:00",
            "sponsorships": [{"name": "Bob Morgan", "entity_type": "person", "primary": True, "classification": "primary"}],
            "actions": actions, "abstracts": [{"abstract": "Limits the use of AI in therapy.", "note": ""}],
            "versions": [{"note": "Introduced", "date": actions[0]["date"],
                          "links": [{"url": f"https://ilga.gov/HB{number}.pdf", "media_type": "application/pdf"}]}],
            "sources": [{"url": "https://ilga.gov", "note": ""}]}


INTRODUCED = [action(1, "2025-01-09", "Filed with the Clerk", ["introduction"]),
              action(2, "2025-01-10", "Referred to Rules Committee", ["referral-committee"])]
ENACTED = INTRODUCED + [action(3, "2025-04-01", "Passed Both Houses", ["passage"]),
                        action(4, "2025-05-20", "Third Reading - Passed", ["passage"], chamber="Senate"),
                        action(5, "2025-08-01", "Public Act . . . . . . . . . 104-0054", ["became-law"])]


def openstates_page(bills, page, max_page):
    return json.dumps({"results": bills, "pagination": {"per_page": 20, "page": page, "max_page": max_page,
                                                        "total_items": 21}}).encode()


def federal_page(base, next_page):
    return json.dumps({"count": 2, "description": "Documents matching chatbot mental health", "total_pages": 2,
                       "next_page_url": f"{base}/api/v1/documents.json?page=2" if next_page else None,
                       "results": [{"title": "Digital Health Advisory Committee; Notice of Meeting", "type": "Notice",
                                    "abstract": "Generative AI-enabled digital mental health medical devices.",
                                    "document_number": "2025-1234" if next_page else "2025-0999",
                                    "html_url": "https://www.federalregister.gov/d/2025-1234",
                                    "pdf_url": "https://www.govinfo.gov/x.pdf", "publication_date": "2025-09-10",
                                    "agencies": [{"raw_name": "FOOD AND DRUG ADMINISTRATION",
                                                  "name": "Food and Drug Administration", "id": 1}]}]}).encode()


def test_status_is_read_from_the_action_history():
    assert bill_status(INTRODUCED) == "in committee"
    assert bill_status(INTRODUCED + [action(3, "2025-04-01", "Passed", ["passage"])]) == "passed one chamber"
    assert bill_status(ENACTED) == "enacted"
    assert bill_status([action(1, "2025-01-01", "Vetoed", ["executive-veto"])]) == "vetoed"
    bills, pagination = parse_openstates(openstates_page([bill(1806, ENACTED)], 1, 1))
    assert bills[0]["identifier"] == "IL HB 1806" and bills[0]["status"] == "enacted" and pagination["max_page"] == 1
    hostile = {**bill(1, INTRODUCED), "openstates_url": "javascript:alert(1)"}
    assert parse_openstates(openstates_page([hostile], 1, 1))[0][0]["url"] is None, "only http(s) becomes a link"
    documents, next_page = parse_federal_register(federal_page("https://fr.example", False))
    assert documents[0]["agencies"] == ["Food and Drug Administration"] and next_page is None


def test_harvest_end_to_end_with_status_changes(tmp_path, server, make_client, corpus):
    base = server.url
    state = {"bill": bill(1806, INTRODUCED)}

    def openstates(query):
        params = parse_qs(query)
        assert params["apikey"] == ["secret-key"] and "actions" in params["include"]
        page = int(params["page"][0])
        bills = [state["bill"]] if page == 1 else [bill(4000, INTRODUCED, "Companion chatbot safeguards")]
        return Reply(200, openstates_page(bills, page, 2), {"Content-Type": "application/json"})
    server.routes["/bills"] = openstates
    server.routes["/api/v1/documents.json"] = lambda query: Reply(
        200, federal_page(base, "page=2" not in query), {"Content-Type": "application/json"})
    archive = tmp_path / "archive"
    options = dict(api_key="secret-key", openstates_api=f"{base}/bills", federal_register_api=f"{base}/api/v1/documents.json")
    first = harvest_legislation(corpus, archive, make_client(), CONFIG, **options)
    assert first.status == "ok" and first.counts["added"] == 4
    row = corpus.execute("SELECT bill_identifier, bill_status, jurisdiction, legislative_session, kind FROM documents "
                         "WHERE bill_identifier = 'IL HB 1806'").fetchone()
    assert row == ("IL HB 1806", "in committee", "Illinois", "104th", "legislation")
    state["bill"] = bill(1806, ENACTED)
    harvest_legislation(corpus, archive, make_client(), CONFIG, **options)
    harvest_legislation(corpus, archive, make_client(), CONFIG, **options)  # nothing new
    versions = corpus.execute("SELECT v.version, v.change FROM document_versions v JOIN documents d ON d.id = v.document_id "
                              "WHERE d.bill_identifier = 'IL HB 1806' ORDER BY v.version").fetchall()
    assert versions == [(1, "first seen"), (2, "status: in committee -> enacted")]
    events = corpus.execute("SELECT a.date, a.description FROM bill_actions a JOIN documents d ON d.id = a.document_id "
                            "WHERE d.bill_identifier = 'IL HB 1806' ORDER BY position").fetchall()
    assert events[0] == ("2025-01-09", "Filed with the Clerk") and events[-1][0] == "2025-08-01" and len(events) == 6
    federal = corpus.execute("SELECT bill_identifier, publisher, jurisdiction FROM documents WHERE venue = 'Federal Register' "
                             "ORDER BY bill_identifier").fetchall()
    assert federal == [("FR Doc. 2025-0999", "Food and Drug Administration", "United States"),
                       ("FR Doc. 2025-1234", "Food and Drug Administration", "United States")]
    assert all(b"secret-key" not in path.read_bytes() for path in archive_files(archive)), "the key is never archived"
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt) == table_rows(corpus)


def test_missing_key_and_api_errors(tmp_path, server, make_client, corpus):
    base = server.url
    server.routes["/api/v1/documents.json"] = [Reply(400, json.dumps({"errors": {"conditions": "bad term"}}).encode(),
                                                     {"Content-Type": "application/json"})]
    run = harvest_legislation(corpus, tmp_path / "archive", make_client(), CONFIG, api_key="",
                              openstates_api=f"{base}/bills", federal_register_api=f"{base}/api/v1/documents.json")
    assert any("OPENSTATES_API_KEY is not set" in note for note in run.notes)
    assert not any(path == "/bills" for path, _, _ in server.requests)
    assert run.status == "failed" and "HTTP 400" in run.errors[0]
    server.routes["/bills"] = [Reply(200, b'{"detail": "Invalid API key"}', {"Content-Type": "application/json"})]
    server.routes["/api/v1/documents.json"] = [Reply(200, b"<html>maintenance</html>")]
    run = harvest_legislation(corpus, tmp_path / "archive", make_client(), CONFIG, api_key="wrong",
                              openstates_api=f"{base}/bills", federal_register_api=f"{base}/api/v1/documents.json")
    assert any("Invalid API key" in e for e in run.errors) and any("not JSON" in e for e in run.errors)
