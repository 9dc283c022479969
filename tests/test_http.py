"""The HTTP client against a real server on 127.0.0.1."""

import gzip

import pytest

from conftest import Reply
from harvest.archive import RunArchive, read_run
from harvest.http import HttpError, is_public_address, parse_retry_after, redact_url


def archived(tmp_path, make_client, **options):
    archive = RunArchive(tmp_path / "archive", "test", "run1", {})
    return archive, make_client(archive=archive, **options)


def records_of(archive):
    archive.close()
    _, records = read_run(archive.path)
    return list(records)


def test_429_waits_as_retry_after_says_then_succeeds(server, make_client):
    server.routes["/data"] = [Reply(429, b"slow down", {"Retry-After": "7"}), Reply(200, b"ok")]
    waits = []
    client = make_client(sleep=waits.append)
    assert client.get(server.url + "/data").body == b"ok"
    assert 7.0 in waits


def test_500_then_success_is_retried_with_backoff(server, make_client):
    server.routes["/data"] = [Reply(500), Reply(503), Reply(200, b"fine")]
    waits = []
    response = make_client(sleep=waits.append, backoff=0.5).get(server.url + "/data")
    assert response.status == 200 and response.body == b"fine"
    assert [w for w in waits if w >= 0.5] == [0.5, 1.0]


def test_persistent_500_fails_with_the_status(server, make_client):
    server.routes["/data"] = [Reply(500)]
    with pytest.raises(HttpError) as error:
        make_client(retries=2).get(server.url + "/data")
    assert error.value.kind == "status" and error.value.status == 500
    assert len([r for r in server.requests if r[0] == "/data"]) == 3


def test_retry_after_longer_than_allowed_gives_up_at_once(server, make_client):
    server.routes["/data"] = [Reply(503, headers={"Retry-After": "86400"})]
    with pytest.raises(HttpError, match="wait 86400s"):
        make_client().get(server.url + "/data")


def test_timeout_is_retried_then_reported(server, make_client):
    server.routes["/slow"] = [Reply(200, b"late", delay=1.5)]
    with pytest.raises(HttpError) as error:
        make_client(read_timeout=0.3, retries=1).get(server.url + "/slow")
    assert error.value.kind == "timeout"
    assert "timed out" in str(error.value) and "/slow" in str(error.value)


def test_truncated_body_is_an_error_not_a_short_document(server, make_client):
    server.routes["/cut"] = [Reply(200, b"<xml>" + b"x" * 5000, truncate_to=100)]
    with pytest.raises(HttpError) as error:
        make_client(retries=0).get(server.url + "/cut")
    assert error.value.kind == "truncated"


def test_body_over_the_cap_is_refused(server, make_client):
    server.routes["/big"] = [Reply(200, b"x" * 5000)]
    with pytest.raises(HttpError) as error:
        make_client(max_bytes=1000).get(server.url + "/big")
    assert error.value.kind == "too_large"


def test_cap_applies_after_decompression(server, make_client):
    bomb = gzip.compress(b"a" * 200_000)
    server.routes["/bomb"] = [Reply(200, bomb, {"Content-Encoding": "gzip"})]
    assert len(bomb) < 10_000
    with pytest.raises(HttpError, match="after decompression"):
        make_client(max_bytes=10_000).get(server.url + "/bomb")


def test_redirect_to_a_private_address_is_refused(server, make_client):
    server.routes["/go"] = [Reply(302, headers={"Location": f"http://127.0.0.2:{server.port}/inside"})]
    with pytest.raises(HttpError) as error:
        make_client().get(server.url + "/go")
    assert error.value.kind == "private_address" and "127.0.0.2" in str(error.value)
    assert not any(r[0] == "/inside" for r in server.requests)


def test_loopback_is_refused_unless_allowed(server, make_client):
    server.routes["/x"] = [Reply(200, b"x")]
    with pytest.raises(HttpError, match="non-public address"):
        make_client(allowed_networks=()).get(server.url + "/x")
    assert server.requests == []


def test_redirects_are_followed_when_safe(server, make_client):
    server.routes["/old"] = [Reply(301, headers={"Location": "/new"})]
    server.routes["/new"] = [Reply(200, b"moved")]
    response = make_client().get(server.url + "/old")
    assert response.body == b"moved" and response.url.endswith("/new")


