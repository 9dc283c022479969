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
    ai_terms: list[str]
    mental_health_terms: list[str]
    study_designs: list[tuple[str, list[str]]]
    publication_types: dict[str, str]
    digest: str


@dataclass
class Entity:
    id: str
    type: str
    name: str
    aliases: list[str]
    exact_case: bool


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
        study_designs=[(d["design"], d["patterns"]) for d in spec["study_designs"]],
        publication_types=spec.get("publication_types") or {},
        digest=hashlib.sha256(raw).hexdigest()[:12])


def load_entities(path: Path = ENTITIES) -> list[Entity]:
    spec = config.load(path, "entities") or {}
    entities = []
    for entity_type in ENTITY_TYPES:
        for entry in spec.get(entity_type) or []:
            name = entry["name"]
            entities.append(Entity(
                id=f"{entity_type[:-1]}:{name.lower()}", type=entity_type[:-1], name=name,
                aliases=list(dict.fromkeys(entry.get("aliases") or [name])),
                exact_case=entry.get("case") == "exact"))
    return entities


@lru_cache(maxsize=1)
def _first_look_patterns() -> tuple[re.Pattern, re.Pattern]:
    taxonomy = load_taxonomy()

    def pattern(terms):
        return re.compile(r"(?<![a-z])(" + "|".join(re.escape(t.lower()) for t in terms) + r")", re.I)
    return pattern(taxonomy.ai_terms), pattern(taxonomy.mental_health_terms)


def first_look(text: str) -> bool:
    """A cheap look before fetching a page: does a feed entry's title and summary name both AI
    and mental health? (The tagger decides relevance for good once the text is in.)"""
    ai, mental = _first_look_patterns()
    return bool(ai.search(text) and mental.search(text))
