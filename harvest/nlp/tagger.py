"""From texts to tags: relevance, themes with their evidence sentences, entities, study design.

Pure: a document's fields in, a JSON-ready result out. Field weights make a title hit count more
than an abstract hit, and an abstract hit more than one in the body.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable, Iterator

import ahocorasick
from spacy.language import Language

from ..text import normalised
from .pipeline import AI, MENTAL_HEALTH, ML_CONTEXT, SentenceText, reading
from .vocab import Settings, Taxonomy

if TYPE_CHECKING:
    from .learned import LearnedLayer

FIELDS = ("title", "abstract", "body")
MAX_FIELD_CHARS = 50_000  # longer fields are cut here (and the result says so)
MAX_EVIDENCE = 5  # sentences kept per theme
LEARNED_BATCH = 256  # rule results judged by the learned layer at a time (embedded in order of length)
LEARNED_MIN_WORDS = 2  # different words (lemmas) of a theme the learned layer needs where no term or
# statement names it: one passing word, however often repeated ("data", "access"), is not a statement
TOO_LITTLE_TEXT = "too little text to judge (a title alone, or nothing)"
PLACEHOLDER_ONLY = "known only by placeholder text from the seed list (its link text), not yet by the work itself"
RELEVANCE_STATES = ("relevant", "related", "off-topic", "undetermined")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TAG = re.compile(r"<[^<>]{0,300}>")
DESIGN_KINDS = ("paper", "preprint")


@dataclass
class TextInput:
    id: str
    title: str = ""
    abstract: str = ""
    body: str = ""
    kind: str | None = None
    publication_types: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)  # placeholder fields (seed link text): never judged


def clean(text: str | None) -> tuple[str, list[str]]:
    """Text safe to tag: HTML remnants and control characters removed, length capped."""
    notes = []
    text = text or ""
    if "<" in text or "&" in text:
        stripped = html.unescape(TAG.sub(" ", text))
        if stripped != text:
            notes.append("HTML remnants removed")
        text = stripped
    if CONTROL.search(text):
        text = CONTROL.sub(" ", text)
        notes.append("control characters removed")
    text = normalised(text)  # as the corpus stores it: soft hyphens and zero-width characters out, NFC
    if len(text) > MAX_FIELD_CHARS:
        text = text[:MAX_FIELD_CHARS]
        notes.append(f"text cut to its first {MAX_FIELD_CHARS} characters")
    return text, notes


def tag_documents(nlp: Language, taxonomy: Taxonomy, inputs: Iterable[TextInput],
                  batch_size: int = 64, settings: Settings | None = None,
                  learned: "LearnedLayer | None | bool" = None) -> Iterator[dict]:
    """Tag each input, in order; one result dict per input: id, relevance (one of
    RELEVANCE_STATES), relevant (bool), relevance_reason, themes [{theme, score, source (rules,
    learned or both), evidence, negated}], entities, study_design, study_design_source, notes.

    `learned`: the learned theme layer; None loads the trained one from annotations/ when it is
    there, False tags with the rules alone."""
    if learned is None:
        from .learned import load_default
        learned = load_default()
    pending: list[dict] = []
    for result in rule_results(nlp, taxonomy, inputs, batch_size, settings, all_evidence=False):
        pending.append(result)
        if len(pending) >= LEARNED_BATCH:
            yield from finish(pending, taxonomy, learned.decide(pending) if learned else None)
            pending = []
    yield from finish(pending, taxonomy, learned.decide(pending) if learned else None)


def rule_results(nlp: Language, taxonomy: Taxonomy, inputs: Iterable[TextInput], batch_size: int = 64,
                 settings: Settings | None = None, all_evidence: bool = True) -> Iterator[dict]:
    """The rules' view of each input, in order, before themes are decided: relevance, entities
    and study design are final; the rules' scores and evidence travel under `_rules`.
    `all_evidence`: gather the rules' scores and evidence for every input (training reads them
    for documents labelled relevant); when False only for the inputs judged relevant, the only
    ones whose themes are decided."""
    settings = settings or nlp.get_pipe("theme_matcher").settings  # read once, when the pipeline was built

    def fields() -> Iterator[tuple[str, tuple]]:
        for item in inputs:
            cleaned = {name: clean("" if name in item.unverified else getattr(item, name)) for name in FIELDS}
            read = [name for name in FIELDS if cleaned[name][0]] or [FIELDS[0]]  # empty fields are not read
            for name in read:
                yield cleaned[name][0], (item, name, cleaned, name == read[-1])

    empty = nlp("")
    docs: dict = {}
    for doc, (item, name, cleaned, last) in nlp.pipe(fields(), as_tuples=True, batch_size=batch_size):
        docs[name] = doc
        if last:
            docs = {name: docs.get(name, empty) for name in FIELDS}
            texts = {name: text for name, (text, _) in cleaned.items()}
            notes = [f"{name}: {note}" for name, (_, field_notes) in cleaned.items() for note in field_notes]
            yield _result(item, docs, texts, notes, taxonomy, settings, all_evidence)
            docs = {}


def finish(results: list[dict], taxonomy: Taxonomy, decisions: list[dict] | None) -> Iterator[dict]:
    """Decide the themes of rule results: `decisions` (theme -> shown?, per result, from the
    learned layer) where given, the rules' threshold otherwise. A theme is shown only with a
    sentence that justifies it; one the rules did not reach, only where a term, a statement or
    LEARNED_MIN_WORDS different words name it (`_named`). Removes `_rules`."""
    for index, result in enumerate(results):
        rules = result.pop("_rules")
        decision = decisions[index] if decisions else None
        themes = []
        if result["relevance"] == "relevant":
            for theme in taxonomy.themes:
                fired = fires(rules, theme)
                chosen = decision[theme] if decision and theme in decision else fired
                if chosen and not fired and not _named(rules, theme):
                    chosen = False
                evidence = _distinct(rules["evidence"].get(theme, []))[:MAX_EVIDENCE]
                if not chosen or not evidence:
                    continue
                source = ("rules" if not decision or theme not in decision else
                          "both" if fired else "learned")
                themes.append({"theme": theme, "score": round(rules["scores"].get(theme, 0.0), 2),
                               "source": source, "evidence": evidence,
                               "negated": _distinct(rules["negated"].get(theme, []))[:MAX_EVIDENCE]})
        result["themes"] = themes
        yield result


def _result(item: TextInput, docs: dict, texts: dict, notes: list[str], taxonomy: Taxonomy,
            settings: Settings, all_evidence: bool = True) -> dict:
    """The rules' view of one document. `texts` holds each field's string (the docs' own text,
    without rebuilding it). Themes are decided later, a batch at a time (`finish`); until then
    the rules' scores and evidence travel under `_rules`, which `finish` removes."""
    scores: dict[str, float] = {}
    evidence: dict[str, list] = {}
    negated: dict[str, list] = {}
    signals = Signals()
    strong: set[str] = set()  # themes named by a term or a statement, not by weak words alone
    words: dict[str, set[str]] = {}  # theme -> the lemmas of its hits that count
    counted: set[tuple[str, str, str]] = set()  # a sentence repeated (a title echoed in the text) counts once
    readings = {name: reading(doc) for name, doc in docs.items()}
    for name, read in readings.items():
        for vocabulary, weak, denied, _, _ in read.signals:
            signals.add(vocabulary, weak, denied, name, settings.field_weights[name], settings.weak_factor)
    relevance, reason = _relevance(signals, item, docs, readings, settings)
    for name, doc in docs.items() if all_evidence or relevance == "relevant" else ():
        weight = settings.field_weights[name]
        sentence_text = SentenceText(doc, texts[name])
        for hit in readings[name].hits:
            record = {"field": name, "sentence": sentence_text(hit.start),
                      "text": texts[name][hit.start_char:hit.end_char], "start": hit.start_char,
                      "end": hit.end_char, "rule": hit.rule,
                      "negated": hit.negated, "hedged": hit.hedged}
            if hit.negated:
                negated.setdefault(hit.theme, []).append(record)
                continue
            if not hit.weak:
                strong.add(hit.theme)
            words.setdefault(hit.theme, set()).add(hit.lemmas)
            key = (hit.theme, hit.rule, record["sentence"])
            if key not in counted:
                counted.add(key)
                scores[hit.theme] = scores.get(hit.theme, 0.0) + (settings.weak_factor if hit.weak else weight)
            evidence.setdefault(hit.theme, []).append(record)
    design, design_source = study_design(item, texts, taxonomy)
    return {"id": item.id, "relevance": relevance, "relevant": relevance == "relevant",
            "relevance_reason": reason, "themes": [],
            "entities": _entities(docs, readings, texts), "study_design": design,
            "study_design_source": design_source, "notes": notes,
            "_rules": {"scores": scores, "evidence": evidence, "negated": negated, "signals": signals,
                       "strong": strong, "words": words,
                       "threshold": settings.theme_threshold, "texts": texts,
                       "headline": bool(texts.get("title")) and not (texts.get("abstract") or texts.get("body"))}}


