"""annotations/*.yaml read in one place: every file valid, every fault named by file, line and
key, alias bombs refused, and nothing written when a file is broken."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import DATA
from harvest import config
from harvest.nlp import corpus as tagging
from harvest.sources.pubmed import load_pubmed_file
from harvest.sources.seed import load_seed

ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))


def test_every_shipped_annotation_file_is_valid():
    checked = config.validate_all()
    assert {p.rsplit("/", 1)[-1] for p in checked} >= {
        "pubmed.yaml", "arxiv.yaml", "europepmc.yaml", "jmir.yaml", "news.yaml", "guidance.yaml",
        "legislation.yaml", "corrections.yaml", "incidents.yaml", "seed.yaml", "taxonomy.yaml",
        "entities.yaml", "floors.yaml", "reading-list.yaml"}


@pytest.mark.parametrize("kind, text, message", [
    ("news", "feds:\n  - url: https://x.org/rss\n", r"news.yaml line 1: feds: unknown key \(known keys: feeds, gdelt\)"),
    ("news", "feeds:\n  - outlet: X\n    ulr: https://x.org/rss\n", r"line 3: feeds\[1\].ulr: unknown key"),
    ("news", "feeds:\n  - outlet: X\n", r"line 2: feeds\[1\]: the key 'url' is missing"),
    ("news", "gdelt:\n  max_records: lots\n", r"line 2: gdelt.max_records: expected a whole number, found text 'lots'"),
    ("pubmed", "start: 2024-01-01\n", r"line 1: \(top level\): the key 'query' is missing"),
    ("pubmed", "query: [a, b]\n", r"line 1: query: expected text, found a list"),
    ("pubmed", "query: x\nquery: y\n", r"line 2: query: the key is given twice"),
    ("arxiv", "query: 'unclosed\n", r"arxiv.yaml line \d+: not valid YAML"),
    ("europepmc", "query:\n\t- x\n", r"europepmc.yaml line 2: not valid YAML"),
    ("jmir", "feeds: {a: b}\n", r"line 1: feeds: expected a list, found keys and values"),
    ("jmir", "- a\n- b\n", r"line 1: \(top level\): expected keys and values, found a list"),
    ("guidance", "pages:\n  - url: https://x.org\n    organization: X\n", r"line 3: pages\[1\].organization: unknown key"),
    ("legislation", "openstates:\n  max_pages: 3.5\n", r"line 2: openstates.max_pages: expected a whole number"),
    ("corrections", "corrections:\n  - document: pmid:1\n    add: [privacy]\n    by: me\n",
     r"line 2: corrections\[1\]: the key 'why' is missing"),
    ("corrections", "corrections:\n  - document: pmid:1\n    relevant: maybe\n    by: a\n    why: b\n",
     r"line 3: corrections\[1\].relevant: expected true or false, found text 'maybe'"),
    ("incidents", "incidents:\n  - id: a\n    titel: x\n", r"line 3: incidents\[1\].titel: unknown key"),
    ("incidents", "incidents:\n  - id: a\n    sources: [{url: x, rol: report}]\n", r"sources\[1\].rol: unknown key"),
    ("incidents", "incidents:\n  - id: a\n    crosswalk: {aiiid: [826]}\n", r"line 3: incidents\[1\].crosswalk.aiiid: unknown key"),
    ("reading-list", "references:\n  - id: rl1\n    type: article-journal\n    title: T\n    source: s\n    DIO: 10.1/x\n",
     r"reading-list.yaml line 6: references\[1\].DIO: unknown key"),
    ("reading-list", "references:\n  - id: rl1\n    type: article-journal\n    title: T\n",
     r"line 2: references\[1\]: the key 'source' is missing"),
    ("reading-list", "references:\n  - id: rl1\n    type: book\n    title: T\n    source: s\n    author: [{famly: X}]\n",
     r"references\[1\].author\[1\].famly: unknown key"),
    ("seed", "article: {key: k}\nreferences: []\n", r"line 1: article: the key 'title' is missing"),
    ("taxonomy", "version: 1\nrelevance: {ai: [a]}\nthemes: {}\nstudy_designs: []\n",
     r"line 2: relevance: the key 'mental_health' is missing"),
    ("taxonomy", "version: 1\nrelevance: {ai: [a], mental_health: [b]}\nthemes:\n  x: {label: X}\nstudy_designs: []\n",
     r"line 4: themes.x: the key 'definition' is missing"),
    ("entities", "products:\n  - nam: X\n", r"line 2: products\[1\].nam: unknown key"),
    ("entities", "products:\n  - name: X\n    case: upper\n", r"line 3: products\[1\].case: 'upper' is not one of exact"),
    ("entities", "products: &p [*p]\n", r"entities.yaml"),
])
def test_a_broken_file_is_an_error_naming_file_line_and_key(tmp_path, kind, text, message):
    path = tmp_path / f"{kind}.yaml"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=message):
        config.load(path)


def test_every_problem_in_every_file_is_listed_at_once(tmp_path):
    (tmp_path / "news.yaml").write_text("feds: []\n")
    (tmp_path / "pubmed.yaml").write_text("query: x\nstrat: 2020\n")
    with pytest.raises(config.ConfigError) as caught:
        config.validate_all(tmp_path)
    assert [p.split("/")[-1] for p in caught.value.problems] == [
        "news.yaml line 1: feds: unknown key (known keys: feeds, gdelt)",
        "pubmed.yaml line 2: strat: unknown key (known keys: query, start)"]


def test_a_700_byte_alias_bomb_is_refused_in_bounded_time_and_memory(tmp_path):
    """9 values nested 9 deep through aliases: 9**9 = 387 million strings once expanded."""
    assert len(ALIAS_BOMB) < 700
    path = tmp_path / "corrections.yaml"
    path.write_text(ALIAS_BOMB)
    script = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from harvest import config
        try:
            config.load({str(path)!r})
        except config.ConfigError as error:
            print(error)
            sys.exit(0)
        sys.exit(2)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "corrections.yaml line" in done.stdout and "alias bomb" in done.stdout


def test_aliases_within_the_bound_still_work():
    data = config.loads("terms: &t [a, b]\nmore: *t\n", "x.yaml")
    assert data == {"terms": ["a", "b"], "more": ["a", "b"]}


def test_a_broken_corrections_file_loses_no_curated_relevance(tmp_path, corpus):
    load_seed(corpus, tmp_path / "archive")
    load_pubmed_file(corpus, tmp_path / "archive", DATA / "pubmed_sample.xml")
    good = tmp_path / "corrections.yaml"
    good.write_text(json.dumps({"corrections": [{"document": "pmid:90000001", "relevant": False,
                                                 "by": "curator A", "why": "off topic on reading"}]}))
    tagging.tag_corpus(corpus, corrections_path=good)
    before = corpus.execute("SELECT id, relevance, relevance_reason, tagged_version FROM documents "
                            "ORDER BY id").fetchall()
    assert ("off-topic", "curated by curator A: off topic on reading") in [(r[1], r[2]) for r in before]
    good.write_text(good.read_text().replace('"relevant"', '"relevent"'))
    with pytest.raises(config.ConfigError, match=r"corrections.yaml line 1: corrections\[1\].relevent: unknown key"):
        tagging.tag_corpus(corpus, everything=True, corrections_path=good)
    assert corpus.execute("SELECT id, relevance, relevance_reason, tagged_version FROM documents "
                          "ORDER BY id").fetchall() == before


def test_every_command_refuses_to_write_while_an_annotation_file_is_broken(tmp_path, monkeypatch):
    """The CLI checks every annotation file before opening the database for writing."""
    annotations = tmp_path / "annotations"
    shutil.copytree(config.ANNOTATIONS, annotations)
    (annotations / "incidents.yaml").write_text("incidents:\n  - id: a\n    titel: x\n")
    monkeypatch.setattr("harvest.cli.ANNOTATIONS", annotations)
    from click.testing import CliRunner

    from harvest.cli import main
    for command in (["seed", str(tmp_path / "a.db")], ["tag", str(tmp_path / "a.db")],
                    ["graph", str(tmp_path / "a.db")], ["rebuild", str(tmp_path / "b.db"), "--archive", str(tmp_path)],
                    ["import", str(tmp_path / "c.db"), str(annotations / "reading-list.yaml")],
                    ["resolve", str(tmp_path / "c.db")]):
        if command[0] in ("tag", "graph"):
            (tmp_path / "a.db").touch()
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1, (command, result.output)
        assert "incidents.yaml line 3: incidents[1].titel: unknown key" in result.output
        assert not (tmp_path / "b.db").exists() and not (tmp_path / "c.db").exists()
        assert not (tmp_path / "archive").exists()
        if (tmp_path / "a.db").exists():
            assert (tmp_path / "a.db").stat().st_size == 0
