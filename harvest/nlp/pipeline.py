"""The spaCy pipeline: no downloaded model, only registered components built from annotations/.

    sentences -> theme_matcher -> entity_matcher

`build_pipeline()` assembles it. Lemmas are not a component: each word's lowercase lemma is kept
as its lexeme's NORM (LowercaseLemmatizer), and the matchers read NORM. Every component reads
and writes arrays of string ids, never a Token object per token: a Token costs more than the
matching itself (benchmarks/README.md). What they find is kept in one `Reading` per doc
(`doc._.reading`): sentences; the mentions of the relevance vocabularies (AI, machine learning in
context, mental health); the themes' hits (one Hit per vocabulary match or statement, with its
theme, whether it is weak, negated ("no evidence of psychosis", "did not assess privacy") or
hedged ("may worsen"), worked out only when read); entities.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy
import spacy
from spacy.attrs import IDX, IS_ALPHA, IS_PUNCT, LENGTH, LOWER, NORM, SENT_START, SPACY
from spacy.language import Language
from spacy.lookups import load_lookups
from spacy.matcher import PhraseMatcher
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc

from .vocab import ENTITIES, SETTINGS, TAXONOMY, load_entities, load_entity_rules, load_settings, load_taxonomy

AI, MENTAL_HEALTH, ML_CONTEXT = "_ai", "_mh", "_ml"  # relevance pseudo-themes

if not Doc.has_extension("reading"):
    Doc.set_extension("reading", default=None)  # what the components found (a Reading)

COMMON_ENGLISH = frozenset("the of and to in is for with that on are as by this from be an or".split())


@dataclass
class Sentence:
    start: int  # token offsets
    end: int
    start_char: int  # character offsets in the doc's text
    end_char: int


@dataclass
class Reading:
    """What the components found in one doc, kept as `doc._.reading` (one extension attribute:
    each `doc._` access makes an object, and the tagger reads these for every field)."""
    sentences: list[Sentence]
    words: int = 0  # alphabetic tokens
    common: int = 0  # of those, among COMMON_ENGLISH (is the text English?)
    signals: list = field(default_factory=list)  # [(relevance vocabulary, weak, negated, start, end)]
    hits: "Findings | None" = None  # the themes' hits
    entities: list = field(default_factory=list)  # Mention tuples, in order (EntityMatcher)


class Mention(NamedTuple):
    """An entity mention: token and character offsets in its doc, the entity's type and id."""
    start: int
    end: int
    start_char: int
    end_char: int
    label: str
    entity: str


def reading(doc: Doc) -> Reading:
    """The doc's Reading, started from its sentence boundaries if no component made one."""
    found = doc._.reading
    if found is None:
        found = doc._.reading = Reading(_sentences(doc))
    return found


class SentenceText:
    """The text of the sentence holding a token, for one doc and its text. (Span.sent walks the
    tokens at every call; this bisects the table the theme matcher builds once per doc.)"""

    def __init__(self, doc: Doc, text: str):
        self.sentences = reading(doc).sentences
        self.starts = [sentence.start for sentence in self.sentences]
        self.text = text

    def __call__(self, token: int) -> str:
        sentence = self.sentences[bisect_right(self.starts, token) - 1]
        return self.text[sentence.start_char:sentence.end_char].strip()



@dataclass
class Hit:
    theme: str
    rule: str
    start: int  # token offsets in the doc
    end: int
    weak: bool
    negated: bool
    hedged: bool
    start_char: int = 0  # character offsets in the doc's text
    end_char: int = 0
    lemmas: str = ""  # the lemmas of its words, space-separated ("chatbot", "ai psychosis")


