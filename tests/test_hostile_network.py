"""Servers built to misbehave, all on 127.0.0.1: each answer may fail, with its reason recorded,
and the run goes on with the other items."""

import gzip
import json
import socket
import time

import pytest

from conftest import Reply
from harvest.archive import RunArchive, read_run
from harvest.http import HttpError
from harvest.sources.news import harvest_news
from test_news import STORY, page, rss

REAL_GETADDRINFO = socket.getaddrinfo
PUBLIC = "93.184.216.34"


def archive_text(archive) -> bytes:
    archive.close()
    return gzip.decompress(archive.path.read_bytes())


def fake_dns(monkeypatch, answers: dict[str, list[str]]):
    """Names answered from `answers`, one address per call in turn (the last repeats)."""
    calls = {name: 0 for name in answers}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        sequence = answers[host]
        address = sequence[min(calls[host], len(sequence) - 1)]
        calls[host] += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def test_dns_rebinding_is_refused_before_connecting(server, make_client, monkeypatch, tmp_path):
    """The name answers public for the check, then 127.0.0.1: the socket is never opened."""
    server.routes["/secret"] = [Reply(200, b"internal data")]
    calls = fake_dns(monkeypatch, {"rebind.test": [PUBLIC, "127.0.0.1"]})
    archive = RunArchive(tmp_path / "archive", "test", "run1", {})
    client = make_client(allowed_networks=(), archive=archive, respect_robots=False)
    with pytest.raises(HttpError) as error:
        client.get(f"http://rebind.test:{server.port}/secret")
    assert error.value.kind == "private_address" and "127.0.0.1" in str(error.value)
    assert calls["rebind.test"] == 2
    assert not any(path == "/secret" for path, _, _ in server.requests)
    assert b"internal data" not in archive_text(archive)


def test_the_connection_goes_to_the_address_that_was_checked(server, make_client, monkeypatch):
    """A name whose later answers point elsewhere is still fetched from the checked address."""
    server.routes["/page"] = [Reply(200, b"hello")]
    fake_dns(monkeypatch, {"pinned.test": ["127.0.0.1"]})
    client = make_client(respect_robots=False)
    assert client.get(f"http://pinned.test:{server.port}/page").body == b"hello"
    assert server.requests[-1][2]["Host"] == f"pinned.test:{server.port}"


def drip(wfile):
    wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n")
    wfile.flush()
    for _ in range(200):
        wfile.write(b"x")
        wfile.flush()
        time.sleep(0.1)


def test_a_dripped_body_is_cut_off_at_the_attempt_deadline(server, make_client):
    server.routes["/drip"] = [Reply(raw=drip)]
    client = make_client(attempt_deadline=1.0, read_timeout=5.0, retries=3)
    started = time.monotonic()
    with pytest.raises(HttpError) as error:
        client.get(server.url + "/drip")
    assert error.value.kind == "deadline" and "cut off" in str(error.value)
    assert time.monotonic() - started < 5, "a deadline is not retried"
    assert [p for p, _, _ in server.requests].count("/drip") == 1


def test_a_silent_server_costs_one_request_deadline_not_retries_times_timeouts(server, make_client):
    server.routes["/silent"] = [Reply(raw=lambda wfile: time.sleep(20))]
    client = make_client(read_timeout=0.4, retries=20, backoff=0.2, sleep=time.sleep, request_deadline=2.0)
    started = time.monotonic()
    with pytest.raises(HttpError) as error:
        client.get(server.url + "/silent")
    assert error.value.kind == "deadline"
    assert time.monotonic() - started < 4
    assert [p for p, _, _ in server.requests].count("/silent") < 6


def test_a_source_time_budget_stops_asking(server, make_client):
    server.routes["/a"] = [Reply(200, b"a")]
    now = [1000.0]
    client = make_client(time_budget=60.0, clock=lambda: now[0])
    assert client.get(server.url + "/a").body == b"a"
    now[0] += 61
    with pytest.raises(HttpError) as error:
        client.get(server.url + "/a")
    assert error.value.kind == "budget" and "time budget of 60s" in str(error.value)
    assert [p for p, _, _ in server.requests].count("/a") == 1


def cut_gzip(body: bytes, keep: float = 0.5):
    compressed = gzip.compress(body)

    def answer(wfile):  # no Content-Length: the end of the connection is the end of the body
        wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n"
                    b"Connection: close\r\n\r\n" + compressed[:int(len(compressed) * keep)])
    return answer


def test_a_truncated_gzip_body_is_a_failure_not_content(server, make_client, tmp_path):
    server.routes["/cut"] = [Reply(raw=cut_gzip(b"<p>paragraph</p>" * 5000))]
    archive = RunArchive(tmp_path / "archive", "test", "run1", {})
    with pytest.raises(HttpError) as error:
        make_client(retries=1, archive=archive).get(server.url + "/cut")
    assert error.value.kind == "truncated" and "end marker" in str(error.value)
    archive.close()
    _, records = read_run(archive.path)
    assert [r.type for r in records if r.uri.endswith("/cut")] == ["failure", "failure"], \
        "nothing was archived as a response"


def test_a_whole_gzip_body_without_length_is_read(server, make_client):
    server.routes["/whole"] = [Reply(raw=cut_gzip(b"<p>paragraph</p>" * 5000, keep=1.0))]
    assert make_client().get(server.url + "/whole").body == b"<p>paragraph</p>" * 5000


