"""The seed list: the founding article, its references and their citation links."""

import json

import pytest
import yaml

from harvest.identifiers import canonical_url, identifiers_from_url, normalise_doi
from harvest.sources.seed import DEFAULT_SEED, SeedError, load_seed, parse_seed

SEED = DEFAULT_SEED.read_bytes()


def test_every_listed_identifier_is_what_the_url_states():
    spec = yaml.safe_load(SEED)
    for entry in spec["references"]:
        derived = identifiers_from_url(entry["url"])
        for scheme, value in (entry.get("identifiers") or {}).items():
            assert derived.get(scheme, "").lower() == str(value).lower(), entry["url"]


def test_urls_are_unique_and_kinds_known():
    spec = yaml.safe_load(SEED)
    urls = [canonical_url(e["url"]) for e in spec["references"]]
    assert len(urls) == len(set(urls)) == 22
    kinds = {e["kind"] for e in spec["references"]}
    assert kinds <= {"paper", "preprint", "news", "guidance", "legislation", "litigation", "report", "blog"}


def test_identifier_derivation():
    assert identifiers_from_url("https://mental.jmir.org/2024/1/e59479/")["doi"] == "10.2196/59479"
    assert identifiers_from_url("https://www.nature.com/articles/s44277-024-00010-z")["doi"] == "10.1038/s44277-024-00010-z"
    assert identifiers_from_url("https://dl.acm.org/doi/pdf/10.1145/3715275.3732039")["doi"] == "10.1145/3715275.3732039"
    assert identifiers_from_url("https://pmc.ncbi.nlm.nih.gov/articles/PMC7274446/")["pmcid"] == "PMC7274446"
    assert identifiers_from_url("https://arxiv.org/abs/2308.01834v2")["arxiv"] == "2308.01834"
    assert identifiers_from_url("https://pubmed.ncbi.nlm.nih.gov/12345/")["pmid"] == "12345"
    assert "doi" not in identifiers_from_url("https://futurism.com/chatgpt-mental-health-crises")
    assert normalise_doi("https://doi.org/10.1000/ABC.") == "10.1000/abc"
    assert canonical_url("HTTPS://Example.org:443/a/?utm_source=x&b=1#frag") == "https://example.org/a?b=1"


def test_seed_loads_article_references_and_citations(tmp_path, corpus):
    run = load_seed(corpus, tmp_path / "archive")
    assert run.status == "ok" and run.counts["added"] == 23
    article = corpus.execute("SELECT * FROM documents WHERE kind = 'blog' AND title = 'LLMs and Mental Health'"
                             ).fetchone()
    assert article is not None
    article_id = article[0]
    assert corpus["documents"].get(article_id)["published"] == "2025-07-30"
    cited = corpus.execute("SELECT count(*) FROM citations WHERE citing_id = ?", [article_id]).fetchone()[0]
    assert cited == 22
    moore = corpus.execute("SELECT d.title, d.unverified_fields, c.context FROM documents d "
                           "JOIN identifiers i ON i.document_id = d.id JOIN citations c ON c.cited_id = d.id "
                           "WHERE i.scheme = 'doi' AND i.value = '10.1145/3715275.3732039'").fetchone()
    assert moore[0].startswith("Expressing stigma")
    assert json.loads(moore[1]) == ["title"]
    assert "Moore et al" in moore[2] and "Treatment" in moore[2]
    news = corpus.execute("SELECT count(*) FROM documents WHERE kind = 'news'").fetchone()[0]
    assert news == 6
    again = load_seed(corpus, tmp_path / "archive")
    assert again.counts["added"] == 0 and again.counts["unchanged"] == 23


def test_seed_errors_are_clear():
    with pytest.raises(SeedError, match="not valid YAML"):
        parse_seed(b"article: [unclosed")
    with pytest.raises(SeedError, match="seed.yaml line 1: article: the key 'key' is missing"):
        parse_seed(b"article: {title: t}\nreferences: []\n")
    with pytest.raises(SeedError, match=r"seed.yaml line 3: references\[1\]: the key 'url' is missing"):
        parse_seed(b"article: {key: a, title: t}\nreferences:\n  - kind: paper\n")
    with pytest.raises(SeedError, match="disagrees with the URL"):
        parse_seed(b"article: {key: a, title: t}\nreferences:\n  - url: https://mental.jmir.org/2024/1/e1/\n"
                   b"    identifiers: {doi: 10.2196/2}\n")


def test_a_seed_file_with_a_misspelt_key_writes_nothing(tmp_path):
    import subprocess
    import sys
    broken = tmp_path / "my-seed.yaml"
    broken.write_text("article: {key: a, title: t}\nreferences:\n  - url: https://example.org/x\n    link_txet: [x]\n")
    done = subprocess.run([sys.executable, "-m", "harvest", "seed", str(tmp_path / "scratch.db"), "--file", str(broken)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "nothing was written" in done.stderr
    assert "my-seed.yaml line 4: references[1].link_txet: unknown key" in done.stderr
    assert not (tmp_path / "scratch.db").exists() and not (tmp_path / "archive").exists()