@dataclass
class Signals:
    """What the relevance vocabularies found in one document (negated mentions count: a study
    that found no anxiety is still about anxiety)."""
    ai: int = 0  # mentions of AI in this project's sense
    ai_title: bool = False
    ai_general: int = 0  # other AI and machine learning
    ai_general_title: bool = False
    ml_methods: int = 0  # machine learning named as a method
    ml_context: int = 0  # sensors, images, health records
    mental_health: float = 0.0  # weighted by field
    mental_health_weak: float = 0.0

    def add(self, vocabulary: str, weak: bool, negated: bool, field_name: str, weight: float,
            weak_factor: float) -> None:
        """Count one mention of a relevance vocabulary (AI, ML_CONTEXT or MENTAL_HEALTH) in a field."""
        if vocabulary == AI:
            if negated:  # "apps without AI"
                return
            if weak:
                self.ai_general += 1
                self.ai_general_title |= field_name == "title"
            else:
                self.ai += 1
                self.ai_title |= field_name == "title"
        elif vocabulary == ML_CONTEXT:
            if weak:
                self.ml_methods += 1
            else:
                self.ml_context += 1
        elif vocabulary == MENTAL_HEALTH:
            if weak:
                self.mental_health_weak += weak_factor * weight
            else:
                self.mental_health += weight


