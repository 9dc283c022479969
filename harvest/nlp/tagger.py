"""From texts to tags: relevance, themes with their evidence sentences, entities, study design.

Pure: a document's fields in, a JSON-ready result out. Field weights make a title hit count more
than an abstract hit, and an abstract hit more than one in the body.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Iterator

from spacy.language import Language

from spacy.attrs import IS_ALPHA, LOWER

from .pipeline import AI, MENTAL_HEALTH, sentence_of
from .vocab import Taxonomy

FIELD_WEIGHTS = {"title": 3.0, "abstract": 1.0, "body": 0.5}
LAST_FIELD = "body"
WEAK_FACTOR = 0.5  # a weak term counts this much wherever it stands: two are needed
THEME_THRESHOLD = 1.0
RELEVANT_MENTAL_HEALTH = 2.0  # in a long text one passing mention of mental health is not enough
LONG_TEXT_WORDS = 150  # (in a short abstract one mention is the topic; a title hit always is)
MAX_FIELD_CHARS = 50_000  # longer fields are cut here (and the result says so)
MAX_EVIDENCE = 5  # sentences kept per theme
MIN_WORDS = 8  # fewer words than this (a bare title from a link) cannot be judged
TOO_LITTLE_TEXT = "too little text to judge (a title alone, or nothing)"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TAG = re.compile(r"<[^<>]{0,300}>")
COMMON_ENGLISH = frozenset("the of and to in is for with that on are as by this from be an or".split())
DESIGN_KINDS = ("paper", "preprint")


@dataclass
class TextInput:
    id: str
    title: str = ""
    abstract: str = ""
    body: str = ""
    kind: str | None = None
    publication_types: list[str] = field(default_factory=list)


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
    if len(text) > MAX_FIELD_CHARS:
        text = text[:MAX_FIELD_CHARS]
        notes.append(f"text cut to its first {MAX_FIELD_CHARS} characters")
    return text, notes


def tag_documents(nlp: Language, taxonomy: Taxonomy, inputs: Iterable[TextInput],
                  batch_size: int = 64) -> Iterator[dict]:
    """Tag each input, in order; one result dict per input."""
    def fields() -> Iterator[tuple[str, tuple]]:
        for item in inputs:
            for name in FIELD_WEIGHTS:
                text, notes = clean(getattr(item, name))
                yield text, (item, name, text, notes)

    docs: dict = {}
    texts: dict = {}
    notes: list[str] = []
    for doc, (item, name, text, field_notes) in nlp.pipe(fields(), as_tuples=True, batch_size=batch_size):
        docs[name], texts[name] = doc, text
        notes += [f"{name}: {note}" for note in field_notes]
        if name == LAST_FIELD:
            yield _result(item, docs, texts, notes, taxonomy)
            docs, texts, notes = {}, {}, []


def _result(item: TextInput, docs: dict, texts: dict, notes: list[str], taxonomy: Taxonomy) -> dict:
    """`texts` holds each field's string (the docs' own text, without rebuilding it)."""
    scores: dict[str, float] = {}
    evidence: dict[str, list] = {}
    negated: dict[str, list] = {}
    counted: set[tuple[str, str, str]] = set()  # a sentence repeated (a title echoed in the text) counts once
    for name, doc in docs.items():
        weight = FIELD_WEIGHTS[name]
        for hit in doc._.hits:
            span = doc[hit.start:hit.end]
            record = {"field": name, "sentence": _sentence_text(doc, texts[name], hit.start),
                      "text": span.text, "start": span.start_char, "end": span.end_char, "rule": hit.rule,
                      "negated": hit.negated, "hedged": hit.hedged}
            if hit.negated:
                negated.setdefault(hit.theme, []).append(record)
                continue
            key = (hit.theme, hit.rule, record["sentence"])
            if key not in counted:
                counted.add(key)
                scores[hit.theme] = scores.get(hit.theme, 0.0) + (WEAK_FACTOR if hit.weak else weight)
            evidence.setdefault(hit.theme, []).append(record)
    relevant, reason = _relevance(scores, docs)
    themes = []
    if relevant:
        for theme in taxonomy.themes:
            score = scores.get(theme, 0.0)
            if score >= THEME_THRESHOLD:
                themes.append({"theme": theme, "score": round(score, 2),
                               "evidence": _distinct(evidence[theme])[:MAX_EVIDENCE],
                               "negated": _distinct(negated.get(theme, []))[:MAX_EVIDENCE]})
    design, design_source = study_design(item, texts, taxonomy)
    return {"id": item.id, "relevant": relevant, "relevance_reason": reason, "themes": themes,
            "entities": _entities(docs, texts), "study_design": design,
            "study_design_source": design_source, "notes": notes}


def _relevance(scores: dict, docs: dict) -> tuple[bool, str]:
    """In scope when the text is about AI/LLMs/chatbots and about mental health."""
    words = sum(doc.count_by(IS_ALPHA).get(1, 0) for doc in docs.values())
    if words < MIN_WORDS:
        return False, TOO_LITTLE_TEXT
    common = 0
    for doc in docs.values():
        counts = doc.count_by(LOWER)
        common += sum(counts.get(doc.vocab.strings[word], 0) for word in COMMON_ENGLISH)
    if words >= 30 and common / words < 0.03:
        return False, "not English text (the tagger reads English only)"
    ai, mental = scores.get(AI, 0.0), scores.get(MENTAL_HEALTH, 0.0)
    if ai < 1.0 and mental < 1.0:
        return False, "neither AI nor mental health is mentioned"
    if ai < 1.0:
        return False, "about mental health, but no AI, LLM or chatbot term"
    if mental < (RELEVANT_MENTAL_HEALTH if words > LONG_TEXT_WORDS else 1.0):
        return False, ("about AI, but no mental-health term" if not mental else
                       "about AI; mental health is mentioned only in passing")
    return True, f"AI terms (score {ai:g}) and mental-health terms (score {mental:g})"


def _distinct(records: list[dict]) -> list[dict]:
    seen, kept = set(), []
    for record in records:
        key = (record["field"], record["sentence"])
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept


def _sentence_text(doc, text: str, token: int) -> str:
    sentence = sentence_of(doc, token)
    return text[sentence.start_char:sentence.end_char].strip()


def _entities(docs: dict, texts: dict) -> list[dict]:
    """Entities with their mention counts and the sentence of their first mention."""
    found: dict[str, dict] = {}
    for name, doc in docs.items():
        for ent in doc.ents:
            if ent.ent_id_ not in found:
                found[ent.ent_id_] = {"id": ent.ent_id_, "type": ent.label_, "mentions": 0,
                                      "evidence": {"field": name,
                                                   "sentence": _sentence_text(doc, texts[name], ent.start),
                                                   "text": ent.text, "start": ent.start_char,
                                                   "end": ent.end_char, "rule": f"entity:{ent.ent_id_}",
                                                   "negated": False, "hedged": False}}
            found[ent.ent_id_]["mentions"] += 1
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
    best, best_cues = None, []
    for design, patterns in taxonomy.study_designs:
        cues = sorted({match.group(1) for match in _cues(tuple(patterns)).finditer(text)})
        if len(cues) > len(best_cues):
            best, best_cues = design, cues
    if best is None:
        return None, None
    return best, "rules: " + ", ".join(best_cues)


@lru_cache(maxsize=None)
def _cues(patterns: tuple[str, ...]) -> re.Pattern:
    """One regex for a design's cues; group 1 names the cue found. A cue may take up to three
    more letters ("survey" finds "surveyed")."""
    alternatives = "|".join(re.escape(p) for p in sorted(patterns, key=len, reverse=True))
    return re.compile(r"(?<![a-z])(" + alternatives + r")[a-z]{0,3}(?![a-z])")
