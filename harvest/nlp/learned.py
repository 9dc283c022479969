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
import itertools
import json
import os
import re
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


SPACE = "\u2581"  # the tokenizer's normaliser writes every space as U+2581 and puts one in front
PIECE = re.compile(SPACE + "+[^" + SPACE + "]*")
MAX_PIECES = 500_000  # pieces whose tokens are remembered (about 100 MB at most); then it starts over


class Embedder:
    """WordLlama's embedding of a text (`WordLlama.embed(..., norm=True)`: the mean of its tokens'
    vectors, scaled to unit length), with each word tokenized once per process.

    The model's tokenizer is a SentencePiece-style BPE with no pre-tokenizer: it reads a whole text
    as one word, so its BPE cache never hits and a 1,500-character abstract costs about 0.5 ms.
    None of its 32,000 tokens holds U+2581 after another character (checked when made), so no
    token spans two pieces (a run of U+2581 and the characters up to the next): a text's tokens
    are its pieces' tokens, in order, and a piece seen before costs a dictionary lookup. The mean
    is taken as a sparse (texts x vocabulary) count matrix times the vector table, which sums in
    another order than WordLlama's padded batches (differences of about 1e-7; tested)."""

    def __init__(self, model):
        from tokenizers import Tokenizer
        # one tagging process per core already; the tokenizer's own threads would compete with them
        # (and, used before a fork, make it warn in every worker)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.vectors = numpy.ascontiguousarray(model.embedding, dtype="float32")
        self.tokenizer = Tokenizer.from_str(model.tokenizer.to_str())
        self.tokenizer.no_padding()
        self.tokenizer.normalizer = None  # pieces arrive normalised (`normalised`)
        joined = [token for token in self.tokenizer.get_vocab() if SPACE in token.lstrip(SPACE)]
        if joined:
            raise ModelError(f"the embedding's tokenizer joins words ({joined[:3]}); pieces cannot be cached")
        self.pieces: dict[str, list[int]] = {}

    @staticmethod
    def pieces_of(text: str) -> list[str]:
        """A text's pieces, each without the U+2581 the normaliser puts in front of it (a space, or
        the text's start): words between single spaces; a run of spaces stays with the next word."""
        if not text:
            return []
        if "  " in text or text[0] == " " or text[-1] == " ":
            return [piece[1:] for piece in PIECE.findall(SPACE + text.replace(" ", SPACE))]
        return text.split(" ")

    def _learn(self, pieces: set[str]) -> None:
        pieces = sorted(pieces)
        encoded = self.tokenizer.encode_batch([SPACE + p.replace(" ", SPACE) for p in pieces], add_special_tokens=False)
        self.pieces.update(zip(pieces, (e.ids for e in encoded)))

    def token_ids(self, texts: list[str]) -> tuple[numpy.ndarray, numpy.ndarray]:
        """(token ids of all texts, one after another; where each text's tokens end), int64."""
        split = [self.pieces_of(text) for text in texts]
        new = {piece for pieces in split for piece in pieces if piece not in self.pieces}
        if new and len(self.pieces) + len(new) > MAX_PIECES:  # start over, with this batch's pieces
            self.pieces.clear()
            new = {piece for pieces in split for piece in pieces}
        if new:
            self._learn(new)
        tokens = [self.pieces[piece] for pieces in split for piece in pieces]
        bounds = numpy.zeros(len(tokens) + 1, dtype="int64")  # where each piece's tokens end
        numpy.cumsum(numpy.fromiter(map(len, tokens), dtype="int64", count=len(tokens)), out=bounds[1:])
        ends = bounds[numpy.cumsum([len(pieces) for pieces in split], dtype="int64")]
        return numpy.fromiter(itertools.chain.from_iterable(tokens), dtype="int64", count=int(bounds[-1])), ends

    def __call__(self, texts: list[str]) -> numpy.ndarray:
        """Unit-length embeddings, shape (len(texts), 256), float32; zeros for a text with no token."""
        from scipy.sparse import csr_matrix
        ids, ends = self.token_ids(texts)
        counts = csr_matrix((numpy.ones(len(ids), dtype="float32"), ids, numpy.concatenate(([0], ends))),
                            shape=(len(texts), len(self.vectors)))
        counts.sum_duplicates()
        pooled = numpy.asarray(counts @ self.vectors, dtype="float32")
        pooled /= numpy.maximum(numpy.diff(ends, prepend=0), 1)[:, None].astype("float32")
        norms = numpy.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / numpy.where(norms > 0, norms, 1).astype("float32")


@lru_cache(maxsize=1)
def _embedder() -> Embedder:
    return Embedder(embedder())


def document_text(texts: dict) -> str:
    """The text that is embedded: title, abstract and body, in that order, cut at EMBED_CHARS."""
    return " ".join(texts.get(name) or "" for name in ("title", "abstract", "body")).strip()[:EMBED_CHARS]


def embed(texts: list[str]) -> numpy.ndarray:
    """Unit-length embeddings, shape (len(texts), 256), float32 (see `Embedder`)."""
    if not texts:
        return numpy.zeros((0, EMBEDDING["dim"]), dtype="float32")
    return _embedder()(texts)


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
