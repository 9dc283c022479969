"""The quality gate: the tagger must keep what it has reached, cross-validated on the shared gold
sets (each text judged by a learned layer trained without it) and as trained on our own set."""

import pytest
import yaml

from conftest import FIXTURES, HERE
from harvest.nlp import train
from harvest.nlp.evaluate import load_gold, score
from harvest.nlp.pipeline import build_pipeline
from harvest.nlp.tagger import tag_documents
from harvest.nlp.vocab import load_taxonomy

OWN = HERE.parent / "annotations" / "gold"
SHARED = [FIXTURES.parent / "gold" / "gold.jsonl", FIXTURES.parent / "gold" / "gold-real.jsonl"]
FLOORS = yaml.safe_load((OWN / "floors.yaml").read_text())
COMBINED = "rules+learned (cross-validated)"


def check(scores, floors):
    failures = []
    for name, value in (("micro_f1", scores["micro"]["f1"]), ("macro_f1", scores["macro"]["f1"]),
                        ("relevance_accuracy", scores["relevance_accuracy"]),
                        ("study_design_accuracy", scores["study_design_accuracy"])):
        if value < floors[name]:
            failures.append(f"{name} {value} < floor {floors[name]}")
    for theme, floor in (floors.get("theme_f1") or {}).items():
        if scores["themes"][theme]["f1"] < floor:
            failures.append(f"{theme} F1 {scores['themes'][theme]['f1']} < floor {floor}")
    return failures


def test_own_gold_set_meets_its_floors():
    gold, taxonomy = load_gold(OWN / "gold.jsonl"), load_taxonomy()
    predictions = {r["id"]: r for r in tag_documents(build_pipeline(), taxonomy, [g.input for g in gold])}
    assert check(score(gold, predictions, list(taxonomy.themes)), FLOORS["own_as_trained"]) == []


@pytest.mark.skipif(not all(p.exists() for p in SHARED), reason="../shared/gold not present")
def test_shared_gold_sets_meet_their_floors_cross_validated():
    _, taxonomy, sets, extra = train.load_sets(SHARED, [OWN / "gold.jsonl"])
    figures = train.cross_validate(sets, extra, taxonomy)
    failures = {name: check(figures[name][COMBINED], floors)
                for name, floors in FLOORS["cross_validated"].items()}
    assert failures == {name: [] for name in failures}


def test_own_gold_covers_every_theme_with_positive_and_negative_examples():
    gold = load_gold(OWN / "gold.jsonl")
    for theme in load_taxonomy().themes:
        assert any(theme in g.themes for g in gold), theme
        assert any(g.relevant and theme not in g.themes for g in gold), theme
    assert any(not g.relevant for g in gold)
    assert any("no evidence of" in g.input.abstract or "did not assess" in g.input.abstract for g in gold)
