"""The one loader for `annotations/*.yaml`: every curation and configuration file is read and
validated here, with errors that name the file, the line and the key.

load(path, kind=None)      -> the file's data, validated against the schema of its kind (the
                              kind defaults to the file's name: `news.yaml` is a `news` file)
loads(data, name, kind)    -> the same for bytes already in hand (an archived seed file)
validate_all(directory)    -> every known annotation file in `directory` checked; raises one
                              ConfigError listing every problem (call it before any write)

YAML is read with PyYAML's safe loader, and the document's size *with aliases expanded* is
counted before anything is built: a file whose aliases would expand past MAX_EXPANDED_NODES
nodes (an alias bomb: a few hundred bytes that grow to gigabytes) is refused, as is a file over
MAX_FILE_BYTES. A key a schema does not know is an error (a misspelt `feds:` must not read as
"no feeds to harvest").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

ANNOTATIONS = Path(__file__).resolve().parent.parent / "annotations"
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_EXPANDED_NODES = 200_000  # the largest real file (taxonomy.yaml) has about 1,000


class ConfigError(ValueError):
    """An annotation file that cannot be used; `problems` lists "file line N: key: what" strings."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# -- schemas --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scalar:
    """A string, number, date or boolean; `types` narrows it (names: str, int, bool, float, timestamp)."""
    types: tuple[str, ...] = ("str", "int", "float", "bool", "timestamp")
    choices: tuple = ()


@dataclass(frozen=True)
class ListOf:
    item: object
    scalar_ok: bool = False  # a single value where a list is expected (`feeds: https://...`)


@dataclass(frozen=True)
class Fields:
    """A mapping with known keys; `required` must be present; `values` for any other key."""
    known: dict = field(default_factory=dict)
    required: tuple[str, ...] = ()
    values: object | None = None  # a mapping of free keys (`themes: {id: ...}`)


TEXT = Scalar(("str",))
WORDS = ListOf(TEXT, scalar_ok=True)
NUMBER = Scalar(("int",))
FLAG = Scalar(("bool",))
DATE = Scalar(("str", "int", "timestamp"))
TERMS = ListOf(Scalar(("str", "int", "float")))  # vocabulary terms: `988` (a crisis line) is a term
QUERY = Fields({"query": TEXT, "start": DATE}, required=("query",))
ENTITY = Fields({"name": TEXT, "aliases": TERMS, "case": Scalar(("str",), ("exact",)),
                 "context": TERMS, "note": TEXT}, required=("name",))
FIGURE = Scalar(("int", "float"))
PERSON = Fields({"family": TEXT, "given": TEXT, "literal": TEXT})
SCORES = Fields({"micro_f1": FIGURE, "macro_f1": FIGURE, "relevance_accuracy": FIGURE,
                 "study_design_accuracy": FIGURE, "theme_f1": Fields(values=FIGURE)})

