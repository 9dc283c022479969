"""The spaCy pipeline: no downloaded model, only registered components built from annotations/.

    sentencizer -> lowercase_lemmatizer -> entities, exact_entities (entity rulers) -> theme_matcher
        -> entity_context

`build_pipeline()` assembles it. The theme matcher leaves `doc._.hits`: one Hit per vocabulary
match, with its theme (or the relevance pseudo-themes `_ai` and `_mh`), whether it is weak,
negated ("no evidence of psychosis", "did not assess privacy") or hedged ("may worsen").
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy
import spacy
from spacy.attrs import IDX, LEMMA, LOWER, SENT_START
from spacy.language import Language
from spacy.lookups import load_lookups
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from .vocab import ENTITIES, SETTINGS, TAXONOMY, load_entities, load_entity_rules, load_settings, load_taxonomy

AI, MENTAL_HEALTH, ML_CONTEXT = "_ai", "_mh", "_ml"  # relevance pseudo-themes

if not Doc.has_extension("hits"):
    Doc.set_extension("hits", default=None)
if not Doc.has_extension("sentences"):
    Doc.set_extension("sentences", default=None)


@dataclass
class Sentence:
    start: int  # token offsets
    end: int
    start_char: int  # character offsets in the doc's text
    end_char: int


def sentence_of(doc: Doc, token: int) -> Sentence:
    """The sentence holding token `token`. (Span.sent walks the tokens at every call; this
    bisects the table the theme matcher builds once per doc.)"""
    sentences = doc._.sentences
    return sentences[bisect_right(sentences, token, key=lambda s: s.start) - 1]



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
        self.cache: dict[int, int] = {}  # LOWER string id -> LEMMA string id

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
        """Set every token's lemma through arrays of string ids, not Token objects (faster by
        an order of magnitude on abstracts)."""
        strings, cache = doc.vocab.strings, self.cache
        lemmas = []
        for lower in doc.to_array(LOWER).tolist():
            lemma = cache.get(lower)
            if lemma is None:
                lemma = cache[lower] = strings.add(self.lemma(strings[lower]))
            lemmas.append(lemma)
        if lemmas:
            doc.from_array([LEMMA], numpy.array(lemmas, dtype="uint64").reshape(-1, 1))
        return doc


@Language.factory("lowercase_lemmatizer")
def make_lowercase_lemmatizer(nlp: Language, name: str) -> LowercaseLemmatizer:
    return LowercaseLemmatizer()


class ThemeMatcher:
    """Phrase matching on lemmas for every theme's terms, weak terms and exclusions, and for the
    two relevance vocabularies; then negation and hedging per hit."""

    def __init__(self, nlp: Language, taxonomy_path: str, settings_path: str = str(SETTINGS)):
        taxonomy = load_taxonomy(Path(taxonomy_path))
        settings = load_settings(Path(settings_path))
        lemmatizer = nlp.get_pipe("lowercase_lemmatizer")
        self.matcher = PhraseMatcher(nlp.vocab, attr="LEMMA")
        self.vocab = nlp.vocab
        ids = nlp.vocab.strings.add
        self.window = settings.negation_window
        self.hedge_ids = {ids(cue) for cue in settings.hedge_cues}
        self.negation_ids = {ids(cue) for cue in settings.negation_cues}
        self.not_ids = {ids("not"), ids("n't")}
        self.negated_verb_ids = {ids(verb) for verb in settings.negated_verbs}

        def add(key: str, terms: list[str]) -> None:
            if terms:
                self.matcher.add(key, [lemmatizer(nlp.make_doc(str(term))) for term in terms])

        for theme in taxonomy.themes.values():
            add(f"{theme.id}|term", theme.terms)
            add(f"{theme.id}|weak", theme.weak)
            add(f"{theme.id}|exclude", theme.exclude)
        add(f"{AI}|term", taxonomy.ai_terms)
        add(f"{AI}|weak", taxonomy.ai_general_terms)
        add(f"{ML_CONTEXT}|term", taxonomy.ml_context_terms)
        add(f"{ML_CONTEXT}|weak", taxonomy.ml_methods_terms)
        add(f"{MENTAL_HEALTH}|term", taxonomy.mental_health_terms)
        add(f"{MENTAL_HEALTH}|weak", taxonomy.mental_health_weak_terms)
        for group, terms in taxonomy.statement_groups.items():
            add(f"@{group}|group", terms)
        self.statements = taxonomy.statements

    def __call__(self, doc: Doc) -> Doc:
        """Works on arrays of string ids: a Token object per token would cost more than the
        matching itself."""
        sentences = doc._.sentences = _sentences(doc)
        starts = [sentence.start for sentence in sentences]
        lowers = doc.to_array(LOWER).tolist()
        lemmas = doc.to_array(LEMMA).tolist()
        found: dict[str, list] = {}
        excluded: dict[str, list] = {}
        groups: dict[str, list] = {}
        for match_id, start, end in self.matcher(doc):
            theme, strength = self.vocab.strings[match_id].split("|")
            target = groups if strength == "group" else excluded if strength == "exclude" else found
            target.setdefault(theme.lstrip("@"), []).append((start, end, strength == "weak"))

        hits = []
        for theme, matches in found.items():
            blocked = excluded.get(theme, [])
            for start, end, weak in _longest_first(matches):
                if any(a < end and start < b for a, b, _ in blocked):
                    continue
                sentence_start = starts[bisect_right(starts, start) - 1]
                before = range(max(sentence_start, start - self.window), start)
                hits.append(Hit(theme, f"{theme}:{doc[start:end].text.lower()}", start, end, weak,
                                self._negated(lowers, lemmas, before),
                                any(lowers[i] in self.hedge_ids for i in range(sentence_start, start))))
        if self.statements and groups:
            groups["ai"] = found.get(AI, [])  # AI of any kind: themes are read only in relevant documents
            hits += self._statement_hits(hits, groups, starts, lowers, lemmas, len(doc))
        doc._.hits = sorted(hits, key=lambda h: (h.start, h.theme))
        return doc

    def _statement_hits(self, hits: list[Hit], groups: dict, starts: list[int], lowers: list[int],
                        lemmas: list[int], size: int) -> list[Hit]:
        """A hit for each statement made by a sentence whose theme no term already names there."""
        named = {(h.theme, bisect_right(starts, h.start)) for h in hits if not h.weak}
        made = []
        for theme, (start, end, name) in _statements(self.statements, groups, starts, size):
            sentence = bisect_right(starts, start)
            if (theme, sentence) in named:
                continue
            named.add((theme, sentence))
            sentence_start = starts[sentence - 1]
            last = end - 1  # a statement is negated where its last part is ("no evidence of psychosis")
            made.append(Hit(theme, f"{theme}:statement:{name}", start, end, False,
                            self._negated(lowers, lemmas, range(max(sentence_start, last - self.window), last)),
                            any(lowers[i] in self.hedge_ids for i in range(sentence_start, start))))
        return made

    def _negated(self, lowers: list[int], lemmas: list[int], window: range) -> bool:
        """A negation cue shortly before the hit, in its sentence: "no", "without", ..., or
        "not" followed by a verb of finding or studying ("did not assess", "not associated")."""
        for i in window:
            if lowers[i] in self.negation_ids:
                return True
            if lowers[i] in self.not_ids and any(lemmas[j] in self.negated_verb_ids
                                                 for j in range(i + 1, window.stop)):
                return True
        return False


def _statements(rules: list[dict], groups: dict, starts: list[int], size: int):
    """(theme, (start, end, rule name)) for every sentence that makes one of the statements: it
    names each group of the rule (in order when the rule says so) and none of its `unless`."""
    by_sentence: dict[int, dict[str, list[int]]] = {}
    for group, matches in groups.items():
        for start, _, _ in matches:
            sentence = bisect_right(starts, start) - 1
            by_sentence.setdefault(sentence, {}).setdefault(group, []).append(start)
    for sentence, present in by_sentence.items():
        for rule in rules:
            if any(g in present for g in rule["unless"]) or not all(g in present for g in rule["all"]):
                continue
            if rule["ordered"]:
                position = -1
                for group in rule["all"]:
                    later = [s for s in present[group] if s > position]
                    if not later:
                        break
                    position = min(later)
                else:
                    position = None
                if position is not None:
                    continue
            first = min(min(present[g]) for g in rule["all"])
            last = max(max(present[g]) for g in rule["all"])
            end = starts[sentence + 1] if sentence + 1 < len(starts) else size
            yield rule["theme"], (first, min(last + 1, end), rule["name"])


def _longest_first(matches: list[tuple[int, int, bool]]) -> list[tuple[int, int, bool]]:
    """Overlapping matches of one theme reduced to the longest ("AI psychosis", not also
    "psychosis"), as spacy.util.filter_spans does for spans."""
    kept, taken = [], set()
    for start, end, weak in sorted(matches, key=lambda m: (m[0] - m[1], m[0])):
        if not taken.intersection(range(start, end)):
            kept.append((start, end, weak))
            taken.update(range(start, end))
    return sorted(kept)


def _sentences(doc: Doc) -> list[Sentence]:
    """The doc's sentences from its arrays (Doc.sents makes a Token object per token, and
    Doc.text rebuilds the text from them at every access: slice the caller's own string)."""
    if not len(doc):
        return [Sentence(0, 0, 0, 0)]
    starts = [i for i, flag in enumerate(doc.to_array(SENT_START).tolist()) if flag == 1 or i == 0]
    offsets = doc.to_array(IDX).tolist()
    last = doc[-1]
    bounds = starts + [len(doc)]
    chars = [offsets[i] for i in starts] + [last.idx + len(last.text_with_ws)]
    return [Sentence(bounds[k], bounds[k + 1], chars[k], chars[k + 1]) for k in range(len(starts))]