class Sentences:
    """spaCy's rule-based sentence splitting (the `sentencizer`, default punctuation: a sentence
    starts at the first word after a run holding a sentence-final mark), computed on arrays,
    without a Token object per token.

    Gives the same boundaries as spacy.pipeline.Sentencizer but for one deliberate difference:
    a final mark with no whitespace after it (SPACY false) that is directly followed by a word
    token which starts in lower case or is two or three capitals ("AI", "NET", "JS") is part of a
    name and does not end a sentence. spaCy's tokenizer splits "Character.AI" into three tokens
    (an infix rule splits a "." between a letter and a capital), and the stock rule would make
    "Teen died by suicide after Character." a sentence. A glued mark before a capitalised word,
    a single capital or a longer capitals word still ends one: abstracts whose section labels lost
    their space ("accuracy.ConclusionOur results", "12 months.A total of", "controls.RESULTS We")
    end real sentences there. A mark followed by a space, a line break, a quote or bracket, or
    the end of the text is spaCy's rule unchanged."""

    def __init__(self, nlp: Language):
        self.final = flag(nlp, "sentence_final", frozenset(Sentencizer.default_punct_chars), lower=False)
        self.name_part = lexeme_flag(nlp, "name_part_after_a_mark", _name_part)

    def __call__(self, doc: Doc) -> Doc:
        if not len(doc):
            doc._.reading = Reading([Sentence(0, 0, 0, 0)])
            return doc
        array = doc.to_array([self.final, IDX, LENGTH, SPACY, IS_PUNCT, self.name_part])
        final = array[:, 0] == 1
        word = ~final & (array[:, 4] == 0)
        # a mark glued to a name part after it ("Character.AI") is inside a name, not a sentence end
        final[:-1] &= ~((array[:-1, 3] == 0) & word[1:] & (array[1:, 5] == 1))
        marks_before = numpy.concatenate(([0], numpy.cumsum(final)))  # marks among tokens [0, i)
        words = numpy.flatnonzero(word)
        previous = numpy.concatenate(([-1], words[:-1]))  # the word before each word
        starts = words[marks_before[words] > marks_before[previous + 1]]
        flags = numpy.full(len(doc), -1, dtype="int32")
        flags[0] = 1
        flags[starts] = 1
        doc.from_array([SENT_START], flags.reshape(-1, 1).astype("uint64"))
        doc._.reading = Reading(_sentence_table(starts.tolist(), array))
        return doc


def flag(nlp: Language, name: str, words: frozenset[str], lower: bool = True) -> int:
    """A lexeme flag (an attribute id for Doc.to_array) set on the words of `words`, compared in
    lower case unless `lower` is False. The vocabulary computes it once per word, not per token."""
    return lexeme_flag(nlp, (name, words, lower),
                       (lambda text: text.lower() in words) if lower else (lambda text: text in words))


def lexeme_flag(nlp: Language, key, test) -> int:
    """A lexeme flag (an attribute id for Doc.to_array) set on the words for which `test(text)`
    is true, one per vocabulary and `key` (a hashable name for the test)."""
    key = ("flags", key)
    cached = nlp.vocab.cfg.get(key)  # one flag per vocabulary and test
    if cached is None:
        cached = nlp.vocab.cfg[key] = nlp.vocab.add_flag(test)
    return cached


def _name_part(text: str) -> bool:
    """Whether a word glued after a sentence-final mark continues a name: it starts in lower
    case ("js"), or is two or three capital letters ("AI", "NET")."""
    return text[:1].islower() or (text.isalpha() and text.isupper() and 2 <= len(text) <= 3)


@Language.factory("sentences")
def make_sentences(nlp: Language, name: str) -> Sentences:
    return Sentences(nlp)


class LowercaseLemmatizer:
    """Lemmas from spaCy's English lookup table, looked up in lower case (the stock lookup
    lemmatizer is case-sensitive, so "Chatbots" at a sentence start would stay unlemmatized).
    A plural the table does not know loses its final s, the same way in texts and in patterns.
    Words under four letters are left alone: the table maps some of them onto other words
    ("ai" onto "have"), which would make unrelated words match.

    The lemma is a property of the word, not of the token: it is kept as each lexeme's NORM,
    computed once per word the vocabulary meets, so no component walks the tokens for it.
    (Tokenizer exceptions keep their own norms: "n't" is "not".)"""

    def __init__(self):
        self.table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")

    @classmethod
    def install(cls, nlp: Language) -> None:
        """Make every lexeme's NORM its lemma, for the words already known and those to come
        (once per vocabulary: the lookup table is loaded only then)."""
        if nlp.vocab.cfg.get("norms") == "lowercase lemmas":
            return
        norm = cls().norm
        nlp.vocab.lex_attr_getters[NORM] = norm
        for lexeme in nlp.vocab:
            lexeme.norm_ = norm(lexeme.orth_)
        nlp.vocab.cfg["norms"] = "lowercase lemmas"

    def lemma(self, lower: str) -> str:
        if len(lower) < 4:
            return lower
        found = self.table.get(lower)
        if found is not None:
            return found
        if len(lower) > 3 and lower.endswith("s") and not lower.endswith(("ss", "us", "is")):
            return lower[:-1]
        return lower

    def norm(self, text: str) -> str:
        return self.lemma(text.lower())


