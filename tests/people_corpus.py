"""A corpus of a few hundred documents for the search, browse and export tests: the seed list, a
generated mix of papers, preprints, news, guidance and bills in all four relevance states
(set directly, as the tagger would), two incidents with curated and machine links, citations,
a guidance page dated only by its versions, and hostile text from the web."""

from __future__ import annotations

import random
from pathlib import Path

from harvest import db as database
from harvest.db import transaction
from harvest.graph import build_graph, save_graph
from harvest.incidents import update_incidents
from harvest.nlp.corpus import tag_corpus
from harvest.sources.seed import load_seed
from harvest.store import DocumentRecord, Provenance, save_citation, save_document

HOSTILE = "<script>alert(1)</script> AI chatbot depression <img src=x onerror=alert(2)>"
AT = "2026-01-05T00:00:00Z"
CURATION = """
incidents:
  - id: teen-companion-suicide-lawsuit
    title: Teenager's suicide after Character.AI conversations; mother sues
    summary: A 14-year-old in Florida died by suicide after months with a Character.AI companion; his mother filed a wrongful-death lawsuit.
    event_date: 2024-02
    first_reported: 2024-10
    location: Florida, United States
    products: [Character.AI]
    companies: [Character Technologies, Google]
    harms: [suicidality]
    age_group: adolescent
    outcome: Wrongful-death lawsuit filed in federal court.
    status: litigated
    sources:
      - {url: "https://news.example/mother-sues", role: report}
      - {url: "https://news.example/undated-follow-up", role: follow-up}
  - id: chatgpt-psychosis-reports
    title: Families describe ChatGPT-fuelled delusions
    summary: People developed delusions during intense ChatGPT use; some were involuntarily committed.
    first_reported: 2025-06
    location: United States
    products: [ChatGPT]
    companies: [OpenAI]
    harms: [psychosis]
    status: alleged
    sources:
      - {url: "https://other.example/ai-psychosis", role: report}
"""
TOPICS = ["depression", "anxiety", "loneliness", "therapy", "suicide prevention", "psychosis", "eating disorders",
          "insomnia", "stigma", "privacy", "clinician workload", "triage", "crisis lines", "adolescents", "older adults"]
AI = ["a large language model", "an AI chatbot", "ChatGPT", "a conversational agent", "generative AI", "Woebot", "Replika"]
OUTLETS = ["Example News", "Other Times", "The Daily Record", "Tech Herald"]
JOURNALS = ["JMIR Mental Health", "Lancet Digital Health", "npj Digital Medicine", "BMJ Mental Health"]


def _save(db, fields: dict, identifier: tuple[str, str], source: str = "pubmed") -> str:
    fields = {"year": int(fields["published"][:4]) if fields.get("published") else None, **fields}
    document_id, _ = save_document(db, DocumentRecord(fields=fields, identifiers=[identifier]),
                                   Provenance(source, identifier[1], AT, url=fields.get("url")))
    return document_id