@Language.factory("theme_matcher", default_config={"taxonomy_path": str(TAXONOMY),
                                                   "settings_path": str(SETTINGS)})
def make_theme_matcher(nlp: Language, name: str, taxonomy_path: str, settings_path: str) -> ThemeMatcher:
    return ThemeMatcher(nlp, taxonomy_path, settings_path)


class EntityContext:
    """Drops entity mentions that name something else: a mention followed or preceded by a word
    that carries the name on ("Bard College"), or, for an entity that asks for context, one whose
    sentence holds none of its context words (`ai`: any AI term the theme matcher found, outside
    the mention itself)."""

    def __init__(self, nlp: Language, entities_path: str):
        path = Path(entities_path)
        ids = nlp.vocab.strings.add
        rules = load_entity_rules(path)
        self.after = {ids(w) for w in rules.after}
        self.before = {ids(w) for w in rules.before}
        self.context = {}
        for entity in load_entities(path):
            if entity.context:
                self.context[entity.id] = ({ids(w) for w in entity.context if w != "ai"}, "ai" in entity.context)

    def __call__(self, doc: Doc) -> Doc:
        if not doc.ents:
            return doc
        lowers = doc.to_array(LOWER).tolist()
        lemmas = doc.to_array(LEMMA).tolist()
        sentences = doc._.sentences or _sentences(doc)
        starts = [sentence.start for sentence in sentences]
        ai_hits = [(h.start, h.end) for h in (doc._.hits or []) if h.theme == AI]
        kept = []
        for ent in doc.ents:
            if (ent.end < len(doc) and lowers[ent.end] in self.after) or \
                    (ent.start > 0 and lowers[ent.start - 1] in self.before):
                continue
            wanted = self.context.get(ent.ent_id_)
            if wanted:
                words, ai = wanted
                sentence = sentences[bisect_right(starts, ent.start) - 1]
                inside = range(sentence.start, sentence.end)
                outside = [i for i in inside if not ent.start <= i < ent.end]
                found = any(lemmas[i] in words or lowers[i] in words for i in outside) or (ai and any(
                    sentence.start <= a < sentence.end and not (ent.start <= a < ent.end) for a, _ in ai_hits))
                if not found:
                    continue
            kept.append(ent)
        doc.ents = kept
        return doc


