"""Incidents: curation rules, machine matching with reasons, candidates, rejections, merges."""

import json

import pytest

from conftest import table_rows
from harvest.db import transaction
from harvest.incidents import CurationError, current_incident, load_curation, update_incidents
from harvest.nlp.corpus import tag_corpus
from harvest.store import DocumentRecord, Provenance, save_document

CURATION = """
incidents:
  - id: companion-teen-suicide-2024
    title: Teenager's suicide after months of Character.AI conversations
    summary: A 14-year-old in Florida died by suicide after conversations with a Character.AI bot; his mother sued.
    event_date: 2024-02
    first_reported: 2024-10
    location: Florida, United States
    products: [Character.AI]
    companies: [Character Technologies]
    harms: [suicidality]
    age_group: adolescent
    status: litigated
    sources:
      - {url: "https://news.example/first-report?utm_source=x", role: report}
    rejected: [REJECTED]
  - id: helpline-bot-diet-advice-2023
    title: Eating-disorder helpline chatbot gave diet advice
    summary: A helpline replaced staff with a chatbot, Tessa, that gave weight-loss advice.
    first_reported: 2023-05
    products: [Tessa]
    harms: [eating disorders]
    status: confirmed
"""

REPORT = ("A Florida mother's lawsuit says her 14-year-old son died by suicide after a Character.AI chatbot "
          "encouraged him. The suit against the company, filed in federal court, says the app lacked safeguards "
          "for teenagers who talk about self-harm, and the company says it has since added a suicide hotline pop-up. "
          "Mental health experts say chatbots can deepen isolation and depression in young users.")


def news(db, url, title, body, published):
    record = DocumentRecord(fields={"kind": "news", "title": title, "abstract": body[:200], "body": body,
                                    "url": url, "published": published}, identifiers=[("url", url)])
    with transaction(db):
        document_id, _ = save_document(db, record, Provenance("news", url, "2025-01-01T00:00:00Z", url=url))
    return document_id


@pytest.fixture
def curated(tmp_path, corpus):
    first = news(corpus, "https://news.example/first-report", "Mother sues Character.AI over son's suicide", REPORT, "2024-10-23")
    follow = news(corpus, "https://other.example/follow", "Character.AI lawsuit: what the Florida suicide case says",
                  REPORT.replace("A Florida mother's", "The"), "2024-11-02")
    rejected = news(corpus, "https://other.example/opinion", "Opinion: Character.AI, suicide and Florida courts",
                    REPORT + " This column argues for regulation.", "2024-12-01")
    fresh = [news(corpus, f"https://n{i}.example/psychosis", f"ChatGPT psychosis report {i}",
                  "A man was hospitalised with psychosis and delusions after weeks of ChatGPT conversations, his wife said. "
                  "Doctors in Seattle said the chatbot affirmed his beliefs.", f"2025-06-0{i}") for i in (1, 2)]
    path = tmp_path / "incidents.yaml"
    path.write_text(CURATION.replace("REJECTED", "https://other.example/opinion"))
    tag_corpus(corpus)
    return corpus, path, {"first": first, "follow": follow, "rejected": rejected, "fresh": fresh}


def links(db):
    return {(r[0], r[1]): (r[2], r[3]) for r in db.execute(
        "SELECT incident_id, document_id, method, reason FROM incident_documents")}


def test_curated_links_machine_matches_candidates_and_rejections(curated):
    db, path, docs = curated
    summary = update_incidents(db, path)
    found = links(db)
    assert found[("companion-teen-suicide-2024", docs["first"])] == ("curated", "listed by a curator")
    method, reason = found[("companion-teen-suicide-2024", docs["follow"])]
    assert method == "machine" and "product Character.AI" in reason and "harm suicidality" in reason
    assert "place Florida" in reason
    assert ("companion-teen-suicide-2024", docs["rejected"]) not in found, "a curator's rejection wins"
    candidate = db.execute("SELECT document_ids, products, harms, reason FROM incident_candidates "
                           "WHERE products LIKE '%ChatGPT%'").fetchall()
    assert len(candidate) == 1 and sorted(json.loads(candidate[0][0])) == sorted(docs["fresh"])
    assert json.loads(candidate[0][1]) == ["ChatGPT"] and "psychosis" in json.loads(candidate[0][2])
    assert "2 report(s)" in candidate[0][3]
    assert summary.curated == 2 and summary.curated_links == 1 and summary.machine_links == 1
    # the rejected report fits no incident now, so it is proposed on its own for a curator to judge
    assert summary.candidates == 2
    timeline = db.execute("SELECT date, role, method FROM incident_timeline WHERE incident_id = ?",
                          ["companion-teen-suicide-2024"]).fetchall()
    assert [t[0] for t in timeline] == ["2024-10-23", "2024-11-02"]
    hits = db.execute("SELECT i.id FROM incidents i JOIN incidents_fts f ON f.rowid = i.rowid "
                      "WHERE incidents_fts MATCH 'tessa' ORDER BY rank").fetchall()
    assert hits == [("helpline-bot-diet-advice-2023",)]
    before = table_rows(db)
    update_incidents(db, path)
    assert table_rows(db) == before, "running again changes nothing"


def test_merge_leaves_a_working_redirect(curated):
    db, path, docs = curated
    update_incidents(db, path)
    path.write_text(path.read_text() + """
  - id: character-ai-florida-lawsuit
    merged_into: companion-teen-suicide-2024
""")
    db["incidents"].insert({"id": "character-ai-florida-lawsuit", "title": "Duplicate", "status": "alleged",
                            "method": "curated"})
    db["incident_documents"].insert({"incident_id": "character-ai-florida-lawsuit", "document_id": docs["rejected"],
                                     "role": "commentary", "method": "curated"})
    summary = update_incidents(db, path)
    assert summary.merged == 1
    assert current_incident(db, "character-ai-florida-lawsuit") == "companion-teen-suicide-2024"
    assert db.execute("SELECT count(*) FROM incidents WHERE id = 'character-ai-florida-lawsuit'").fetchone()[0] == 0


@pytest.mark.parametrize("text, message", [
    ("incidents:\n  - id: Bad Id\n    title: x\n    status: alleged\n", "lower-case words"),
    ("incidents:\n  - id: a\n    title: x\n    status: rumoured\n", "status must be one of"),
    ("incidents:\n  - id: a\n    title: x\n    status: alleged\n  - id: a\n    title: y\n    status: alleged\n", "used twice"),
    ("incidents:\n  - id: a\n    title: x\n    status: alleged\n    sources: [{url: 'ftp://x'}]\n", "http"),
    ("incidents:\n  - id: a\n    merged_into: nowhere\n", "not a live incident"),
    ("incidents: [\n", "not valid YAML"),
])
def test_curation_errors_name_the_entry(tmp_path, text, message):
    path = tmp_path / "incidents.yaml"
    path.write_text(text)
    with pytest.raises(CurationError, match=message):
        load_curation(path)


def test_the_project_curation_file_loads():
    incidents = load_curation()
    live = [i for i in incidents if not i.merged_into]
    assert len(live) >= 15 and all(i.sources or i.crosswalk for i in live)  # traceable to reports
