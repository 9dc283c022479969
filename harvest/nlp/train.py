"""Train the learned theme layer on gold sets and measure it by k-fold cross-validation.

`cross_validate` splits the documents of the measured sets into k folds (fixed seed); for each
fold it trains on the other folds plus every document of the training-only sets, and judges the
held-out documents, so each figure is on text the layer did not see. What is chosen from data
(how much the embedding weighs, `choose_scale`) is chosen by an inner k-fold over the training
documents of each fold. `train_and_save` chooses and fits on everything and writes the parameters
file (see harvest.nlp.learned for its shape).

Only documents labelled relevant teach the layer (themes are decided for relevant documents
only); a theme the annotators disputed on a document is left out of that theme's training and
scoring.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy

from . import learned
from .evaluate import GoldDocument, load_gold, score
from .tagger import finish, rule_results
from .vocab import ANNOTATIONS

SEED = 20261130
FOLDS = 5
C = 0.05  # inverse regularisation strength of each logistic regression
THRESHOLD = 0.5
CLASS_WEIGHT = "balanced"  # themes are rare: without it the layer says no too often
MIN_POSITIVES = 4  # a theme with fewer labelled examples is left to the rules
EMBEDDING_SCALES = (1.0, 3.0)  # how much the embedding may weigh against the rules' findings:
# the unit-length embedding multiplied by this before the penalty; chosen by an inner k-fold
INNER_FOLDS = 4


@dataclass
class Prepared:
    """A gold document with the rules' view of it and its embedding."""
    gold: GoldDocument
    rules: dict  # a rule result (with `_rules`)
    vector: numpy.ndarray


def prepare(nlp, taxonomy, documents: list[GoldDocument]) -> list[Prepared]:
    """Run the rules over the gold texts and embed them (once, for every fold)."""
    results = list(rule_results(nlp, taxonomy, [d.input for d in documents]))
    vectors = learned.embed([learned.document_text(r["_rules"]["texts"]) for r in results])
    return [Prepared(d, r, v) for d, r, v in zip(documents, results, vectors)]


def _matrix(items: list[Prepared], theme: str) -> numpy.ndarray:
    return numpy.array([numpy.concatenate([learned.theme_features(p.rules["_rules"], theme), p.vector])
                        for p in items], dtype="float64")