def _relevance(signals: Signals, item: TextInput, docs: dict, readings: dict, settings: Settings) -> tuple[str, str]:
    """One of RELEVANCE_STATES, with the reason. See annotations/taxonomy.yaml (`relevance`)."""
    words = sum(read.words for read in readings.values())
    headline = not any(len(docs[name]) for name in FIELDS[1:] if name in docs)
    if not words:
        return "undetermined", PLACEHOLDER_ONLY if item.unverified else TOO_LITTLE_TEXT
    if headline and words < settings.min_headline_words:
        return "undetermined", TOO_LITTLE_TEXT
    common = sum(read.common for read in readings.values())
    if words >= 30 and common / words < 0.03:
        return "off-topic", "not English text (the tagger reads English only)"
    long_text = words > settings.long_text_words
    ours = (signals.ai > 1 or signals.ai_title or (signals.ai and not long_text)) or (
        signals.ai_general > 0 and not signals.ml_context and (
            headline or signals.ai_general_title or signals.ai_general >= settings.ai_general_mentions))
    any_ai = signals.ai or signals.ai_general or signals.ml_methods
    # professions and broad words ("psychiatrists", "distress") speak of mental health beside a
    # mental-health term, or in a text about LLMs and chatbots; not beside AI in general alone, and
    # in a long text about AI in general (health care at large) they do not lift one passing term
    lifted = signals.ai or (signals.mental_health and not long_text)
    mental = signals.mental_health + (signals.mental_health_weak if lifted else 0.0)
    needed = settings.mental_health_long_text if long_text else 1.0
    if mental < needed:
        if not any_ai:
            return "off-topic", "neither AI nor mental health is mentioned"
        return "off-topic", ("about AI, but no mental-health term" if not mental + signals.mental_health_weak
                             else "about AI; mental health is mentioned only in passing")
    if ours:
        return "relevant", (f"AI in this project's sense ({signals.ai} mention(s) of LLMs, chatbots or "
                            f"generative AI; {signals.ai_general} of AI in general) and mental health "
                            f"(score {mental:g})")
    if any_ai:
        kind = ("machine learning on sensors, images or health records" if signals.ml_context else
                "machine learning as a method" if signals.ml_methods and not (signals.ai or signals.ai_general)
                else "AI named only in passing")
        return "related", f"about mental health and other AI ({kind}); no LLM, chatbot or generative AI"
    return "off-topic", "about mental health, but no AI, LLM or chatbot term"


