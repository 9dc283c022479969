"""The quality gate: the tagger must keep the F1 it has reached on both gold sets."""

import pytest
import yaml

from conftest import FIXTURES, HERE
from harvest.nlp.evaluate import load_gold, score
from harvest.nlp.pipeline import build_pipeline
from harvest.nlp.tagger import tag_documents
from harvest.nlp.vocab import load_taxonomy

OWN = HERE.parent / "annotations" / "gold"
SHARED = FIXTURES.parent / "gold" / "gold.jsonl"
FLOORS = yaml.safe_load((OWN / "floors.yaml").read_text())


def evaluate(path):
    gold, taxonomy = load_gold(path), load_taxonomy()
    predictions = {r["id"]: r for r in tag_documents(build_pipeline(), taxonomy, [g.input for g in gold])}
    return score(gold, predictions, list(taxonomy.themes))


def check(scores, floors):
    failures = []
    for name, value in (("micro_f1", scores["micro"]["f1"]), ("macro_f1", scores["macro"]["f1"]),
                        ("relevance_accuracy", scores["relevance_accuracy"]),
                        ("study_design_accuracy", scores["study_design_accuracy"])):
        if value < floors[name]:
            failures.append(f"{name} {value} < floor {floors[name]}")
    for theme, floor in floors["theme_f1"].items():
        if scores["themes"][theme]["f1"] < floor:
            failures.append(f"{theme} F1 {scores['themes'][theme]['f1']} < floor {floor}")
    return failures


def test_own_gold_set_meets_its_floors():
    assert check(evaluate(OWN / "gold.jsonl"), FLOORS["own"]) == []


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/gold not present")
def test_shared_gold_set_meets_its_floors():
    assert check(evaluate(SHARED), FLOORS["shared"]) == []


def test_own_gold_covers_every_theme_with_positive_and_negative_examples():
    gold = load_gold(OWN / "gold.jsonl")
    for theme in load_taxonomy().themes:
        assert any(theme in g.themes for g in gold), theme
        assert any(g.relevant and theme not in g.themes for g in gold), theme
    assert any(not g.relevant for g in gold)
    assert any("no evidence of" in g.input.abstract or "did not assess" in g.input.abstract for g in gold)