def fit(items: list[Prepared], themes: list[str], seed: int = SEED, c: float = C,
        embedding_scale: float = EMBEDDING_SCALES[0]) -> dict:
    """theme -> {coef, intercept, threshold} on raw features, for themes with enough examples.
    `embedding_scale` multiplies the (unit-length) embedding before the penalty weighs it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    fitted = {}
    relevant = [p for p in items if p.gold.relevant]
    for theme in themes:
        usable = [p for p in relevant if theme not in p.gold.disputed]
        labels = numpy.array([theme in p.gold.themes for p in usable], dtype=int)
        if labels.sum() < MIN_POSITIVES or labels.sum() == len(labels):
            continue
        x = _matrix(usable, theme)
        # the rules' findings are standardised; the embedding (unit length) is scaled as a whole,
        # so that the penalty weighs 256 small dimensions against a few strong ones
        rules = len(learned.RULE_FEATURES)
        scaler = StandardScaler().fit(x[:, :rules])
        mean = numpy.concatenate([scaler.mean_, numpy.zeros(x.shape[1] - rules)])
        scale = numpy.concatenate([numpy.where(scaler.scale_ > 0, scaler.scale_, 1.0),
                                   numpy.full(x.shape[1] - rules, 1.0 / embedding_scale)])
        model = LogisticRegression(C=c, max_iter=5000, random_state=seed, class_weight=CLASS_WEIGHT)
        model.fit((x - mean) / scale, labels)
        coef = model.coef_[0] / scale
        fitted[theme] = {"coef": coef, "intercept": float(model.intercept_[0] - (coef * mean).sum()),
                         "threshold": THRESHOLD}
    return fitted


def choose_scale(items: list[Prepared], taxonomy, seed: int = SEED, c: float = C) -> float:
    """The embedding scale (one of EMBEDDING_SCALES) with the best theme micro-F1 in an inner
    k-fold (INNER_FOLDS) over `items` alone, so that the documents it will judge take no part in
    the choice; the first candidate wins a tie."""
    themes = list(taxonomy.themes)
    best: tuple[float, float] | None = None
    for scale in EMBEDDING_SCALES:
        predictions: dict[str, dict] = {}
        for fold in folds_of(items, INNER_FOLDS, seed + 1):
            held = {p.gold.id for p in fold}
            fitted = fit([p for p in items if p.gold.id not in held], themes, seed, c, scale)
            predictions.update(predict(fold, taxonomy, fitted))
        f1 = score([p.gold for p in items], predictions, themes)["micro"]["f1"]
        if best is None or f1 > best[0]:
            best = (f1, scale)
    return best[1]


def predict(items: list[Prepared], taxonomy, fitted: dict) -> dict[str, dict]:
    """Results (as `tag_documents` gives them) for prepared documents under fitted parameters
    (the rules alone when `fitted` is empty)."""
    copies = [{**p.rules} for p in items]
    if not fitted:
        return {r["id"]: r for r in finish(copies, taxonomy, None)}
    layer = learned.LearnedLayer(themes={t: {**p, "coef": numpy.asarray(p["coef"], dtype="float32")}
                                         for t, p in fitted.items()}, digest="")
    relevant = [i for i, p in enumerate(items) if learned.judges(p.rules)]
    decisions: list[dict] = [{} for _ in items]
    if relevant:
        probabilities = layer.probabilities_of(numpy.array([items[i].vector for i in relevant], dtype="float32"),
                                               [items[i].rules["_rules"] for i in relevant])
        for index, decision in zip(relevant, layer.decisions_of(probabilities)):
            decisions[index] = decision
    return {r["id"]: r for r in finish(copies, taxonomy, decisions)}


def folds_of(items: list[Prepared], k: int = FOLDS, seed: int = SEED) -> list[list[Prepared]]:
    order = list(items)
    random.Random(seed).shuffle(order)
    return [order[i::k] for i in range(k)]


def cross_validate(measured: dict[str, list[Prepared]], training_only: list[Prepared], taxonomy,
                   k: int = FOLDS, seed: int = SEED, c: float = C) -> dict:
    """Per measured set and pooled: scores (harvest.nlp.evaluate.score) of the rules alone and
    of rules + learned layer, each document judged by a layer trained without it."""
    themes = list(taxonomy.themes)
    everything = [p for items in measured.values() for p in items]
    predictions: dict[str, dict] = {}
    for fold in folds_of(everything, k, seed):
        held = {p.gold.id for p in fold}
        training = [p for p in everything if p.gold.id not in held] + training_only
        fitted = fit(training, themes, seed, c, choose_scale(training, taxonomy, seed, c))
        predictions.update(predict(fold, taxonomy, fitted))
    rules_only = predict(everything, taxonomy, {})
    report = {}
    for name, items in list(measured.items()) + [("pooled", everything)]:
        gold = [p.gold for p in items]
        report[name] = {"rules": score(gold, rules_only, themes),
                        "rules+learned (cross-validated)": score(gold, predictions, themes)}
    return report


def parameters(fitted: dict, documents: int, figures: dict, seed: int = SEED, c: float = C,
               scale: float = EMBEDDING_SCALES[0]) -> dict:
    """The parameters file's content (harvest.nlp.learned describes it)."""
    features = list(learned.RULE_FEATURES) + [f"embedding_{i}" for i in range(learned.EMBEDDING["dim"])]
    return {"format": 1, "embedding": learned.EMBEDDING, "features": features,
            "themes": {theme: {"coef": [round(float(w), 6) for w in p["coef"]],
                               "intercept": round(p["intercept"], 6), "threshold": p["threshold"]}
                       for theme, p in sorted(fitted.items())},
            "trained": {"seed": seed, "C": c, "embedding_scale": scale, "folds": FOLDS, "documents": documents,
                        "figures": figures}}