SCHEMAS: dict[str, object] = {
    "pubmed": QUERY,
    "arxiv": QUERY,
    "europepmc": QUERY,
    "jmir": Fields({"feeds": ListOf(TEXT)}, required=("feeds",)),
    "news": Fields({
        "feeds": ListOf(Fields({"outlet": TEXT, "url": TEXT, "all": FLAG}, required=("url",))),
        "gdelt": Fields({"timespan": TEXT, "max_records": NUMBER, "queries": ListOf(TEXT)}),
    }),
    "guidance": Fields({"pages": ListOf(Fields({"url": TEXT, "organisation": TEXT, "note": TEXT},
                                               required=("url",)))}, required=("pages",)),
    "legislation": Fields({
        "openstates": Fields({"jurisdictions": ListOf(TEXT), "queries": ListOf(TEXT), "max_pages": NUMBER}),
        "federal_register": Fields({"terms": ListOf(TEXT), "max_pages": NUMBER}),
    }),
    "corrections": Fields({"corrections": ListOf(Fields({
        "document": TEXT, "add": WORDS, "remove": WORDS, "relevant": FLAG, "relevance": TEXT, "by": TEXT,
        "why": TEXT,
    }, required=("document", "by", "why")))}),
    "incidents": Fields({"incidents": ListOf(Fields({
        "id": TEXT, "title": TEXT, "summary": TEXT, "event_date": DATE, "first_reported": DATE,
        "location": TEXT, "products": WORDS, "companies": WORDS, "harms": WORDS, "age_group": TEXT,
        "outcome": TEXT, "status": TEXT, "rejected": ListOf(TEXT), "merged_into": TEXT,
        "sources": ListOf(Fields({"url": TEXT, "role": TEXT}, required=("url",))),
        "crosswalk": Fields({"aiaaic": ListOf(Scalar(("str", "int")), scalar_ok=True),  # ids checked by harvest.incidents
                             "aiid": ListOf(Scalar(("str", "int")), scalar_ok=True)}),
    }, required=("id",)))}),
    "seed": Fields({
        "article": Fields({"key": TEXT, "title": TEXT, "author": TEXT, "kind": TEXT, "published": DATE,
                           "url": TEXT, "tags": WORDS, "note": TEXT}, required=("key", "title")),
        "references": ListOf(Fields({
            "url": TEXT, "kind": TEXT, "outlet": TEXT, "link_text": WORDS, "cited_as": TEXT,
            "sections": WORDS, "title": TEXT, "published": DATE, "note": TEXT,
            "identifiers": Fields(values=Scalar(("str", "int"))),
        }, required=("url",))),
    }, required=("article", "references")),
    "reading-list": Fields({"references": ListOf(Fields({  # CSL-YAML items (CSL 1.0.2 variable names)
        "id": TEXT, "type": TEXT, "title": TEXT, "author": ListOf(PERSON), "editor": ListOf(PERSON),
        "container-title": TEXT, "publisher": TEXT, "issued": DATE, "volume": Scalar(("str", "int")),
        "issue": Scalar(("str", "int")), "page": Scalar(("str", "int")), "DOI": TEXT,
        "PMID": Scalar(("str", "int")), "PMCID": TEXT, "URL": TEXT, "source": TEXT, "note": TEXT,
    }, required=("id", "type", "title", "source")))}, required=("references",)),
    "taxonomy": Fields({
        "version": Scalar(("str", "int", "float")),
        "relevance": Fields({"ai": TERMS, "ai_general": TERMS, "ml_methods": TERMS, "ml_context": TERMS,
                             "mental_health": TERMS, "mental_health_weak": TERMS},
                            required=("ai", "mental_health")),
        "themes": Fields(values=Fields({"label": TEXT, "definition": TEXT, "terms": TERMS,
                                        "weak": TERMS, "exclude": TERMS},
                                       required=("label", "definition"))),
        "study_designs": ListOf(Fields({"design": TEXT, "patterns": TERMS},
                                       required=("design", "patterns"))),
        "publication_types": Fields(values=TEXT),
        "statements": Fields({
            "groups": Fields(values=TERMS),
            "rules": ListOf(Fields({"theme": TEXT, "name": TEXT, "all": ListOf(TEXT), "unless": ListOf(TEXT),
                                    "ordered": FLAG}, required=("theme", "all"))),
        }),
    }, required=("version", "relevance", "themes", "study_designs")),
    "entities": Fields({
        **{kind: ListOf(ENTITY) for kind in ("products", "organisations", "jurisdictions", "populations",
                                             "conditions")},
        "names_go_on": Fields({"after": TERMS, "before": TERMS}),
    }),
    "tagger": Fields({
        "negation": Fields({"cues": ListOf(TEXT), "negated_verbs": ListOf(TEXT), "window": NUMBER},
                           required=("cues", "negated_verbs", "window")),
        "hedging": Fields({"cues": ListOf(TEXT)}, required=("cues",)),
        "weights": Fields({"fields": Fields(values=FIGURE), "weak": FIGURE, "theme_threshold": FIGURE},
                          required=("fields", "weak", "theme_threshold")),
        "relevance": Fields({"mental_health_long_text": FIGURE, "long_text_words": NUMBER,
                             "min_headline_words": NUMBER, "ai_general_mentions": NUMBER},
                            required=("mental_health_long_text", "long_text_words", "min_headline_words",
                                      "ai_general_mentions")),
    }, required=("negation", "hedging", "weights", "relevance")),
    "schedule": Fields({
        "sources": Fields(values=Fields({"cadence": Scalar(("str",)), "budget": Scalar(("str",)),
                                         "args": ListOf(Scalar(("str", "int", "float"))), "skip": FLAG},
                                        required=("cadence",))),
        "release": Fields({"max_relevant_loss": FIGURE}),
    }, required=("sources",)),
    "synonyms": Fields({"groups": ListOf(ListOf(TEXT))}, required=("groups",)),
    "floors": Fields({"shared": SCORES, "own": SCORES, "own_as_trained": SCORES,
                      "cross_validated": Fields(values=SCORES)}),
}


# -- loading --------------------------------------------------------------------------------

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it: ~10x faster

def load(path: Path | str, kind: str | None = None):
    """The data of one annotation file, validated. `kind` names its schema (default: the file's
    stem); an unknown kind is only checked for YAML and alias expansion. Raises ConfigError."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError([f"{path}: {size} bytes, more than the {MAX_FILE_BYTES}-byte cap "
                               "for an annotation file"])
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError([f"{path}: cannot be read: {error.strerror or error}"]) from None
    return loads(data, str(path), kind or path.stem)


def loads(data: bytes | str, name: str, kind: str | None = None):
    """The data of YAML text `data` (called `name` in errors), validated against `kind`'s schema."""
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError([f"{name}: more than the {MAX_FILE_BYTES}-byte cap for an annotation file"])
    try:
        loader = LOADER(data)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_expansion(node, name)
            problems: list[str] = []
            schema = SCHEMAS.get(kind or "")
            if schema is not None:
                _validate(node, schema, name, "", problems)
            if problems:
                raise ConfigError(problems)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError([f"{name}{where}: not valid YAML: {error.problem or error}"]) from None
    except yaml.YAMLError as error:
        raise ConfigError([f"{name}: not valid YAML: {error}"]) from None
    except RecursionError:
        raise ConfigError([f"{name}: nested too deeply to be an annotation file"]) from None


