"""Guidance pages watched for change, against a page on 127.0.0.1 that changes between runs."""

import pytest

from conftest import Reply, table_rows
from harvest import db as database
from harvest.sources.guidance import harvest_guidance, parse_page
from harvest.rebuild import rebuild
from harvest.versions import normalised

ADVICE = [
    "Psychologists should not rely on generative AI chatbots to assess suicide risk.",
    "Clients should be told when an AI tool is used in their care and what data it keeps.",
    "Chatbots marketed as therapy should be evaluated before clinical use, like any intervention.",
]


def guidance_page(paragraphs: list[str], updated: str) -> bytes:
    body = "".join(f"<p>{p} " + "The association reviews this advice as evidence accumulates. " * 3 + "</p>"
                   for p in paragraphs)
    return (f"<html lang='en'><head><title>AI in mental health care</title></head><body><nav>Home | About</nav>"
            f"<main><article><h1>Artificial intelligence in mental health care</h1>{body}"
            f"<p>Last updated: {updated}</p></article></main><footer>© 2025 Example Association</footer>"
            f"</body></html>").encode()


def test_versions_diffs_and_a_quiet_304(tmp_path, server, make_client, corpus):
    url = server.url + "/practice/ai-guidance"
    reworded = [ADVICE[0].replace("should not", "must not"), *ADVICE[1:]]
    answers = [guidance_page(ADVICE[:2], "1 March 2025"),   # first sight
               guidance_page(ADVICE[:3], "2 April 2025"),   # a paragraph added
               guidance_page(reworded, "5 May 2025"),       # a sentence reworded
               guidance_page(reworded, "9 June 2025")]      # only the last-updated line changed
    server.routes["/practice/ai-guidance"] = [
        Reply(200, body, {"Content-Type": "text/html; charset=utf-8", "ETag": f'"v{n}"'})
        for n, body in enumerate(answers, start=1)] + [Reply(304)]
    pages = [{"url": url, "organisation": "Example Association"}]
    archive = tmp_path / "archive"

    for _ in range(4):
        run = harvest_guidance(corpus, archive, make_client(), pages)
        assert run.status == "ok"
    versions = corpus.execute("SELECT version, change, diff IS NOT NULL FROM document_versions ORDER BY version").fetchall()
    assert [(v, d) for v, _, d in versions] == [(1, 0), (2, 1), (3, 1)]
    assert versions[0][1] == "first seen" and versions[1][1] == "text changed: 1 paragraph(s) added, 0 removed"
    diff = corpus.execute("SELECT diff FROM document_versions WHERE version = 3").fetchone()[0]
    assert "-Psychologists should not rely" in diff and "+Psychologists must not rely" in diff
    changes = corpus.execute("SELECT version, change, title FROM changes ORDER BY version").fetchall()
    assert [c[0] for c in changes] == [2, 3] and changes[0][2] == "Artificial intelligence in mental health care"
    document = corpus.execute("SELECT kind, venue, page_status FROM documents").fetchone()
    assert document == ("guidance", "Example Association", "current")

    before = table_rows(corpus)
    run = harvest_guidance(corpus, archive, make_client(), pages)
    assert run.status == "ok" and run.counts["unchanged"] == 1
    assert table_rows(corpus) == before, "a 304 writes nothing"
    conditional = [h for p, _, h in server.requests if p == "/practice/ai-guidance"][-1]
    assert conditional.get("If-None-Match") == '"v4"'

    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt) == table_rows(corpus)


def test_moved_gone_and_unreadable_pages(tmp_path, server, make_client, corpus):
    base = server.url
    server.routes["/old"] = [Reply(301, b"", {"Location": f"{base}/new"})]
    server.routes["/new"] = [Reply(200, guidance_page(ADVICE, "1 May 2025"), {"Content-Type": "text/html"})]
    server.routes["/advisory"] = [Reply(200, guidance_page(ADVICE[:1], "1 May 2025"), {"Content-Type": "text/html"}),
                                  Reply(410, b"gone")]
    server.routes["/walled"] = [Reply(200, guidance_page(ADVICE[1:], "1 May 2025"), {"Content-Type": "text/html"}),
                                Reply(200, b"<html><body><p>We use cookies. Accept all cookies to continue.</p></body></html>",
                                      {"Content-Type": "text/html"})]
    pages = [{"url": f"{base}/{p}", "organisation": "Example"} for p in ("old", "advisory", "walled")]
    archive = tmp_path / "archive"
    harvest_guidance(corpus, archive, make_client(), pages)
    second = harvest_guidance(corpus, archive, make_client(), pages)
    assert second.status == "ok"
    status = dict(corpus.execute("SELECT url, page_status FROM documents").fetchall())
    assert status == {f"{base}/old": "moved", f"{base}/advisory": "gone", f"{base}/walled": "unreadable"}
    advisory = corpus.execute("SELECT v.version, v.change, v.text IS NOT NULL FROM document_versions v JOIN documents d "
                              "ON d.id = v.document_id WHERE d.url = ? ORDER BY v.version", [f"{base}/advisory"]).fetchall()
    assert advisory == [(1, "first seen", 1), (2, "gone (HTTP 410)", 0)], "earlier versions are kept"
    walled = corpus.execute("SELECT count(*), max(d.body LIKE '%cookies%') FROM document_versions v JOIN documents d "
                            "ON d.id = v.document_id WHERE d.url = ?", [f"{base}/walled"]).fetchone()
    assert walled == (1, 0), "a consent wall never replaces the readable version"
    assert any("unreadable (consent wall" in n for n in second.notes)
    rebuilt = database.connect(tmp_path / "rebuilt.db")
    rebuild(rebuilt, archive)
    assert table_rows(rebuilt) == table_rows(corpus)


@pytest.mark.parametrize("text, kept", [
    ("Advice one.\nLast updated: 3 March 2025\nAdvice two.", "Advice one.\nAdvice two."),
    ("Advice.\n© 2025 American Example Association. All rights reserved.", "Advice."),
    ("Advice.\nContent current as of: 03/05/2025\nPage last reviewed: 4 May 2025\nMonday, 5 May 2025", "Advice."),
    ("Updated guidance on chatbots came into force in 2025 and applies to all members of the association, "
     "whatever their setting, with a transition period for existing services and tools.",
     "Updated guidance on chatbots came into force in 2025 and applies to all members of the association, "
     "whatever their setting, with a transition period for existing services and tools."),
])
def test_boilerplate_is_left_out_of_the_comparison(text, kept):
    assert normalised(text) == kept


def pdf(text: str, producer: str = "test") -> bytes:
    """A one-page PDF showing `text` (written by hand: objects, cross-reference table, trailer)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               b"<< /Producer (%s) >>" % producer.encode()]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, table)


def test_a_pdf_is_kept_by_its_text_or_else_its_bytes():
    advice = "Chatbots must refer people in crisis to a hotline."
    parsed = parse_page(pdf(advice), "https://example.org/g.pdf", "application/pdf")
    assert (parsed["status"], parsed["text"]) == ("pdf", advice)
    resaved = parse_page(pdf(advice, producer="another tool"), "https://example.org/g.pdf", "application/pdf")
    assert resaved["hash"] == parsed["hash"], "the same text re-saved is not a new version"
    unreadable = parse_page(b"%PDF-1.4 not really a pdf", "https://example.org/g.pdf", "application/pdf")
    assert len(unreadable["hash"]) == 64 and "no text could be read" in unreadable["reason"]
