"""The learned theme layer: one logistic regression per theme over the rules' findings and a
static text embedding, trained on the gold sets by `harvest train` and kept as reviewable JSON.

Features of a document for theme T (`theme_features`): the rules' score for T, whether it reached
the threshold, how many sentences hold a term of T (weak ones included), how many mentions of T
were negated or hedged; then the document's embedding (WordLlama's l2_supercat, 256 dimensions,
whose weights ship inside the `wordllama` wheel: nothing is fetched at run time).

The layer decides whether a theme is shown; it never invents evidence: a theme it accepts is
shown only where the rules found a sentence naming it, by a term, a statement or at least two
different weak words (`tagger.LEARNED_MIN_WORDS`: one passing word repeated is not a statement). It judges relevant
documents with more than a title (`judges`): a headline judged alone is one statement, which the
rules' terms and statements read as a person does; an embedding of ten words and counts of one
sentence tell the layer little (17 relevant headlines among the gold sets' 186 texts).

Parameters file (annotations/theme-model.json): {"format": 1, "embedding": {...}, "features":
[names], "themes": {theme: {"coef": [floats], "intercept": float, "threshold": float}}, "trained":
{seed, folds, documents, figures}}. Coefficients apply to raw features (standardisation folded in).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy

from .tagger import fires
from .vocab import ANNOTATIONS

MODEL = ANNOTATIONS / "theme-model.json"
EMBEDDING = {"package": "wordllama", "config": "l2_supercat", "dim": 256}
RULE_FEATURES = ("score", "fired", "sentences", "negated", "hedged", "in_title", "headline")
EMBED_CHARS = 4_000  # title, abstract and the start of the body are embedded


class ModelError(ValueError):
    """The parameters file is missing a part or does not fit the embedding."""


@lru_cache(maxsize=1)
def embedder():
    """WordLlama from the files inside its own package (its loader would otherwise look for the
    tokenizer on a hub); raises ModelError when the package is not installed."""
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ModelError("the learned layer needs the `wordllama` package (pip install wordllama)") from exc
    return WordLlama.load(config=EMBEDDING["config"], dim=EMBEDDING["dim"],
                          cache_dir=Path(wordllama.__file__).parent, disable_download=True)


def document_text(texts: dict) -> str:
    """The text that is embedded: title, abstract and body, in that order, cut at EMBED_CHARS."""
    return " ".join(texts.get(name) or "" for name in ("title", "abstract", "body")).strip()[:EMBED_CHARS]


def embed(texts: list[str]) -> numpy.ndarray:
    """Unit-length embeddings, shape (len(texts), 256), float32."""
    if not texts:
        return numpy.zeros((0, EMBEDDING["dim"]), dtype="float32")
    # WordLlama pads each batch to its longest text: in order of length there is little padding
    # to pool over (the same vectors, bit for bit; about a third less time)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = numpy.empty((len(texts), EMBEDDING["dim"]), dtype="float32")
    vectors[order] = numpy.asarray(embedder().embed([texts[i] for i in order], norm=True), dtype="float32")
    return vectors


def theme_features(rules: dict, theme: str) -> list[float]:
    """The rules' findings for one theme, in RULE_FEATURES order (a headline is a title with no
    other text: one statement, judged as a person reads it)."""
    score = rules["scores"].get(theme, 0.0)
    found = rules["evidence"].get(theme, [])
    return [score, float(fires(rules, theme)), float(len({r["sentence"] for r in found})),
            float(len(rules["negated"].get(theme, []))), float(sum(r["hedged"] for r in found)),
            float(any(r["field"] == "title" for r in found)), float(rules["headline"])]


def judges(result: dict) -> bool:
    """Does the layer decide the themes of this rule result (a relevant document with more
    than a headline)? Otherwise the rules decide."""
    return result["relevance"] == "relevant" and not result["_rules"]["headline"]


@dataclass
class LearnedLayer:
    themes: dict  # theme -> {"coef": numpy array, "intercept": float, "threshold": float}
    digest: str  # of the parameters file: part of the pipeline version

    def __post_init__(self):
        names = list(self.themes)
        rules = len(RULE_FEATURES)
        self._names = names
        coef = numpy.stack([self.themes[t]["coef"] for t in names]) if names else numpy.zeros((0, rules))
        self._rule_weights = coef[:, :rules].astype("float32")  # themes x rule features
        self._embedding_weights = coef[:, rules:].T.astype("float32")  # 256 x themes
        self._intercepts = numpy.array([self.themes[t]["intercept"] for t in names], dtype="float32")
        self._thresholds = numpy.array([self.themes[t]["threshold"] for t in names], dtype="float32")

    def probabilities(self, results: list[dict]) -> numpy.ndarray:
        """P(theme), shape (len(results), len(themes)) in the order of `themes`, for results that
        still carry the rules' findings (`_rules`). One matrix product for the embedding part."""
        if not results or not self._names:
            return numpy.zeros((len(results), len(self._names)), dtype="float32")
        return self.probabilities_of(embed([document_text(r["_rules"]["texts"]) for r in results]),
                                     [r["_rules"] for r in results])

    def probabilities_of(self, vectors: numpy.ndarray, rules: list[dict]) -> numpy.ndarray:
        """As `probabilities`, from embeddings already made and the rules' findings."""
        features = numpy.array([[theme_features(r, t) for t in self._names] for r in rules],
                               dtype="float32")  # documents x themes x rule features
        logits = (vectors @ self._embedding_weights + numpy.einsum("dtf,tf->dt", features, self._rule_weights)
                  + self._intercepts)
        return 1.0 / (1.0 + numpy.exp(-logits))

    def decisions_of(self, probabilities: numpy.ndarray) -> list[dict[str, bool]]:
        return [dict(zip(self._names, row)) for row in (probabilities >= self._thresholds).tolist()]

    def decide(self, results: list[dict]) -> list[dict[str, bool]]:
        """theme -> shown?, per result; only the documents the layer `judges` are embedded
        (others get {}: the rules decide)."""
        relevant = [i for i, r in enumerate(results) if judges(r)]
        decisions: list[dict[str, bool]] = [{} for _ in results]
        if relevant:
            chosen = self.decisions_of(self.probabilities([results[i] for i in relevant]))
            for index, decision in zip(relevant, chosen):
                decisions[index] = decision
        return decisions


def load(path: Path = MODEL) -> LearnedLayer:
    """The layer from its parameters file; ModelError when it does not fit."""
    raw = Path(path).read_bytes()
    try:
        spec = json.loads(raw)
        if spec.get("format") != 1 or spec.get("embedding") != EMBEDDING:
            raise ModelError(f"{path}: made for another format or embedding; run `harvest train`")
        size = len(spec["features"])
        themes = {}
        for theme, params in spec["themes"].items():
            coef = numpy.asarray(params["coef"], dtype="float32")
            if coef.shape != (size,):
                raise ModelError(f"{path}: theme {theme} has {coef.shape[0]} weights, the features are {size}")
            themes[theme] = {"coef": coef, "intercept": float(params["intercept"]),
                             "threshold": float(params.get("threshold", 0.5))}
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not a theme model ({exc}); run `harvest train`") from exc
    return LearnedLayer(themes=themes, digest=hashlib.sha256(raw).hexdigest()[:12])


@lru_cache(maxsize=1)
def load_default() -> LearnedLayer | bool:
    """The trained layer in annotations/, or False (rules alone) when none has been trained."""
    return load(MODEL) if MODEL.exists() else False