def validate_all(directory: Path = ANNOTATIONS, extra: dict[str, Path] | None = None) -> list[str]:
    """Check every annotation file of a known kind in `directory` (and `extra` {kind: path});
    returns the names checked; raises one ConfigError listing every problem in every file."""
    targets = [(p.stem, p) for p in sorted(Path(directory).glob("*.yaml"))]  # unknown kinds: YAML only
    floors = Path(directory) / "gold" / "floors.yaml"
    if floors.exists():
        targets.append(("floors", floors))
    targets += [(kind, Path(path)) for kind, path in (extra or {}).items()
                if Path(path).resolve() not in {p.resolve() for _, p in targets}]
    problems = []
    for kind, path in targets:
        try:
            load(path, kind)
        except ConfigError as error:
            problems += error.problems
    if problems:
        raise ConfigError(problems)
    return [str(path) for _, path in targets]


# -- internals ------------------------------------------------------------------------------

def _check_expansion(root: yaml.Node, name: str) -> None:
    """Refuse a document whose aliases expand past MAX_EXPANDED_NODES nodes. Sizes are counted
    once per node (memoised), so the check itself stays linear in the file."""
    sizes: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done or not children:
            total = 1 + sum(sizes.get(id(c), 0) for c in children)
            if total > MAX_EXPANDED_NODES:
                line = node.start_mark.line + 1
                raise ConfigError([f"{name} line {line}: aliases expand to more than "
                                   f"{MAX_EXPANDED_NODES} values (an alias bomb?); refused"])
            sizes[id(node)] = total
            continue
        stack.append((node, True))
        if len(stack) > MAX_EXPANDED_NODES:
            raise ConfigError([f"{name}: nested too deeply to be an annotation file"])
        stack += [(c, False) for c in children if id(c) not in sizes]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


_RESOLVED = {"tag:yaml.org,2002:str": "str", "tag:yaml.org,2002:int": "int",
             "tag:yaml.org,2002:float": "float", "tag:yaml.org,2002:bool": "bool",
             "tag:yaml.org,2002:timestamp": "timestamp", "tag:yaml.org,2002:null": "null"}
_DESCRIBED = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true or false",
              "timestamp": "a date"}


def _validate(node: yaml.Node, schema, name: str, key: str, problems: list[str]) -> None:
    where = f"{name} line {node.start_mark.line + 1}: {key or '(top level)'}"
    if isinstance(node, yaml.ScalarNode) and _RESOLVED.get(node.tag) == "null":
        return  # an empty value is the same as leaving the key out
    if isinstance(schema, Scalar):
        kind = _RESOLVED.get(node.tag) if isinstance(node, yaml.ScalarNode) else None
        if kind not in schema.types:
            wanted = " or ".join(_DESCRIBED[t] for t in schema.types)
            problems.append(f"{where}: expected {wanted}, found {_shape(node)}")
        elif schema.choices and node.value not in schema.choices:
            problems.append(f"{where}: {node.value!r} is not one of {', '.join(map(str, schema.choices))}")
    elif isinstance(schema, ListOf):
        if isinstance(node, yaml.SequenceNode):
            for position, item in enumerate(node.value, start=1):
                _validate(item, schema.item, name, f"{key}[{position}]", problems)
        elif schema.scalar_ok and isinstance(node, yaml.ScalarNode):
            _validate(node, schema.item, name, key, problems)
        else:
            problems.append(f"{where}: expected a list, found {_shape(node)}")
    elif isinstance(schema, Fields):
        if not isinstance(node, yaml.MappingNode):
            problems.append(f"{where}: expected keys and values, found {_shape(node)}")
            return
        seen = set()
        for key_node, value_node in node.value:
            child = f"{key}.{key_node.value}" if key else str(key_node.value)
            child_where = f"{name} line {key_node.start_mark.line + 1}: {child}"
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(f"{child_where}: a key must be plain text")
                continue
            if key_node.value in seen:
                problems.append(f"{child_where}: the key is given twice")
            seen.add(key_node.value)
            if key_node.value in schema.known:
                _validate(value_node, schema.known[key_node.value], name, child, problems)
            elif schema.values is not None:
                _validate(value_node, schema.values, name, child, problems)
            else:
                problems.append(f"{child_where}: unknown key (known keys: {', '.join(schema.known)})")
        for required in schema.required:
            if required not in seen:
                problems.append(f"{where}: the key {required!r} is missing")


def _shape(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "keys and values"
    return f"{_DESCRIBED.get(_RESOLVED.get(node.tag, ''), 'a value')} {node.value!r}"
