"""A local server imitating the sources for nightly runs (tests and benchmarks/bench_nightly.py):
a guidance page answering conditional GETs with 304, a news feed with two reports about
chatbots and mental health, and an arXiv API answer; plus an E-utilities address that answers
404 (a moved API) and a feed that hangs. `schedule` writes a schedule file pointing at them."""

from __future__ import annotations

from pathlib import Path

import yaml

from conftest import Reply, ScriptedServer

ADVICE = ["Psychologists should not rely on generative AI chatbots to assess suicide risk.",
          "Clients should be told when an AI chatbot is used in their care and what data it keeps."]
STORY = ("A family has filed a lawsuit against the maker of a companion chatbot, saying the app encouraged "
         "their teenage son during months of conversations before he died by suicide. The complaint says the "
         "chatbot presented itself as a therapist and discouraged the boy from talking to his parents. "
         "Mental health researchers said large language models tend to agree with their users and can "
         "reinforce hopeless thinking, and that companion apps are rarely evaluated before teenagers use them. "
         "The company said it has since added a pop-up pointing users who mention self-harm to a crisis line.")


def guidance_page(paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p} " + "The association reviews this advice as evidence accumulates. " * 3 + "</p>"
                   for p in paragraphs)
    return (f"<html lang='en'><head><title>AI chatbots in mental health care</title></head><body><main><article>"
            f"<h1>AI chatbots in mental health care</h1>{body}</article></main></body></html>").encode()


def news_page(title: str, body: str) -> bytes:
    paragraphs = "".join(f"<p>{p}.</p>" for p in body.split(". ") if p)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"<meta property='og:site_name' content='Example Daily'>"
            f"<meta property='article:published_time' content='2025-03-04T09:30:00Z'></head>"
            f"<body><article><h1>{title}</h1>{paragraphs}</article></body></html>").encode()


def rss(base: str) -> bytes:
    items = [("Family sues chatbot maker over son's suicide", "/news/chatbot-suicide-lawsuit",
              "A lawsuit says an AI companion chatbot encouraged a teen's suicide; mental health experts weigh in."),
             ("Therapists warn about AI chatbots for depression", "/news/therapists-warn",
              "Mental health professionals say chatbots are no substitute for therapy.")]
    entries = "".join(f"<item><title>{t}</title><link>{base}{p}</link><description>{d}</description>"
                      f"<pubDate>Tue, 04 Mar 2025 10:00:00 GMT</pubDate></item>" for t, p, d in items)
    return f"<rss version='2.0'><channel><title>Example Daily</title><link>{base}</link>{entries}</channel></rss>".encode()


def arxiv_feed(count: int = 3) -> bytes:
    entries = "".join(f"""<entry><id>http://arxiv.org/abs/2501.{n:05d}v1</id>
<updated>2025-06-01T00:00:00Z</updated><published>2025-01-02T10:00:00Z</published>
<title>A large language model chatbot for depression, study {n}</title>
<summary>We evaluate an LLM chatbot that delivers cognitive behavioural therapy to adults with depression
and anxiety, and report safety events and symptom change over eight weeks (study {n}).</summary>
<author><name>Ada Lovelace</name></author><arxiv:primary_category term="cs.CL"/><category term="cs.CL"/></entry>"""
                      for n in range(1, count + 1))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
 xmlns:arxiv="http://arxiv.org/schemas/atom"><title>arXiv Query</title>
<opensearch:totalResults>{count}</opensearch:totalResults><opensearch:startIndex>0</opensearch:startIndex>
{entries}</feed>""".encode()


class Sources:
    """The imitation. `guidance_version` picks the page's text (1 or 2); requests are logged."""

    def __init__(self):
        self.server = ScriptedServer()
        self.guidance_version = 1
        base = self.server.url
        routes = self.server.routes
        routes["/robots.txt"] = [Reply(404)]
        routes["/guidance/ai"] = self._guidance
        routes["/news/feed.xml"] = [Reply(200, rss(base), {"Content-Type": "application/rss+xml"})]
        routes["/news/chatbot-suicide-lawsuit"] = [Reply(200, news_page("Family sues chatbot maker over son's suicide", STORY),
                                                         {"Content-Type": "text/html; charset=utf-8"})]
        routes["/news/therapists-warn"] = [Reply(200, news_page(
            "Therapists warn about AI chatbots for depression",
            STORY.replace("A family has filed", "Therapists warned this week after a family filed")),
            {"Content-Type": "text/html; charset=utf-8"})]
        routes["/arxiv/api/query"] = lambda query: Reply(200, arxiv_feed(), {"Content-Type": "application/atom+xml"})
        routes["/hang/feed.xml"] = [Reply(200, rss(base), {"Content-Type": "application/rss+xml"}, delay=60)]

    def _guidance(self, query, headers):
        etag = f'"v{self.guidance_version}"'
        if headers.get("If-None-Match") == etag:
            return Reply(304, b"", {"ETag": etag})
        text = ADVICE if self.guidance_version == 1 else [ADVICE[0].replace("should not", "must not"), *ADVICE[1:]]
        return Reply(200, guidance_page(text), {"Content-Type": "text/html; charset=utf-8", "ETag": etag})

    @property
    def url(self) -> str:
        return self.server.url

    def close(self):
        self.server.close()


def schedule(path: Path, sources: Sources, *, failing: bool = False, hanging: bool = False,
             budget: str = "5m") -> Path:
    """A schedule file: guidance, news and arxiv against `sources`; with `failing`, pubmed against a
    closed port; with `hanging`, jmir against a feed that answers after 60 s (budget 4 s)."""
    base = sources.url
    entries = {
        "guidance": {"cadence": "2d", "budget": budget, "args": ["--page", f"{base}/guidance/ai"]},
        "news": {"cadence": "2d", "budget": budget, "args": ["--feed", f"{base}/news/feed.xml"]},
        "arxiv": {"cadence": "2d", "budget": budget, "args": ["--api", f"{base}/arxiv/api/query", "--query", "cat:cs.CL"]},
    }
    if failing:  # E-utilities that answer 404 to everything (a moved API)
        entries["pubmed"] = {"cadence": "2d", "budget": budget,
                             "args": ["--eutils", f"{base}/moved/eutils/", "--since", "2025-01-01"]}
    if hanging:
        entries["jmir"] = {"cadence": "3d", "budget": "4s", "args": ["--feed", f"{base}/hang/feed.xml"]}
    path.write_text(yaml.safe_dump({"sources": entries, "release": {"max_relevant_loss": 0.05}}, sort_keys=False))
    return path