def build(folder: Path, generated: int = 300) -> dict:
    """Build `folder/corpus.db`; returns the ids the tests look for and the expected counts."""
    path = folder / "corpus.db"
    db = database.connect(path)
    load_seed(db, folder / "archive")
    rng = random.Random(16)
    ids: dict = {"relevance": {}}
    with transaction(db):
        ids["report"] = _save(db, {"kind": "news", "title": "Mother sues Character.AI after her teenage son's suicide",
                                   "abstract": "A lawsuit filed in Florida says a Character.AI companion chatbot encouraged a "
                                               "14-year-old before he died by suicide.", "venue": "Example News",
                                   "published": "2024-10-23", "url": "https://news.example/mother-sues"},
                              ("url", "https://news.example/mother-sues"), "news")
        ids["undated"] = _save(db, {"kind": "news", "title": "Character.AI adds safety features for teenagers",
                                    "abstract": "After the lawsuit over a teenager's suicide, Character.AI announced changes.",
                                    "venue": "Tech Herald", "url": "https://news.example/undated-follow-up"},
                               ("url", "https://news.example/undated-follow-up"), "news")
        ids["machine"] = _save(db, {"kind": "news", "title": "Florida chatbot case: what the court filings say",
                                    "abstract": "Court filings in the Character.AI wrongful death case describe the chats.",
                                    "venue": "The Daily Record", "published": "2024-11-02",
                                    "url": "https://news.example/filings"}, ("url", "https://news.example/filings"), "news")
        ids["phrase"] = _save(db, {"kind": "news", "title": "Psychiatrists warn of AI psychosis among heavy chatbot users",
                                   "abstract": "Clinicians describe AI psychosis: delusions reinforced by a chatbot.",
                                   "venue": "Other Times", "published": "2025-06-10", "url": "https://other.example/ai-psychosis"},
                              ("url", "https://other.example/ai-psychosis"), "news")
        ids["apart"] = _save(db, {"kind": "paper", "title": "Psychosis relapse prediction from speech: an AI model for depression "
                                                            "and mental health services",
                                  "abstract": "Psychosis relapse was predicted from clinical speech; the AI model used a large "
                                              "language model of depression and mental health notes.",
                                  "venue": "JMIR Mental Health", "published": "2023-04-01"}, ("doi", "10.5555/apart"))
        ids["hostile"] = _save(db, {"kind": "news", "title": HOSTILE, "abstract": f"A report on a chatbot for depression. {HOSTILE}",
                                    "venue": "Example <b>News</b>", "published": "2025-02-01", "url": "https://news.example/hostile"},
                               ("url", "https://news.example/hostile"), "news")
        ids["guidance"] = _save(db, {"kind": "guidance", "title": "Using AI chatbots in mental health care: advice for therapists",
                                     "abstract": "Professional guidance on generative AI chatbots in psychotherapy and mental health care.",
                                     "venue": "Example Psychological Association", "url": "https://guidance.example/ai"},
                                ("url", "https://guidance.example/ai"), "guidance")
        db["document_versions"].insert({"document_id": ids["guidance"], "version": 1, "fetched_at": "2025-09-14T08:00:00Z",
                                        "content_hash": "a" * 64, "text": "Professional guidance.", "change": "first version"})
        generated_ids = []
        for n in range(generated):
            kind = rng.choice(["paper", "paper", "paper", "preprint", "news", "news", "guidance", "legislation"])
            topic, ai = rng.choice(TOPICS), rng.choice(AI)
            year = rng.choice([2019, 2021, 2022, 2023, 2024, 2024, 2025, 2025, 2026])
            venue = rng.choice(OUTLETS if kind == "news" else JOURNALS if kind in ("paper", "preprint") else ["State legislature"])
            fields = {"kind": kind, "title": f"{ai.capitalize()} and {topic}: study {n}",
                      "abstract": f"We examined {ai} for {topic} in mental health care. A randomized trial of {100 + n} adults "
                                  f"with {topic} measured symptoms of depression and anxiety.",
                      "venue": venue, "published": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"}
            if kind == "legislation":
                fields["jurisdiction"] = rng.choice(["Illinois", "Nevada", "Utah"])
            generated_ids.append(_save(db, fields, ("doi", f"10.5555/gen.{n}")))
        ids["cited"] = generated_ids[0]
        for citing in generated_ids[1:4]:
            save_citation(db, citing, generated_ids[0], "test")
    tag_corpus(db)
    curation = folder / "incidents.yaml"
    curation.write_text(CURATION)
    update_incidents(db, curation)
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO incident_documents VALUES (?, ?, 'report', 'machine', 0.82, ?)",
                   ["teen-companion-suicide-lawsuit", ids["machine"],
                    "product Character.AI; harm suicidality; place Florida; text similarity 0.41"])
        states = ["relevant"] * 12 + ["related"] * 4 + ["off-topic"] * 3 + ["undetermined"]
        for n, document_id in enumerate(generated_ids):
            db.execute("UPDATE documents SET relevance = ? WHERE id = ?", [states[n % len(states)], document_id])
        special = [ids[k] for k in ("report", "undated", "machine", "phrase", "apart", "hostile", "guidance")]
        db.execute(f"UPDATE documents SET relevance = 'relevant' WHERE id IN ({', '.join('?' * len(special))})", special)
        db.execute("UPDATE documents SET relevance = 'relevant' WHERE id = ?", [ids["cited"]])
    save_graph(db, build_graph(db))
    for state in ("relevant", "related", "off-topic", "undetermined"):
        ids["relevance"][state] = db.execute("SELECT count(*) FROM documents WHERE relevance = ?", [state]).fetchone()[0]
    ids["relevance"][None] = db.execute("SELECT count(*) FROM documents WHERE relevance IS NULL").fetchone()[0]
    ids["papers_since_2020"] = db.execute("SELECT count(*) FROM documents WHERE kind = 'paper' AND year >= 2020").fetchone()[0]
    ids["total"] = db.execute("SELECT count(*) FROM documents").fetchone()[0]
    db.conn.close()
    return ids
