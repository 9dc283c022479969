"""The spaCy pipeline: no downloaded model, only registered components built from annotations/.

    sentencizer -> lowercase_lemmatizer -> entity_ruler -> theme_matcher

`build_pipeline()` assembles it. The theme matcher leaves `doc._.hits`: one Hit per vocabulary
match, with its theme (or the relevance pseudo-themes `_ai` and `_mh`), whether it is weak,
negated ("no evidence of psychosis", "did not assess privacy") or hedged ("may worsen").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.lookups import load_lookups
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.util import filter_spans

from .vocab import ENTITIES, TAXONOMY, load_entities, load_taxonomy

NEGATION_CUES = frozenset({"no", "without", "never", "neither", "nor", "none"})
NEGATED_VERBS = frozenset({  # "not" before one of these negates what follows: "did not assess X"
    "assess", "examine", "evaluate", "measure", "address", "report", "find", "observe",
    "consider", "discuss", "include", "study", "investigate", "associate", "link", "relate",
    "cause", "increase", "show", "detect", "mention", "cover"})
HEDGE_CUES = frozenset({"may", "might", "could", "possibly", "potential", "potentially",
                        "suggest", "appear", "likely", "perhaps", "unclear", "uncertain"})
NEGATION_WINDOW = 4  # tokens before a hit, inside its sentence
AI, MENTAL_HEALTH = "_ai", "_mh"

if not Doc.has_extension("hits"):
    Doc.set_extension("hits", default=None)


@dataclass
class Hit:
    theme: str
    rule: str
    start: int  # token offsets in the doc
    end: int
    weak: bool
    negated: bool
    hedged: bool


class LowercaseLemmatizer:
    """Lemmas from spaCy's English lookup table, looked up in lower case (the stock lookup
    lemmatizer is case-sensitive, so "Chatbots" at a sentence start would stay unlemmatized).
    A plural the table does not know loses its final s, the same way in texts and in patterns.
    Words under four letters are left alone: the table maps some of them onto other words
    ("ai" onto "have"), which would make unrelated words match."""

    def __init__(self):
        self.table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")

    def lemma(self, lower: str) -> str:
        if len(lower) < 4:
            return lower
        found = self.table.get(lower)
        if found is not None:
            return found
        if len(lower) > 3 and lower.endswith("s") and not lower.endswith(("ss", "us", "is")):
            return lower[:-1]
        return lower

    def __call__(self, doc: Doc) -> Doc:
        lemma = self.lemma
        for token in doc:
            token.lemma_ = lemma(token.lower_)
        return doc


@Language.factory("lowercase_lemmatizer")
def make_lowercase_lemmatizer(nlp: Language, name: str) -> LowercaseLemmatizer:
    return LowercaseLemmatizer()


class ThemeMatcher:
    """Phrase matching on lemmas for every theme's terms, weak terms and exclusions, and for the
    two relevance vocabularies; then negation and hedging per hit."""

    def __init__(self, nlp: Language, taxonomy_path: str):
        taxonomy = load_taxonomy(Path(taxonomy_path))
        lemmatizer = nlp.get_pipe("lowercase_lemmatizer")
        self.matcher = PhraseMatcher(nlp.vocab, attr="LEMMA")
        self.vocab = nlp.vocab

        def add(key: str, terms: list[str]) -> None:
            if terms:
                self.matcher.add(key, [lemmatizer(nlp.make_doc(str(term))) for term in terms])

        for theme in taxonomy.themes.values():
            add(f"{theme.id}|term", theme.terms)
            add(f"{theme.id}|weak", theme.weak)
            add(f"{theme.id}|exclude", theme.exclude)
        add(f"{AI}|term", taxonomy.ai_terms)
        add(f"{MENTAL_HEALTH}|term", taxonomy.mental_health_terms)

    def __call__(self, doc: Doc) -> Doc:
        found: dict[str, list] = {}
        excluded: dict[str, list] = {}
        for match_id, start, end in self.matcher(doc):
            theme, strength = self.vocab.strings[match_id].split("|")
            target = excluded if strength == "exclude" else found
            target.setdefault(theme, []).append((doc[start:end], strength == "weak"))
        hits = []
        for theme, matches in found.items():
            blocked = [(s.start, s.end) for s, _ in excluded.get(theme, [])]
            weak_of = {(s.start, s.end): weak for s, weak in matches}
            for span in filter_spans([s for s, _ in matches]):
                if any(a < span.end and span.start < b for a, b in blocked):
                    continue
                negated, hedged = _negated(span), _hedged(span)
                hits.append(Hit(theme, f"{theme}:{span.text.lower()}", span.start, span.end,
                                weak_of[(span.start, span.end)], negated, hedged))
        doc._.hits = sorted(hits, key=lambda h: (h.start, h.theme))
        return doc


def _negated(span) -> bool:
    """A negation cue shortly before the hit, in its sentence: "no", "without", ..., or "not"
    followed by a verb of finding or studying ("did not assess", "was not associated with")."""
    window = span.doc[max(span.sent.start, span.start - NEGATION_WINDOW):span.start]
    for position, token in enumerate(window):
        if token.lower_ in NEGATION_CUES:
            return True
        if token.lower_ in ("not", "n't") and any(t.lemma_ in NEGATED_VERBS for t in window[position + 1:]):
            return True
    return False


def _hedged(span) -> bool:
    return any(t.lower_ in HEDGE_CUES for t in span.doc[span.sent.start:span.start])


@Language.factory("theme_matcher", default_config={"taxonomy_path": str(TAXONOMY)})
def make_theme_matcher(nlp: Language, name: str, taxonomy_path: str) -> ThemeMatcher:
    return ThemeMatcher(nlp, taxonomy_path)


def entity_patterns(nlp: Language, entities_path: Path = ENTITIES) -> list[dict]:
    """EntityRuler patterns: case-insensitive token patterns unless an entity says `case: exact`."""
    patterns = []
    for entity in load_entities(entities_path):
        key = "ORTH" if entity.exact_case else "LOWER"
        for alias in entity.aliases:
            tokens = [t.text if entity.exact_case else t.lower_ for t in nlp.make_doc(alias)]
            patterns.append({"label": entity.type, "id": entity.id,
                             "pattern": [{key: text} for text in tokens]})
    return patterns


def build_pipeline(taxonomy_path: Path = TAXONOMY, entities_path: Path = ENTITIES) -> Language:
    """The tagging pipeline, from the vocabularies in annotations/ (no model is downloaded)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lowercase_lemmatizer")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": None})
    ruler.add_patterns(entity_patterns(nlp, entities_path))
    nlp.add_pipe("theme_matcher", config={"taxonomy_path": str(taxonomy_path)})
    return nlp