class ThemeMatcher:
    """Phrase matching on lemmas for every theme's terms, weak terms and exclusions, and for the
    two relevance vocabularies; then negation and hedging per hit."""

    def __init__(self, nlp: Language, taxonomy_path: str, settings_path: str = str(SETTINGS)):
        taxonomy = load_taxonomy(Path(taxonomy_path))
        settings = self.settings = load_settings(Path(settings_path))  # the tagger reads them from here
        LowercaseLemmatizer.install(nlp)
        self.matcher = PhraseMatcher(nlp.vocab, attr="NORM")  # lemmas: see LowercaseLemmatizer
        self.vocab = nlp.vocab
        ids = nlp.vocab.strings.add
        self.window = settings.negation_window
        self.hedge = flag(nlp, "hedge", frozenset(settings.hedge_cues))
        self.negation_ids = {ids(cue) for cue in settings.negation_cues}
        self.not_ids = {ids("not"), ids("n't")}
        self.negated_verb_ids = {ids(verb) for verb in settings.negated_verbs}
        self.common = flag(nlp, "common_english", COMMON_ENGLISH)

        self.keys: dict[int, tuple[str, str, bool]] = {}  # match id -> (kind of match, theme or group, weak)

        def add(key: str, terms: list[str]) -> None:
            if terms:
                self.matcher.add(key, [nlp.make_doc(str(term)) for term in terms])
                theme, strength = key.split("|")
                self.keys[ids(key)] = (strength, theme.lstrip("@"), strength == "weak")

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
        matching itself. The relevance vocabularies' mentions (`Reading.signals`) are read at once;
        the themes' hits (`Reading.hits`, a `Findings`) only when asked for: the tagger asks only
        for documents it judged relevant (most of a harvest is not)."""
        read = reading(doc)
        if not len(doc):  # an empty field
            read.hits = NO_FINDINGS
            return doc
        array = doc.to_array([LOWER, NORM, IDX, LENGTH, IS_ALPHA, self.common, self.hedge])
        lowers, lemmas = array[:, 0].tolist(), array[:, 1].tolist()
        read.words = int(array[:, 4].sum())
        read.common = int(array[:, 5].sum())
        found: dict[str, list] = {}
        excluded: dict[str, list] = {}
        groups: dict[str, list] = {}
        targets = {"group": groups, "exclude": excluded, "term": found, "weak": found}
        keys = self.keys
        for match_id, start, end in self.matcher(doc):
            strength, theme, weak = keys[match_id]
            targets[strength].setdefault(theme, []).append((start, end, weak))
        starts = [sentence.start for sentence in read.sentences]
        signals = []
        for theme in RELEVANCE_VOCABULARIES:
            blocked = excluded.get(theme, [])
            for start, end, weak in _longest_first(found.get(theme, ())):
                if any(a < end and start < b for a, b, _ in blocked):
                    continue
                sentence_start = starts[bisect_right(starts, start) - 1]
                negated = self._negated(lowers, lemmas, range(max(sentence_start, start - self.window), start))
                signals.append((theme, weak, negated, start, end))
        read.signals = signals
        read.hits = Findings(self, found, excluded, groups, starts, lowers, lemmas, array)
        return doc

    def hits(self, found: dict, excluded: dict, groups: dict, starts: list[int], lowers: list[int],
             lemmas: list[int], array: numpy.ndarray) -> list[Hit]:
        """The themes' hits in one doc, in order of position: terms (the longest of overlapping
        ones, none inside an exclusion), then statements (see `_statements`)."""
        offsets, lengths = array[:, 2].tolist(), array[:, 3].tolist()
        hedges = numpy.flatnonzero(array[:, 6]).tolist()
        strings = self.vocab.strings
        hits = []
        for theme, matches in found.items():
            if theme in RELEVANCE_VOCABULARIES:
                continue
            blocked = excluded.get(theme, [])
            for start, end, weak in _longest_first(matches):
                if any(a < end and start < b for a, b, _ in blocked):
                    continue
                sentence_start = starts[bisect_right(starts, start) - 1]
                before = range(max(sentence_start, start - self.window), start)
                words = "".join(strings[lowers[i]] + " " * (offsets[i + 1] - offsets[i] - lengths[i])
                                for i in range(start, end - 1)) + strings[lowers[end - 1]]
                hits.append(Hit(theme, f"{theme}:{words}", start, end, weak, self._negated(lowers, lemmas, before),
                                _any_between(hedges, sentence_start, start),
                                offsets[start], offsets[end - 1] + lengths[end - 1],
                                " ".join(strings[lemmas[i]] for i in range(start, end))))
        if self.statements and groups:
            groups["ai"] = found.get(AI, [])  # AI of any kind: themes are read only in relevant documents
            hits += self._statement_hits(hits, groups, starts, lowers, lemmas, hedges, offsets, lengths)
        return sorted(hits, key=lambda h: (h.start, h.theme))

    def _statement_hits(self, hits: list[Hit], groups: dict, starts: list[int], lowers: list[int],
                        lemmas: list[int], hedges: list[int], offsets: list[int], lengths: list[int]) -> list[Hit]:
        """A hit for each statement made by a sentence whose theme no term already names there."""
        named = {(h.theme, bisect_right(starts, h.start)) for h in hits if not h.weak}
        made = []
        for theme, (start, end, name) in _statements(self.statements, groups, starts, len(lowers)):
            sentence = bisect_right(starts, start)
            if (theme, sentence) in named:
                continue
            named.add((theme, sentence))
            sentence_start = starts[sentence - 1]
            last = end - 1  # a statement is negated where its last part is ("no evidence of psychosis")
            made.append(Hit(theme, f"{theme}:statement:{name}", start, end, False,
                            self._negated(lowers, lemmas, range(max(sentence_start, last - self.window), last)),
                            _any_between(hedges, sentence_start, start),
                            offsets[start], offsets[end - 1] + lengths[end - 1],
                            " ".join(self.vocab.strings[lemmas[i]] for i in range(start, end))))
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


RELEVANCE_VOCABULARIES = (AI, ML_CONTEXT, MENTAL_HEALTH)


class Findings:
    """The themes' hits in one doc (`list(findings)`), worked out from the matcher's raw matches
    on first use and kept."""

    def __init__(self, matcher: ThemeMatcher | None, *matched):
        self.matcher, self.matched, self.hits = matcher, matched, None if matcher else []

    def __iter__(self):
        if self.hits is None:
            self.hits = self.matcher.hits(*self.matched)
            self.matched = ()
        return iter(self.hits)


NO_FINDINGS = Findings(None)


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


def _any_between(positions: list[int], start: int, end: int) -> bool:
    """Is one of the sorted `positions` in [start, end)?"""
    index = bisect_left(positions, start)
    return index < len(positions) and positions[index] < end


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
    array = doc.to_array([SENT_START, IDX, LENGTH, SPACY])
    return _sentence_table(numpy.flatnonzero(array[:, 0] == 1).tolist(), array)


def _sentence_table(starts: list[int], array: numpy.ndarray) -> list[Sentence]:
    """Sentences from the tokens that start them and an array whose columns 1-3 are IDX,
    LENGTH and SPACY."""
    if not starts or starts[0] != 0:
        starts = [0] + starts
    offsets = array[:, 1].tolist()
    size = len(offsets)
    bounds = starts + [size]
    chars = [offsets[i] for i in starts] + [int(array[-1, 1] + array[-1, 2] + array[-1, 3])]
    return [Sentence(bounds[k], bounds[k + 1], chars[k], chars[k + 1]) for k in range(len(starts))]


@Language.factory("theme_matcher", default_config={"taxonomy_path": str(TAXONOMY),
                                                   "settings_path": str(SETTINGS)})
def make_theme_matcher(nlp: Language, name: str, taxonomy_path: str, settings_path: str) -> ThemeMatcher:
    return ThemeMatcher(nlp, taxonomy_path, settings_path)


class EntityMatcher:
    """Products, companies and other named entities from annotations/entities.yaml, kept only in
    context.

    Matching follows spaCy's EntityRuler run twice, as two phrase rulers did before: first the
    names that ignore case (matched on LOWER), then those that say `case: exact` ("Claude",
    "Pi"; on ORTH), each taking the longest, earliest match and never a token already taken.
    Then a mention is dropped when it names something else: a word after or before it carries
    the name on ("Bard College"), or, for an entity that asks for context, its sentence holds
    none of its context words (`ai`: any AI term the theme matcher found outside the mention).
    The mentions kept are `Reading.entities` (Mention tuples, in order); `doc.ents` is left alone:
    nothing reads it, and setting it costs a Span and two Token objects per mention."""

    def __init__(self, nlp: Language, entities_path: str):
        path = Path(entities_path)
        ids = nlp.vocab.strings.add
        LowercaseLemmatizer.install(nlp)  # context words are compared as lemmas
        self.vocab = nlp.vocab
        self.matchers = []
        self.names: dict[int, tuple[str, str]] = {}  # match key -> (label, entity id)
        for exact, attr in ((False, "LOWER"), (True, "ORTH")):
            matcher = PhraseMatcher(nlp.vocab, attr=attr)
            for pattern in entity_patterns(path, exact_case=exact):
                key = ids(f"{pattern['label']}|{pattern['id']}")
                self.names[key] = (pattern["label"], pattern["id"])
                matcher.add(f"{pattern['label']}|{pattern['id']}", [nlp.make_doc(pattern["pattern"])])
            self.matchers.append(matcher)
        rules = load_entity_rules(path)
        self.after = {ids(w) for w in rules.after}
        self.before = {ids(w) for w in rules.before}
        self.context = {}
        for entity in load_entities(path):
            if entity.context:
                self.context[entity.id] = ({ids(w) for w in entity.context if w != "ai"}, "ai" in entity.context)

    def __call__(self, doc: Doc) -> Doc:
        if not len(doc):
            return doc
        taken: set[int] = set()
        mentions = []
        for matcher in self.matchers:
            ruled = set(taken)  # a later ruler leaves the earlier one's entities alone
            matches = sorted({(key, start, end) for key, start, end in matcher(doc) if start != end},
                             key=lambda m: (m[2] - m[1], -m[1]), reverse=True)
            for key, start, end in matches:
                if ruled.intersection(range(start, end)) or start in taken or end - 1 in taken:
                    continue
                mentions.append((start, end, key))
                taken.update(range(start, end))
        if not mentions:
            return doc
        array = doc.to_array([LOWER, NORM, IDX, LENGTH])
        lowers, lemmas, offsets, lengths = array.T.tolist()
        read = reading(doc)
        sentences = read.sentences
        starts = [sentence.start for sentence in sentences]
        ai_hits = [(start, end) for theme, _, _, start, end in read.signals if theme == AI]
        kept = []
        for start, end, key in sorted(mentions):
            label, entity = self.names[key]
            if (end < len(doc) and lowers[end] in self.after) or (start > 0 and lowers[start - 1] in self.before):
                continue
            wanted = self.context.get(entity)
            if wanted:
                words, ai = wanted
                sentence = sentences[bisect_right(starts, start) - 1]
                outside = [i for i in range(sentence.start, sentence.end) if not start <= i < end]
                found = any(lemmas[i] in words or lowers[i] in words for i in outside) or (ai and any(
                    sentence.start <= a < sentence.end and not (start <= a < end) for a, _ in ai_hits))
                if not found:
                    continue
            kept.append(Mention(start, end, offsets[start], offsets[end - 1] + lengths[end - 1], label, entity))
        read.entities = kept
        return doc


@Language.factory("entity_matcher", default_config={"entities_path": str(ENTITIES)})
def make_entity_matcher(nlp: Language, name: str, entities_path: str) -> EntityMatcher:
    return EntityMatcher(nlp, entities_path)


def entity_patterns(entities_path: Path = ENTITIES, exact_case: bool = False) -> list[dict]:
    """Phrase patterns for the entities that ignore case, or for those that say `case: exact`."""
    return [{"label": entity.type, "id": entity.id, "pattern": alias}
            for entity in load_entities(entities_path) if entity.exact_case == exact_case
            for alias in entity.aliases]


def build_pipeline(taxonomy_path: Path = TAXONOMY, entities_path: Path = ENTITIES) -> Language:
    """The tagging pipeline, from the vocabularies in annotations/ (no model is downloaded)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentences")
    nlp.add_pipe("theme_matcher", config={"taxonomy_path": str(taxonomy_path)})
    nlp.add_pipe("entity_matcher", config={"entities_path": str(entities_path)})
    return nlp