@Language.factory("entity_context", default_config={"entities_path": str(ENTITIES)})
def make_entity_context(nlp: Language, name: str, entities_path: str) -> EntityContext:
    return EntityContext(nlp, entities_path)


def entity_patterns(entities_path: Path = ENTITIES, exact_case: bool = False) -> list[dict]:
    """Phrase patterns for the entities that ignore case, or for those that say `case: exact`."""
    return [{"label": entity.type, "id": entity.id, "pattern": alias}
            for entity in load_entities(entities_path) if entity.exact_case == exact_case
            for alias in entity.aliases]


def build_pipeline(taxonomy_path: Path = TAXONOMY, entities_path: Path = ENTITIES) -> Language:
    """The tagging pipeline, from the vocabularies in annotations/ (no model is downloaded)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lowercase_lemmatizer")
    # two phrase rulers (a token-pattern ruler is several times slower): names that ignore case,
    # and names that are also ordinary words ("Claude", "Pi"), matched exactly
    nlp.add_pipe("entity_ruler", name="entities", config={"phrase_matcher_attr": "LOWER"}
                 ).add_patterns(entity_patterns(entities_path))
    nlp.add_pipe("entity_ruler", name="exact_entities", config={"phrase_matcher_attr": "ORTH"}
                 ).add_patterns(entity_patterns(entities_path, exact_case=True))
    nlp.add_pipe("theme_matcher", config={"taxonomy_path": str(taxonomy_path)})
    nlp.add_pipe("entity_context", config={"entities_path": str(entities_path)})
    return nlp
