"""The tagger's knowledge as data: themes, relevance vocabularies, study designs and entities,
read from annotations/taxonomy.yaml and annotations/entities.yaml."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import config

ANNOTATIONS = Path(__file__).resolve().parents[2] / "annotations"
TAXONOMY = ANNOTATIONS / "taxonomy.yaml"
ENTITIES = ANNOTATIONS / "entities.yaml"
SETTINGS = ANNOTATIONS / "tagger.yaml"
ENTITY_TYPES = ("products", "organisations", "jurisdictions", "populations", "conditions")


@dataclass
class Theme:
    id: str
    label: str
    definition: str
    terms: list[str]
    weak: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)


@dataclass
class Taxonomy:
    version: str
    themes: dict[str, Theme]
    ai_terms: list[str]  # AI in this project's sense (a closed list)
    mental_health_terms: list[str]
    ai_general_terms: list[str] = field(default_factory=list)  # other AI and machine learning
    ml_methods_terms: list[str] = field(default_factory=list)  # machine learning as a method
    ml_context_terms: list[str] = field(default_factory=list)  # sensors, images, health records
    mental_health_weak_terms: list[str] = field(default_factory=list)  # professions, broad words
    statement_groups: dict[str, list[str]] = field(default_factory=dict)
    statements: list[dict] = field(default_factory=list)  # {theme, name, all, unless, ordered}
    study_designs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (design, its cues), in order of preference
    publication_types: dict[str, str] = field(default_factory=dict)
    digest: str = ""


@dataclass(frozen=True)
class Settings:
    """annotations/tagger.yaml: cues, field weights and thresholds (see the file's comments)."""
    negation_cues: tuple[str, ...]
    negated_verbs: tuple[str, ...]
    negation_window: int
    hedge_cues: tuple[str, ...]
    field_weights: dict
    weak_factor: float
    theme_threshold: float
    mental_health_long_text: float
    long_text_words: int
    min_headline_words: int
    ai_general_mentions: int


@dataclass
class Entity:
    id: str
    type: str
    name: str
    aliases: list[str]
    exact_case: bool
    context: list[str] = field(default_factory=list)  # words one of which its sentence must hold ("ai": AI terms)


@dataclass
class EntityRules:
    """entities.yaml's `names_go_on`: words that, right after a mention, make it part of another
    name ("Bard College", "Gemini Observatory"), and right before it ("Saint Claude")."""
    after: list[str]
    before: list[str]


def load_taxonomy(path: Path = TAXONOMY) -> Taxonomy:
    raw = path.read_bytes()
    spec = config.loads(raw, str(path), "taxonomy")
    themes = {key: Theme(id=key, label=value["label"], definition=value["definition"],
                         terms=value.get("terms") or [], weak=value.get("weak") or [],
                         exclude=value.get("exclude") or [])
              for key, value in spec["themes"].items()}
    return Taxonomy(
        version=str(spec["version"]), themes=themes,
        ai_terms=spec["relevance"]["ai"], mental_health_terms=spec["relevance"]["mental_health"],
        ai_general_terms=spec["relevance"].get("ai_general") or [],
        ml_methods_terms=spec["relevance"].get("ml_methods") or [],
        ml_context_terms=spec["relevance"].get("ml_context") or [],
        mental_health_weak_terms=spec["relevance"].get("mental_health_weak") or [],
        statement_groups={k: [str(t) for t in v] for k, v in (spec.get("statements") or {}).get("groups", {}).items()},
        statements=[_statement(rule, themes) for rule in (spec.get("statements") or {}).get("rules", [])],
        study_designs=tuple((d["design"], tuple(d["patterns"])) for d in spec["study_designs"]),
        publication_types=spec.get("publication_types") or {},
        digest=hashlib.sha256(raw).hexdigest()[:12])


def _statement(rule: dict, themes: dict) -> dict:
    if rule.get("theme") not in themes or not rule.get("all"):
        raise ValueError(f"taxonomy statement {rule!r}: needs a known `theme` and a list `all`")
    return {"theme": rule["theme"], "name": str(rule.get("name") or "statement"), "all": list(rule["all"]),
            "unless": list(rule.get("unless") or []), "ordered": bool(rule.get("ordered"))}


def load_settings(path: Path = SETTINGS) -> Settings:
    """The tagger's settings, validated by harvest.config (a cue that is not a word, such as an
    unquoted `no`, which YAML reads as false, is a ConfigError naming file and line)."""
    spec = config.load(path, "tagger")
    weights, relevance = spec["weights"], spec["relevance"]
    return Settings(
        negation_cues=tuple(spec["negation"]["cues"]), negated_verbs=tuple(spec["negation"]["negated_verbs"]),
        negation_window=int(spec["negation"]["window"]), hedge_cues=tuple(spec["hedging"]["cues"]),
        field_weights={k: float(v) for k, v in weights["fields"].items()}, weak_factor=float(weights["weak"]),
        theme_threshold=float(weights["theme_threshold"]),
        mental_health_long_text=float(relevance["mental_health_long_text"]),
        long_text_words=int(relevance["long_text_words"]),
        min_headline_words=int(relevance["min_headline_words"]),
        ai_general_mentions=int(relevance["ai_general_mentions"]))


def load_entities(path: Path = ENTITIES) -> list[Entity]:
    spec = config.load(path, "entities") or {}
    entities = []
    for entity_type in ENTITY_TYPES:
        for entry in spec.get(entity_type) or []:
            name = entry["name"]
            entities.append(Entity(
                id=f"{entity_type[:-1]}:{name.lower()}", type=entity_type[:-1], name=name,
                aliases=list(dict.fromkeys(entry.get("aliases") or [name])),
                exact_case=entry.get("case") == "exact",
                context=[str(word).lower() for word in entry.get("context") or []]))
    return entities


def load_entity_rules(path: Path = ENTITIES) -> EntityRules:
    spec = (config.load(path, "entities") or {}).get("names_go_on") or {}
    return EntityRules(after=[str(w).lower() for w in spec.get("after") or []],
                       before=[str(w).lower() for w in spec.get("before") or []])


@lru_cache(maxsize=1)
def _first_look_patterns() -> tuple[re.Pattern, re.Pattern]:
    taxonomy = load_taxonomy()

    def pattern(terms):
        return re.compile(r"(?<![a-z])(" + "|".join(re.escape(t.lower()) for t in terms) + r")", re.I)
    return (pattern(taxonomy.ai_terms + taxonomy.ai_general_terms + taxonomy.ml_methods_terms),
            pattern(taxonomy.mental_health_terms + taxonomy.mental_health_weak_terms))


def first_look(text: str) -> bool:
    """A cheap look before fetching a page: does a feed entry's title and summary name both AI
    and mental health? (The tagger decides relevance for good once the text is in.)"""
    ai, mental = _first_look_patterns()
    return bool(ai.search(text) and mental.search(text))