SHARED_GOLD = ANNOTATIONS.parent.parent / "shared" / "gold"
DEFAULT_MEASURED = (SHARED_GOLD / "gold.jsonl", SHARED_GOLD / "gold-real.jsonl")
DEFAULT_TRAINING_ONLY = (ANNOTATIONS / "gold" / "gold.jsonl",)


def load_sets(measured: list[Path], training_only: list[Path]):
    """(nlp, taxonomy, {set name: prepared documents}, prepared training-only documents).
    A set's name is its file name without .jsonl; raises ValueError on a malformed line."""
    from .pipeline import build_pipeline
    from .vocab import load_taxonomy

    nlp, taxonomy = build_pipeline(), load_taxonomy()
    sets = {Path(p).stem: prepare(nlp, taxonomy, load_gold(p)) for p in measured}
    extra = [item for p in training_only for item in prepare(nlp, taxonomy, load_gold(p))]
    return nlp, taxonomy, sets, extra


def train_and_save(measured: list[Path], training_only: list[Path], output: Path = learned.MODEL,
                   k: int = FOLDS, seed: int = SEED) -> dict:
    """Cross-validate, then fit on every document and write the parameters file; returns the
    cross-validated report (as `cross_validate`)."""
    _, taxonomy, sets, extra = load_sets(measured, training_only)
    figures = cross_validate(sets, extra, taxonomy, k, seed)
    everything = [p for items in sets.values() for p in items] + extra
    scale = choose_scale(everything, taxonomy, seed)
    fitted = fit(everything, list(taxonomy.themes), seed, embedding_scale=scale)
    summary = {name: {kind: {"relevance_accuracy": s["relevance_accuracy"], "micro": s["micro"],
                             "macro": s["macro"]} for kind, s in report.items()}
               for name, report in figures.items()}
    content = parameters(fitted, len(everything), summary, seed, scale=scale)
    Path(output).write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
    learned.load_default.cache_clear()
    return figures


def report_table(figures: dict) -> str:
    """The cross-validated report as text for a terminal: per set, per theme F1 for the rules
    alone and with the learned layer, then micro and macro P/R/F1, relevance and design accuracy."""
    lines = []
    for name, kinds in figures.items():
        rules, combined = kinds["rules"], kinds["rules+learned (cross-validated)"]
        lines.append(f"== {name} ({rules['documents']} documents)")
        lines.append(f"{'':20}{'rules':>24}   {'rules + learned, k-fold':>24}")
        lines.append(f"{'theme':20}{'P':>8}{'R':>8}{'F1':>8}   {'P':>8}{'R':>8}{'F1':>8}{'n':>5}")
        for theme, a in rules["themes"].items():
            b = combined["themes"][theme]
            lines.append(f"{theme:20}{a['precision']:>8.3f}{a['recall']:>8.3f}{a['f1']:>8.3f}   "
                         f"{b['precision']:>8.3f}{b['recall']:>8.3f}{b['f1']:>8.3f}{b['support']:>5}")
        for average in ("micro", "macro"):
            a, b = rules[average], combined[average]
            lines.append(f"{average + ' average':20}{a['precision']:>8.3f}{a['recall']:>8.3f}{a['f1']:>8.3f}   "
                         f"{b['precision']:>8.3f}{b['recall']:>8.3f}{b['f1']:>8.3f}")
        lines.append(f"{'relevance accuracy':20}{rules['relevance_accuracy']:>24.3f}   "
                     f"{combined['relevance_accuracy']:>24.3f}")
        if rules["study_design_accuracy"] is not None:
            lines.append(f"{'study design accuracy':20}{rules['study_design_accuracy']:>24.3f}   "
                         f"{combined['study_design_accuracy']:>24.3f}")
    return "\n".join(lines)