@pytest.mark.parametrize("address, public", [
    ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.1.1", False), ("169.254.169.254", False),
    ("127.0.0.1", False), ("::1", False), ("fc00::1", False), ("100.64.0.1", False),
    ("::ffff:10.0.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("8.8.8.8", True), ("2606:4700:4700::1111", True)])
def test_public_address_classification(address, public):
    assert is_public_address(address) is public


def test_non_http_schemes_are_refused(make_client):
    with pytest.raises(HttpError) as error:
        make_client().get("file:///etc/passwd")
    assert error.value.kind == "scheme"


def test_robots_disallow_is_respected(server, make_client):
    server.routes["/robots.txt"] = [Reply(200, b"User-agent: *\nDisallow: /private\n")]
    server.routes["/private/page"] = [Reply(200, b"secret")]
    server.routes["/public"] = [Reply(200, b"hello")]
    client = make_client()
    with pytest.raises(HttpError) as error:
        client.get(server.url + "/private/page")
    assert error.value.kind == "robots"
    assert client.get(server.url + "/public").body == b"hello"
    assert not any(r[0] == "/private/page" for r in server.requests)
    assert [r[0] for r in server.requests].count("/robots.txt") == 1


def test_documented_api_hosts_skip_robots(server, make_client):
    server.routes["/robots.txt"] = [Reply(200, b"User-agent: *\nDisallow: /\n")]
    server.routes["/api"] = [Reply(200, b"data")]
    client = make_client()
    client.treat_as_api("127.0.0.1")
    assert client.get(server.url + "/api").body == b"data"
    assert "/robots.txt" not in [r[0] for r in server.requests]


def test_robots_server_error_means_stay_out(server, make_client):
    server.routes["/robots.txt"] = [Reply(503)]
    with pytest.raises(HttpError, match="robots.txt disallows"):
        make_client(retries=0).get(server.url + "/anything")


def test_conditional_get_sends_validators_and_reports_304(server, make_client):
    server.routes["/page"] = [Reply(200, b"v1", {"ETag": '"abc"', "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"}),
                              Reply(304)]
    client = make_client()
    first = client.get(server.url + "/page")
    second = client.get(server.url + "/page", etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified and second.body == b""
    headers = server.requests[-1][2]
    assert headers["If-None-Match"] == '"abc"'
    assert headers["If-Modified-Since"] == "Wed, 01 Jan 2025 00:00:00 GMT"


def test_user_agent_names_the_project_and_a_contact(server, make_client):
    server.routes["/x"] = [Reply(200, b"x")]
    make_client(contact="mailto:team@example.org").get(server.url + "/x")
    agent = server.requests[-1][2]["User-Agent"]
    assert "llm-mh-evidence-harvester" in agent and "team@example.org" in agent


def test_rate_limit_spaces_requests_to_one_host(server, make_client):
    server.routes["/x"] = [Reply(200, b"x")]
    waits = []
    client = make_client(sleep=waits.append, rate_limits={"127.0.0.1": 2.0})
    for _ in range(3):
        client.get(server.url + "/x")
    assert len([w for w in waits if 0.3 < w <= 0.5]) >= 2


def test_every_response_and_failure_is_archived_without_secrets(tmp_path, server, make_client):
    server.routes["/ok"] = [Reply(500), Reply(200, b"payload", {"Content-Type": "text/xml"})]
    server.routes["/gone"] = [Reply(404, b"nope")]
    archive, client = archived(tmp_path, make_client)
    client.get(server.url + "/ok", {"api_key": "SEKRIT", "email": "me@example.org", "q": "x"})
    with pytest.raises(HttpError) as error:
        client.get(server.url + "/gone", {"api_key": "SEKRIT"})
    assert "SEKRIT" not in str(error.value)
    records = records_of(archive)
    kinds = [(r.type, r.status) for r in records]
    assert kinds == [("response", 404), ("response", 500), ("response", 200),
                     ("response", 404), ("failure", None)]
    assert records[2].body == b"payload" and "q=x" in records[2].uri
    assert records[4].meta["kind"] == "status" and records[4].meta["final"]
    raw = gzip.decompress(archive.path.read_bytes())
    assert b"SEKRIT" not in raw and b"me@example.org" not in raw


def test_redact_url_and_retry_after_parsing():
    assert redact_url("https://h/x?api_key=1&term=a") == "https://h/x?api_key=REDACTED&term=a"
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
