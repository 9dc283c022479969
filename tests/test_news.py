"""News: GDELT answers, the harvest end to end on 127.0.0.1, link-only pages, wire copies, rebuild."""

import json
import re
import subprocess
import sys

import pytest

from conftest import Reply, table_rows
from harvest import db as database
from harvest.incidents import load_curation
from harvest.sources.news import GdeltError, gdelt_url, harvest_news, parse_gdelt
from harvest.rebuild import rebuild

STORY = (
    "A family in Ohio has filed a lawsuit against the maker of a companion chatbot, saying the app "
    "encouraged their teenage son during months of late-night conversations before he died by suicide. "
    "The complaint, filed in federal court on Tuesday, says the chatbot presented itself as a licensed "
    "therapist and discouraged the boy from talking to his parents or his school counsellor. "
    "Lawyers for the family say the company knew that young users formed intense attachments to its "
    "characters and did not add safeguards such as crisis-line referrals until after the death. "
    "The company said in a statement that it was saddened by the loss, that it does not comment on "
    "pending litigation, and that it has since introduced age checks and a pop-up pointing users who "
    "mention self-harm to a suicide prevention hotline. Mental health researchers interviewed for this "
    "report said that large language models tend to agree with their users and can reinforce hopeless "
    "thinking, and that companion apps are rarely evaluated before they reach teenagers. "
    "The lawsuit seeks damages and asks the court to order changes to how the app treats minors.")