@pytest.mark.parametrize("location, kind", [("http://127.0.0.1:99999/x", "bad_url"), ("http://[::1/x", "bad_url"),
                                            ("http://[::1]:99999/x", "bad_url"), ("gopher://x/", "scheme")])
def test_a_redirect_to_an_unusable_url_fails_that_request(server, make_client, location, kind):
    server.routes["/moved"] = [Reply(302, b"", {"Location": location})]
    with pytest.raises(HttpError) as error:
        make_client().get(server.url + "/moved")
    assert error.value.kind == kind


def test_a_news_run_goes_on_past_bad_redirects_truncated_pages_and_deep_json(tmp_path, server, make_client, corpus):
    base = server.url
    items = [("AI chatbot and depression: port", "/port"), ("AI chatbot and suicide: bracket", "/bracket"),
             ("AI chatbot and anxiety: cut", "/cut"), ("AI therapy chatbot and anxiety", "/ok")]
    server.routes["/feed"] = [Reply(200, rss(base, items, "T"), {"Content-Type": "application/rss+xml"})]
    server.routes["/port"] = [Reply(301, b"", {"Location": "http://127.0.0.1:99999/x"})]
    server.routes["/bracket"] = [Reply(302, b"", {"Location": "http://[::1/x"})]
    server.routes["/cut"] = [Reply(raw=cut_gzip(page("Chatbot study", STORY, "Example")))]
    server.routes["/ok"] = [Reply(200, page("Therapy chatbot study", STORY, "Example"), {"Content-Type": "text/html"})]
    deep = b"[" * 200_000 + b"]" * 200_000
    server.routes["/api"] = [Reply(200, deep, {"Content-Type": "application/json"})]
    run = harvest_news(corpus, tmp_path / "archive", make_client(retries=0),
                       {"feeds": [{"url": f"{base}/feed"}], "gdelt": {"queries": ["chatbot suicide"]}},
                       gdelt_api=f"{base}/api")
    assert run.counts["added"] == 1 and run.status == "partial"
    errors = "\n".join(run.errors)
    assert "99999/x: not a usable URL: Port out of range" in errors
    assert "/bracket: the answer points to an unusable URL: Invalid IPv6 URL" in errors
    assert "/cut: body: the compressed body ends before its end marker" in errors
    assert "GDELT did not answer with JSON" in errors
    urls = [r[0] for r in corpus.execute("SELECT url FROM documents")]
    assert any(u.endswith("/ok") for u in urls) and not any(u.endswith("/cut") for u in urls)


def test_secrets_echoed_in_bodies_and_headers_never_reach_the_archive(server, make_client, tmp_path, monkeypatch):
    """Marker keys: one given to the client, one sent in a URL, one in the environment, an e-mail."""
    monkeypatch.setenv("NCBI_API_KEY", "MARKER-ENV-KEY-3c1d")
    server.routes["/api"] = lambda query: Reply(
        400, json.dumps({"error": "bad request", "echo": query, "key": "MARKER-GIVEN-KEY-9f2a",
                         "env": "MARKER-ENV-KEY-3c1d", "contact": "curator@example.org"}).encode(),
        {"X-Echo-Key": "MARKER-URL-KEY-77b0", "Content-Type": "application/json"})
    archive = RunArchive(tmp_path / "archive", "test", "run1", {})
    client = make_client(archive=archive, secrets=("MARKER-GIVEN-KEY-9f2a",), contact="curator@example.org",
                         retries=0)
    with pytest.raises(HttpError):
        client.get(server.url + "/api", params={"apikey": "MARKER-URL-KEY-77b0", "q": "x"})
    text = archive_text(archive)
    for marker in (b"MARKER-GIVEN-KEY-9f2a", b"MARKER-URL-KEY-77b0", b"MARKER-ENV-KEY-3c1d", b"curator@example.org",
                   b"curator%40example.org"):
        assert marker not in text
    assert text.count(b"REDACTED") >= 5


def test_a_truncated_guidance_page_is_no_new_version(tmp_path, server, make_client, corpus):
    """A watched page of 120 paragraphs answers once whole, then gzipped and cut mid-stream with
    no Content-Length: the cut answer is a failure; no version with paragraphs removed appears."""
    from harvest.sources.guidance import harvest_guidance
    from test_guidance import guidance_page
    paragraphs = [f"Advice number {n} on chatbots in mental health care is reviewed each year." for n in range(120)]
    whole = guidance_page(paragraphs, "1 March 2025")
    server.routes["/guidance"] = [Reply(200, whole, {"Content-Type": "text/html; charset=utf-8"}),
                                  Reply(raw=cut_gzip(whole, keep=0.3))]
    pages = [{"url": server.url + "/guidance", "organisation": "Example Association"}]
    first = harvest_guidance(corpus, tmp_path / "archive", make_client(), pages)
    assert first.status == "ok"
    second = harvest_guidance(corpus, tmp_path / "archive", make_client(retries=0), pages)
    assert second.status == "failed" and "end marker" in second.errors[0]
    versions = corpus.execute("SELECT version, change FROM document_versions").fetchall()
    assert versions == [(1, "first seen")]
    assert corpus.execute("SELECT count(*) FROM changes").fetchone()[0] == 0


def test_an_empty_answer_marked_gzip_is_no_truncation(server, make_client):
    """A 304 or a redirect may carry Content-Encoding: gzip and no body at all."""
    server.routes["/same"] = [Reply(304, b"", {"Content-Encoding": "gzip"})]
    assert make_client().get(server.url + "/same", etag='"v1"').not_modified
