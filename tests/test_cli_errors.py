"""Every command's errors in one style, click's own (`Error: ...`, as a ClickException prints it),
each saying what to do next; warnings and notes likewise (`Warning: ...`, `Note: ...`)."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import harvest.cli
import pytest
from click.testing import CliRunner

DATA = Path(__file__).resolve().parent / "data"


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "harvest", *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_parse_errors_are_in_clicks_style_and_say_what_to_do(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_bytes((DATA / "pubmed_sample.xml").read_bytes()[:900])
    done = run("parse", "--format", "pubmed", str(bad))
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: ") and "bad.xml: malformed XML" in line, done.stderr
    assert "check that the file is whole and in --format pubmed, then run the command again" in line
    usage = run("parse", "--format", "html", str(bad))  # click's own error, for comparison: the same prefix
    assert usage.returncode == 1 and usage.stderr.startswith("Error: --format html needs --url")


def test_tag_text_names_the_bad_line_in_the_same_style():
    done = run("tag-text", stdin=json.dumps({"id": "a", "title": "Chatbot therapy"}) + "\n[1, 2]\n")
    assert done.returncode == 1 and json.loads(done.stdout)["id"] == "a"
    assert done.stderr.startswith("Error: line 2: not a JSON object") and "tag that line again" in done.stderr


def test_a_missing_database_says_how_to_make_one(tmp_path):
    done = run("release", str(tmp_path / "none.db"), str(tmp_path / "out"))
    assert done.returncode == 1 and done.stderr.startswith("Error: ") and "harvest seed" in done.stderr


def _stderr_lines(tree):
    """(line number, the literal text a click.echo(..., err=True) call starts with) in the CLI's source."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "echo" and node.args \
                and any(k.arg == "err" for k in node.keywords):
            first = node.args[0]
            text = first.value if isinstance(first, ast.Constant) else \
                "".join(p.value for p in first.values[:1] if isinstance(p, ast.Constant)) if isinstance(first, ast.JoinedStr) else ""
            yield node.lineno, str(text)


def test_no_command_prints_its_own_lower_case_error_prefix():
    source = Path(harvest.cli.__file__).read_text()
    tree = ast.parse(source)
    lower = [(n, text) for n, text in _stderr_lines(tree) if re.match(r"\s*(error|warning|note|interrupted|damaged)\b", text)]
    assert lower == [], "stderr lines go through _say (Error:, Warning:, Note:, Interrupted:)"
    said = [node.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "_say" and isinstance(node.args[0], ast.Constant)]
    assert set(said) <= {"Error", "Warning", "Note", "Interrupted"} and "Error" in said
    assert not re.search(r"ClickException\(f?[\"']Error", source), "click adds `Error: ` itself"



@pytest.mark.parametrize("command", [["graph"], ["search-index"], ["tag"], ["incidents"]])
def test_a_folder_given_as_the_database_is_refused_by_name(tmp_path, command):
    result = CliRunner().invoke(harvest.cli.main, command + [str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.output and result.exception.__class__ is SystemExit, \
        result.output


def test_a_graph_export_into_a_missing_folder_is_refused_before_the_work(tmp_path):
    from harvest import db as database
    corpus = tmp_path / "corpus.db"
    database.connect(corpus).conn.close()
    result = CliRunner().invoke(harvest.cli.main, ["graph", str(corpus), "--export", str(tmp_path / "nodir" / "g.json")])
    assert result.exit_code == 1 and "nodir does not exist" in result.output and result.exception.__class__ is SystemExit, \
        result.output
