"""The crosswalk between curated incidents and the AIAAIC Repository / AI Incident Database."""

import subprocess
import sys

import pytest

from harvest import crosswalk
from harvest.incidents import CurationError, load_curation, update_incidents

from conftest import FIXTURES

AIAAIC_CSV = FIXTURES / "incidents" / "aiaaic-incidents.csv"

# The AIAAIC export's shape: a title row, a header row, a sub-header row under merged headers;
# a line break inside a quoted cell; inconsistent spellings ("Tiktok", "USA ", a trailing space).
AIAAIC_SAMPLE = (
    "Incidents,,,,,,,,,,,,,,,,,,\n"
    "AIAAIC ID#,Headline,Occurred,Deployer,Developer,System name,Technology,Purpose,News trigger (taxonomy),"
    "Ethical issue (taxonomy),Impacted area,,External harm (taxonomy),,,Consequence (taxonomy),Response (taxonomy),Summary/links,\n"
    ",,,,,,,,,,Jurisdiction,Sector,Individual,Societal ,Environmental,,,,\n"
    'AIAAIC9001,"Companion bot Quillo urges\n\nteenager to self-harm",2024,,Quillo Labs,Quillo ,Chatbot,Companionship,'
    "Media,Safety,Ohio,Health,Anxiety/distress; Loss of life,,,,,https://www.aiaaic.org/x/quillo-teen,\n"
    "AIAAIC9002,Tiktok For you feed shows dance videos,2023,Tiktok,TikTok,For you,Recommender,Entertain,,,USA ,,,,,,,"
    "https://www.aiaaic.org/x/tiktok,\n"
    "AIAAIC9002,Tiktok For you feed shows dance videos,,,,,,,,,,,,,,,,,\n"
).encode()

AIID_SAMPLE = (
    "_id,incident_id,date,reports,Alleged deployer of AI system,Alleged developer of AI system,"
    "Alleged harmed or nearly harmed parties,description,title\n"
    'abc,4242,2024-05-01,"[1,2]","[""quillo-labs""]","[""quillo-labs""]","[""teenagers""]",'
    '"A companion chatbot told a teenager in Ohio to harm herself.",Quillo chatbot urges teenager to self-harm\n'
).encode()

CURATED = """incidents:
  - id: quillo-teen-self-harm-2024
    title: Quillo companion bot urges a teenager in Ohio to self-harm
    summary: A companion chatbot told a teenager to harm herself.
    event_date: 2024
    location: Ohio, United States
    products: [Quillo]
    companies: [Quillo Labs]
    harms: [suicidality]
    age_group: adolescent
    status: alleged
    crosswalk: {aiaaic: [AIAAIC9001], aiid: [4242]}
"""


def test_reads_the_aiaaic_export_with_its_three_header_rows():
    entries = {e.id: e for e in crosswalk.read_incident_database(AIAAIC_SAMPLE, "a.csv")}
    assert set(entries) == {"AIAAIC9001", "AIAAIC9002"}  # a repeated id is one entry
    quillo = entries["AIAAIC9001"]
    assert quillo.title == "Companion bot Quillo urges teenager to self-harm"
    assert (quillo.year, quillo.places, quillo.url) == (2024, ["Ohio"], "https://www.aiaaic.org/x/quillo-teen")
    assert quillo.harms == ["Anxiety/distress", "Loss of life"] and quillo.companies == ["Quillo Labs"]
    assert "Quillo" in quillo.products
    assert entries["AIAAIC9002"].places == ["USA"] and entries["AIAAIC9002"].year == 2023


def test_reads_an_aiid_snapshot_and_refuses_other_files():
    (entry,) = crosswalk.read_incident_database(AIID_SAMPLE, "incidents.csv")
    assert (entry.database, entry.id, entry.year) == ("aiid", "4242", 2024)
    assert entry.companies == ["quillo labs", "quillo labs"]
    assert entry.url == "https://incidentdatabase.ai/cite/4242/"
    with pytest.raises(crosswalk.CrosswalkError, match="neither an AIAAIC"):
        crosswalk.read_incident_database(b"name,value\nx,1\n", "other.csv")


def test_an_aiid_snapshot_is_joined_with_its_reports(tmp_path):
    (tmp_path / "incidents.csv").write_bytes(AIID_SAMPLE)
    (tmp_path / "reports.csv").write_text("_id,report_number,title,url\nx,1,A report,https://news.example/quillo?utm_source=a\n"
                                          "y,2,Another,https://other.example/b\n")
    (entry,) = crosswalk.read_incident_database_file(tmp_path / "incidents.csv")
    assert entry.report_numbers == ["1", "2"]
    assert entry.report_urls == {"https://news.example/quillo", "https://other.example/b"}
    incident = {"id": "q", "title": "Something else entirely", "summary": "", "event_date": None, "first_reported": None,
                "location": None, "products": [], "companies": [], "harms": [], "age_group": None,
                "report_urls": {"https://news.example/quillo"}}
    value, reason = crosswalk.score(incident, entry)
    assert value >= 0.3 and reason.startswith("report https://news.example/quillo")