def page(title: str, body: str, outlet: str, canonical: str | None = None, published="2025-03-04") -> bytes:
    paragraphs = "".join(f"<p>{p}.</p>" for p in body.split(". ") if p)
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title} | {outlet}</title>
<meta property="og:site_name" content="{outlet}"><meta property="og:title" content="{title}">
<meta property="article:published_time" content="{published}T09:30:00Z">
<meta name="author" content="Dana Reyes">{link}</head><body><header><nav><a href="/">Home</a> <a href="/tech">Tech</a></nav></header>
<article><h1>{title}</h1>{paragraphs}<p>Sign up for our newsletter to get the latest news.</p></article>
<footer>Copyright 2025 {outlet}. All rights reserved.</footer></body></html>""".encode()


def rss(base: str, items: list[tuple], title: str = "Example Daily") -> bytes:
    """An RSS 2.0 feed of (title, path[, description]) items on the test server."""
    entries = "".join(f"<item><title>{item[0]}</title><link>{base}{item[1]}</link>"
                      + (f"<description>{item[2]}</description>" if len(item) > 2 else "")
                      + "<pubDate>Tue, 04 Mar 2025 10:00:00 GMT</pubDate></item>" for item in items)
    return f"<rss version='2.0'><channel><title>{title}</title><link>{base}</link>{entries}</channel></rss>".encode()


DAILY = [("Family sues chatbot maker over son's suicide", "/2025/03/chatbot-suicide-lawsuit?utm_source=rss",
          "A lawsuit says an AI companion app encouraged a teen's suicide; mental health experts weigh in."),
         ("Local bakery wins award", "/2025/03/bakery", "Bread and pastries."),
         ("AI chatbot and teen mental health: paywalled analysis", "/2025/03/analysis",
          "An AI chatbot and mental health analysis for subscribers.")]


PAYWALL = b"""<html lang="en"><head><title>Analysis</title></head><body><article><h1>Analysis</h1>
<p>Chatbots and teens: what we know.</p><p>To view the full story, please subscribe.</p></article></body></html>"""


def gdelt(base: str) -> bytes:
    return json.dumps({"articles": [
        {"url": f"{base}/wire/family-sues-chatbot-maker", "title": "Family sues chatbot maker", "seendate": "20250304T120000Z",
         "domain": "wire.example", "language": "English", "sourcecountry": "United States"},
        {"url": "ftp://bad.example/x", "title": "not a web page"}]}).encode()


def test_gdelt_answers():
    articles = parse_gdelt(gdelt("https://n.example"))
    assert articles == [{"url": "https://n.example/wire/family-sues-chatbot-maker", "title": "Family sues chatbot maker",
                         "seen": "2025-03-04T12:00:00Z", "domain": "wire.example", "language": "English"}]
    assert parse_gdelt(b"{}") == []
    with pytest.raises(GdeltError, match="too short"):
        parse_gdelt(b"The specified phrase is too short.")
    assert "mode=artlist" in gdelt_url('"AI psychosis"') and "format=json" in gdelt_url("x")


def test_news_harvest_end_to_end(tmp_path, server, make_client, corpus):
    base = server.url
    server.routes["/feed.xml"] = [Reply(200, rss(base, DAILY), {"Content-Type": "application/rss+xml"})]
    server.routes["/broken-feed"] = [Reply(200, b"<html><body>We are down for maintenance</body></html>",
                                           {"Content-Type": "text/html"})]
    server.routes["/api/v2/doc/doc"] = lambda query: Reply(200, gdelt(base), {"Content-Type": "application/json"})
    server.routes["/2025/03/chatbot-suicide-lawsuit"] = [Reply(200, page(
        "Family sues chatbot maker over son's suicide", STORY, "Example Daily",
        canonical=f"{base}/2025/03/chatbot-suicide-lawsuit"), {"Content-Type": "text/html; charset=utf-8"})]
    server.routes["/wire/family-sues-chatbot-maker"] = [Reply(200, page(
        "Ohio family says AI companion encouraged son's suicide", STORY.replace("on Tuesday", "this week"),
        "Wire Service"), {"Content-Type": "text/html"})]
    server.routes["/2025/03/analysis"] = [Reply(200, PAYWALL, {"Content-Type": "text/html"})]
    config = {"feeds": [{"url": f"{base}/feed.xml"}, {"url": f"{base}/broken-feed"}],
              "gdelt": {"queries": ['"chatbot" suicide lawsuit'], "timespan": "1w"}}
    archive = tmp_path / "archive"
    run = harvest_news(corpus, archive, make_client(), config, gdelt_api=f"{base}/api/v2/doc/doc")
    assert run.counts["added"] == 3 and run.status == "partial"
    assert any("broken-feed: an HTML page, not a feed" in e for e in run.errors)
    assert not any(p == "/2025/03/bakery" for p, _, _ in server.requests), "irrelevant entries are not fetched"
    rows = {r["url"]: r for r in corpus.query("SELECT * FROM documents ORDER BY url")}
    story = rows[f"{base}/2025/03/chatbot-suicide-lawsuit"]
    assert story["kind"] == "news" and story["venue"] == "Example Daily" and story["published"].startswith("2025-03-04")
    assert story["extraction_status"] == "extracted" and "federal court" in story["body"]
    assert "newsletter" not in story["body"] and "All rights reserved" not in story["body"]
    authors = [r[0] for r in corpus.execute("SELECT a.name FROM authors a JOIN document_authors d ON d.author_id = a.id "
                                            "WHERE d.document_id = ?", [story["id"]])]
    assert authors == ["Dana Reyes"]
    paywalled = rows[f"{base}/2025/03/analysis"]
    assert paywalled["extraction_status"] == "link-only" and paywalled["extraction_reason"].startswith("paywall")
    assert paywalled["title"] == "Analysis"
    wire = rows[f"{base}/wire/family-sues-chatbot-maker"]
    assert wire["story_id"] == story["story_id"] and wire["story_similarity"] > 0.8
    assert paywalled["story_id"] is None
    again = harvest_news(corpus, archive, make_client(), config, gdelt_api=f"{base}/api/v2/doc/doc")
    assert again.counts["added"] == 0
    assert [p for p, _, _ in server.requests].count("/2025/03/chatbot-suicide-lawsuit") == 1
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt) == table_rows(corpus)


def test_pages_that_fail_are_recorded_and_the_run_goes_on(tmp_path, server, make_client, corpus):
    base = server.url
    feed = rss(base, [("AI chatbot and depression study", "/gone"), ("AI chatbot and suicide prevention", "/huge"),
                      ("AI therapy chatbot and anxiety", "/ok")], "T")
    server.routes["/feed"] = [Reply(200, feed, {"Content-Type": "application/rss+xml"})]
    server.routes["/gone"] = [Reply(410, b"gone")]
    server.routes["/huge"] = [Reply(200, b"<html><body>" + b"<div>" * 200_000 + b"x" * 9_000_000 + b"</body></html>",
                                    {"Content-Type": "text/html"})]
    server.routes["/ok"] = [Reply(200, page("Therapy chatbot study", STORY, "Example"), {"Content-Type": "text/html"})]
    run = harvest_news(corpus, tmp_path / "archive", make_client(), {"feeds": [{"url": f"{base}/feed"}], "gdelt": {}},
                       gdelt_api=f"{base}/api")
    assert run.counts["added"] == 2 and run.counts["failed"] == 1 and run.status == "partial"
    assert any("/gone" in e and "410" in e for e in run.errors)
    huge = corpus.execute("SELECT extraction_status, extraction_reason FROM documents WHERE url LIKE '%/huge'").fetchone()
    assert huge[0] == "link-only" and "too large" in huge[1]


def test_duplicates_redirects_missing_dates_and_other_languages(tmp_path, server, make_client, corpus):
    base = server.url
    feed = rss(base, [("AI chatbot and suicide: a lawsuit", "/moved?utm_source=rss"),
                      ("AI chatbot and suicide: a lawsuit", "/moved?utm_campaign=x"),
                      ("KI-Chatbot und Depression: AI chatbot depression", "/de")], "T")
    german = ("<html lang='de'><head><title>Klage gegen Chatbot-Hersteller</title></head><body><article>"
              + "<p>Eine Familie verklagt den Hersteller eines Chatbots, weil die App ihren Sohn in einer Krise "
                "nicht an Hilfsangebote verwiesen habe. Fachleute fordern strengere Regeln.</p>" * 4
              + "</article></body></html>").encode()
    undated = re.sub(rb'<meta property="article:published_time"[^>]*>', b"", page("Family sues chatbot maker", STORY, "Example"))
    server.routes["/feed"] = [Reply(200, feed, {"Content-Type": "application/rss+xml"})]
    server.routes["/moved"] = [Reply(301, b"", {"Location": f"{base}/final"})]
    server.routes["/final"] = [Reply(200, undated, {"Content-Type": "text/html"})]
    server.routes["/de"] = [Reply(200, german, {"Content-Type": "text/html; charset=utf-8"})]
    run = harvest_news(corpus, tmp_path / "archive", make_client(), {"feeds": [{"url": f"{base}/feed"}], "gdelt": {}},
                       gdelt_api=f"{base}/api")
    assert run.status == "ok" and run.counts["added"] == 2
    assert [p for p, _, _ in server.requests].count("/moved") == 1, "a duplicate entry is fetched once"
    rows = {r["url"]: r for r in corpus.query("SELECT url, language, published, title FROM documents")}
    assert rows[f"{base}/final"]["published"] is None and rows[f"{base}/final"]["title"] == "Family sues chatbot maker"
    assert rows[f"{base}/de"]["language"] == "de"


def test_commands_load_a_saved_page_then_match_incidents(tmp_path):
    saved = tmp_path / "page.html"
    saved.write_bytes(page("Family sues chatbot maker over son's suicide", STORY, "Example Daily"))
    db_path = tmp_path / "corpus.db"
    url = "https://apnews.com/article/chatbot-ai-lawsuit-suicide-teen-artificial-intelligence-9d48adc572100822fdbc3c90d1456bd0"
    for command in (["seed", str(db_path), "--quiet"], ["news", str(db_path), "--load", str(saved), "--url", url]):
        run = subprocess.run([sys.executable, "-m", "harvest", *command], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    assert "news run" in run.stdout and "added 0" in run.stdout and "updated 1" in run.stdout
    matched = subprocess.run([sys.executable, "-m", "harvest", "incidents", str(db_path)], capture_output=True, text=True)
    curated = len([i for i in load_curation() if not i.merged_into])
    assert matched.returncode == 0 and f"{curated} curated incident(s) with 5 curated report link(s)" in matched.stdout
    db = database.connect(db_path)
    title, kind, status = db.execute("SELECT title, kind, extraction_status FROM documents WHERE url = ?", [url]).fetchone()
    assert (title, kind, status) == ("Family sues chatbot maker over son's suicide", "news", "extracted")
    missing = subprocess.run([sys.executable, "-m", "harvest", "news", str(db_path), "--load", str(saved)],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "needs --url" in missing.stderr


def test_stories_group_copies_and_only_copies():
    from harvest.stories import find_stories
    other = ("A state health department launched a review of mental health apps used in schools after parents "
             "complained that several of them collected location data. Officials said the review would look at "
             "consent screens, data retention and whether counsellors were told when a student reported distress. "
             "Vendors have thirty days to answer, and the department will publish its findings in the spring, "
             "together with guidance for districts choosing apps for the next school year.") * 2
    copy = "Editor's note: this story was updated. " + STORY.replace("on Tuesday", "this week")
    found = find_stories({"first": STORY, "copy": copy, "other": other, "short": "Too short to judge."},
                         {"first": "2025-03-04", "copy": "2025-03-05", "other": "2025-03-01"})
    assert found["first"][0] == found["copy"][0] == "first" and found["copy"][1] > 0.8
    assert "other" not in found and "short" not in found


def test_an_unchanged_feed_is_asked_conditionally_and_costs_nothing(tmp_path, server, make_client, corpus):
    base = server.url
    feed = rss(base, [("AI therapy chatbot and anxiety", "/ok")], "T")

    def answer(query, headers):
        if headers.get("If-None-Match") == '"v1"':
            return Reply(304)
        return Reply(200, feed, {"Content-Type": "application/rss+xml", "ETag": '"v1"'})
    server.routes["/feed"] = answer
    server.routes["/ok"] = [Reply(200, page("Therapy chatbot study", STORY, "Example"), {"Content-Type": "text/html"})]
    config = {"feeds": [{"url": f"{base}/feed"}], "gdelt": {}}
    first = harvest_news(corpus, tmp_path / "archive", make_client(), config, gdelt_api=f"{base}/api")
    assert first.counts["added"] == 1
    second = harvest_news(corpus, tmp_path / "archive", make_client(), config, gdelt_api=f"{base}/api")
    feed_requests = [headers for path, _, headers in server.requests if path == "/feed"]
    assert feed_requests[0].get("If-None-Match") is None and feed_requests[1].get("If-None-Match") == '"v1"'
    assert second.status == "ok" and second.counts["added"] == 0 and any("304" in n for n in second.notes)
    assert [path for path, _, _ in server.requests].count("/ok") == 1
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, tmp_path / "archive")
    assert table_rows(rebuilt)["feed_validators"] == table_rows(corpus)["feed_validators"]
    assert rebuilt.execute("SELECT etag FROM feed_validators").fetchone()[0] == '"v1"'