def fires(rules: dict, theme: str) -> bool:
    """Do the rules alone tag `theme`? Its score reaches the threshold, and a term or a statement
    names it: weak words alone ("clinicians", "training") are passing words, not a statement."""
    return rules["scores"].get(theme, 0.0) >= rules["threshold"] and theme in rules["strong"]


def _named(rules: dict, theme: str) -> bool:
    """Is `theme` named by a term or a statement, or by at least LEARNED_MIN_WORDS different weak
    words? What the learned layer may show where the rules' threshold was not reached."""
    return theme in rules["strong"] or len(rules["words"].get(theme, ())) >= LEARNED_MIN_WORDS


def _distinct(records: list[dict]) -> list[dict]:
    seen, kept = set(), []
    for record in records:
        key = (record["field"], record["sentence"])
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept


def _entities(docs: dict, readings: dict, texts: dict) -> list[dict]:
    """Entities with their mention counts and the sentence of their first mention."""
    found: dict[str, dict] = {}
    for name, doc in docs.items():
        mentions = readings[name].entities
        if not mentions:
            continue
        sentence_text = SentenceText(doc, texts[name])
        for mention in mentions:
            entity = found.get(mention.entity)
            if entity is None:
                entity = found[mention.entity] = {
                    "id": mention.entity, "type": mention.label, "mentions": 0,
                    "evidence": {"field": name, "sentence": sentence_text(mention.start),
                                 "text": texts[name][mention.start_char:mention.end_char],
                                 "start": mention.start_char, "end": mention.end_char,
                                 "rule": f"entity:{mention.entity}", "negated": False, "hedged": False}}
            entity["mentions"] += 1
    return sorted(found.values(), key=lambda e: (-e["mentions"], e["id"]))


def study_design(item: TextInput, texts: dict, taxonomy: Taxonomy) -> tuple[str | None, str | None]:
    """PubMed publication types win; otherwise the design with most cues in the title and
    abstract. Only papers and preprints (or inputs of unknown kind) get a design."""
    if item.kind and item.kind not in DESIGN_KINDS:
        return None, None
    for publication_type in item.publication_types:
        if publication_type in taxonomy.publication_types:
            return taxonomy.publication_types[publication_type], f"publication type: {publication_type}"
    text = " ".join(texts[name].lower() for name in ("title", "abstract") if name in texts)
    present = set()  # the designs with a cue anywhere in the text (one pass for every design's cues)
    for _, designs in _cue_automaton(taxonomy.study_designs).iter(text):
        present |= designs
    best, best_cues = None, []
    for design, patterns in taxonomy.study_designs:
        if design not in present:  # no cue at all: spare the regex
            continue
        cues = sorted({match.group(1) for match in _cues(patterns).finditer(text)})
        if len(cues) > len(best_cues):
            best, best_cues = design, cues
    if best is None:
        return None, None
    return best, "rules: " + ", ".join(best_cues)


@lru_cache(maxsize=None)
def _cue_automaton(designs: tuple[tuple[str, tuple[str, ...]], ...]):
    """An Aho-Corasick automaton over every design's cues: each occurrence in a text gives the
    designs that cue belongs to."""
    automaton = ahocorasick.Automaton()
    owners: dict[str, set] = {}
    for design, patterns in designs:
        for pattern in patterns:
            owners.setdefault(pattern, set()).add(design)
    for pattern, names in owners.items():
        automaton.add_word(pattern, frozenset(names))
    automaton.make_automaton()
    return automaton


@lru_cache(maxsize=None)
def _cues(patterns: tuple[str, ...]) -> re.Pattern:
    """One regex for a design's cues; group 1 names the cue found. A cue may take up to three
    more letters ("survey" finds "surveyed")."""
    alternatives = "|".join(re.escape(p) for p in sorted(patterns, key=len, reverse=True))
    return re.compile(r"(?<![a-z])(" + alternatives + r")[a-z]{0,3}(?![a-z])")