def test_scores_say_why():
    incident = {"id": "q", "title": "Quillo companion bot urges a teenager in Ohio to self-harm", "summary": "",
                "event_date": "2024", "first_reported": None, "location": "Ohio, United States",
                "products": ["Quillo"], "companies": ["Quillo Labs"], "harms": ["suicidality"], "age_group": "adolescent"}
    entries = crosswalk.read_incident_database(AIAAIC_SAMPLE, "a.csv")
    (best, *_) = crosswalk.propose([incident], entries)
    assert best.external.id == "AIAAIC9001" and best.score > 0.8
    for part in ("product Quillo", "company Quillo Labs", "year 2024", "place Ohio", "age group adolescent", "harm suicidality"):
        assert part in best.reason
    value, _ = crosswalk.score(incident, next(e for e in entries if e.id == "AIAAIC9002"))
    assert value < crosswalk.PROPOSE_AT


def test_accepted_ids_are_recorded_and_shown_with_proposals(corpus, tmp_path):
    curation = tmp_path / "incidents.yaml"
    curation.write_text(CURATED)
    summary = update_incidents(corpus, curation)
    assert summary.crosswalk == 2
    rows = {(r["database"], r["external_id"]): r for r in corpus.query("SELECT * FROM incident_crosswalk")}
    assert rows[("aiid", "4242")]["url"] == "https://incidentdatabase.ai/cite/4242/"
    assert {r["status"] for r in rows.values()} == {"accepted"}
    proposals = crosswalk.propose(crosswalk.incident_rows(corpus), crosswalk.read_incident_database(AIAAIC_SAMPLE))
    crosswalk.save_proposals(corpus, proposals)
    row = corpus.execute("SELECT status, title, url, reason FROM incident_crosswalk WHERE external_id = 'AIAAIC9001'").fetchone()
    assert row[0] == "accepted" and row[1].startswith("Companion bot") and row[2].endswith("quillo-teen") and "product" in row[3]
    curation.write_text(CURATED.replace(", aiid: [4242]", ""))
    update_incidents(corpus, curation)
    assert corpus.execute("SELECT count(*) FROM incident_crosswalk WHERE external_id = '4242'").fetchone()[0] == 0


def test_a_malformed_crosswalk_names_the_incident(tmp_path):
    curation = tmp_path / "incidents.yaml"
    curation.write_text(CURATED.replace("AIAAIC9001", "9001"))
    with pytest.raises(CurationError, match="quillo-teen-self-harm-2024.*'9001' is not a aiaaic id"):
        load_curation(curation)


@pytest.mark.skipif(not AIAAIC_CSV.exists(), reason="../shared/fixtures/incidents not present")
def test_the_shared_aiaaic_export_proposes_the_curated_ids(corpus):
    """Done when: for every curated incident the export covers, its own AIAAIC entry ranks first."""
    update_incidents(corpus)
    entries = crosswalk.read_incident_database(AIAAIC_CSV.read_bytes(), AIAAIC_CSV.name)
    assert len(entries) > 2000
    covered = {i.id: i.crosswalk["aiaaic"] for i in load_curation() if i.crosswalk.get("aiaaic")}
    known = {e.id for e in entries}
    covered = {k: v for k, v in covered.items() if set(v) & known}
    assert len(covered) >= 15
    rows = [r for r in crosswalk.incident_rows(corpus) if r["id"] in covered]
    best = {}
    for proposal in crosswalk.propose(rows, entries):
        best.setdefault(proposal.incident_id, proposal)
    wrong = {k: best[k].external.id if k in best else None for k in covered if k not in best or best[k].external.id not in covered[k]}
    assert not wrong


def test_cli_crosswalk(tmp_path):
    db_path = tmp_path / "corpus.db"
    curation = tmp_path / "incidents.yaml"
    curation.write_text(CURATED)
    sample = tmp_path / "aiaaic.csv"
    sample.write_bytes(AIAAIC_SAMPLE)
    done = subprocess.run([sys.executable, "-m", "harvest", "seed", str(db_path)], capture_output=True)
    done = subprocess.run([sys.executable, "-m", "harvest", "incidents", str(db_path), "--curation", str(curation),
                           "--crosswalk", str(sample)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "quillo-teen-self-harm-2024 ~ AIAAIC9001 (accepted, score" in done.stdout
    assert "because product Quillo" in done.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    done = subprocess.run([sys.executable, "-m", "harvest", "incidents", str(db_path), "--curation", str(curation),
                           "--crosswalk", str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and "neither an AIAAIC" in done.stderr
