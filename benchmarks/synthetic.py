"""A synthetic but realistic corpus of any size, for the growth curves (bench_growth.py).

`make_corpus(db_path, n, seed=...)` creates `db_path` with the project's own schema (every
migration of harvest.db) and fills it with `n` documents as if they had been harvested and
tagged by the current pipeline, so that `harvest tag` finds nothing to do, `harvest incidents`
and `harvest graph` have real work, and the served pages have realistic tables to read:

- documents: kinds paper 70%, preprint 12%, news 13%, guidance 2.5%, legislation 2.5%; published
  2015-2026 with the field's growth (most in 2023-2026); titles and abstracts drawn from a bank of
  sentence templates filled with the taxonomy's own terms (AI, mental health, machine learning,
  theme terms, products, conditions, places) and ordinary biomedical filler; abstract length
  log-normal like PubMed's (median about 7 sentences, about 5% with none); news carry a body.
  Relevance about 15% relevant, 20% related, the rest off-topic, like real traffic;
- identifiers (PMID, DOI, arXiv id or URL), provenance rows, authors (3-4 a paper from a shared
  pool), MeSH-free;
- themes (document_themes with evidence sentences and offsets), entities (document_entities with
  evidence), the `themes`/`products` facet columns exactly as `refresh_facets` writes them, study
  design, `tagged_version`/`tagged_hash` = the current pipeline version and content hash;
- citations among papers and preprints with a power-law in-degree (each work has a Pareto
  "fitness", shape 1.2; references are drawn in proportion to it), about 2.4 per citing work;
- incidents (one per 4,000 documents, at least 5) with 2-12 news reports each, half curated and
  half machine-linked;
- the FTS5 index, kept by the schema's own triggers.

Rows are written with executemany in transactions of CHUNK documents, with foreign keys off during
the load (every reference is made consistent by construction). Run it alone to build one corpus:
`python benchmarks/synthetic.py corpus.db 100000`.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import sys
import time
from bisect import bisect_left
from itertools import accumulate
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from harvest import db as database  # noqa: E402
from harvest.nlp.corpus import pipeline_version  # noqa: E402
from harvest.nlp.vocab import load_entities, load_taxonomy  # noqa: E402

CHUNK = 20_000
KINDS = (("paper", 70), ("preprint", 12), ("news", 13), ("guidance", 2.5), ("legislation", 2.5))
YEARS = {2015: 1, 2016: 1.1, 2017: 1.3, 2018: 1.6, 2019: 2, 2020: 2.6, 2021: 3.2, 2022: 4, 2023: 8, 2024: 13,
         2025: 17, 2026: 14}
RELEVANCE = (("relevant", 15), ("related", 20), ("off-topic", 65))
AT = "2026-01-05T02:00:00Z"

JOURNALS = ("JMIR Mental Health", "Lancet Digital Health", "npj Digital Medicine", "BMJ Mental Health",
            "Journal of Medical Internet Research", "Psychiatry Research", "JAMA Network Open", "Frontiers in Psychiatry",
            "PLoS One", "Scientific Reports", "BMC Psychiatry", "Journal of Affective Disorders", "Nature Medicine",
            "American Journal of Psychiatry", "Computers in Human Behavior", "Cureus", "Clinical Chemistry",
            "Journal of Clinical Oncology", "Diabetes Care", "Annals of Internal Medicine")
SERVERS = ("arXiv", "medRxiv", "PsyArXiv", "bioRxiv", "JMIR Preprints")
OUTLETS = ("The Guardian", "The New York Times", "BBC News", "Reuters", "Associated Press", "The Verge", "Wired",
           "STAT News", "NPR", "The Washington Post", "CNN", "Futurism", "Rolling Stone", "The Atlantic")
BODIES = ("American Psychological Association", "World Health Organization", "NHS England", "NICE",
          "American Psychiatric Association", "Royal College of Psychiatrists", "FDA", "APA Services")
SURNAMES = ("Smith", "Garcia", "Wang", "Kim", "Müller", "Rossi", "Nguyen", "Patel", "Cohen", "Silva", "Ivanova",
            "Okafor", "Tanaka", "Larsen", "Dubois", "Haddad", "Kowalski", "O'Brien", "Hadžić", "Andersson", "Chen",
            "Singh", "Martin", "Lopez", "Brown", "Wilson", "Santos", "Yilmaz", "Novak", "Fischer")
FORENAMES = ("Anna", "Wei", "Maria", "John", "Sara", "Ahmed", "Yuki", "Olga", "Pedro", "Grace", "Lars", "Amara",
             "Tomasz", "Chloé", "Ravi", "Min-jun", "Fatima", "David", "Elena", "Kwame")

# Ordinary biomedical prose for the off-topic majority (and padding in the others).
ANALYTES = ("serum ferritin", "HbA1c", "C-reactive protein", "vitamin D", "troponin", "creatinine", "LDL cholesterol",
            "interleukin-6", "cortisol", "albumin")
DISEASES = ("type 2 diabetes", "heart failure", "chronic kidney disease", "sepsis", "asthma", "breast cancer",
            "COVID-19", "osteoarthritis", "stroke", "hypertension", "tuberculosis", "psoriasis")
OUTCOMES = ("30-day mortality", "hospital readmission", "length of stay", "quality of life", "adverse events",
            "all-cause mortality", "progression-free survival", "functional recovery")
FILLER = (
    "Serum {analyte} levels were associated with {outcome} in {k} patients with {disease}.",
    "We conducted a retrospective cohort study of {k} adults admitted with {disease} between {y0} and {y1}.",
    "The primary outcome was {outcome}; secondary outcomes included {outcome2}.",
    "Multivariable logistic regression adjusted for age, sex and comorbidity.",
    "Baseline characteristics were similar between groups (p = 0.{p}).",
    "Median follow-up was {m} months (interquartile range {m2}-{m3}).",
    "These findings support further evaluation of {analyte} as a prognostic marker in {disease}.",
    "Participants were recruited from {c} centres in {place}.",
    "Results were robust in sensitivity analyses excluding patients with {disease2}.",
    "Limitations include the observational design and missing data for {pp}% of participants.",
    "A total of {k} records were screened and {k2} studies met the inclusion criteria.",
    "The intervention reduced {outcome} by {pp}% compared with usual care.",
)
RELEVANT = (
    "We evaluated how {ai} responds to users describing {mh} and {condition}.",
    "{Product} was asked {k2} questions about {condition}; two psychiatrists rated the answers.",
    "Responses from {ai} were compared with those of clinicians for {population}.",
    "Users of {Product} reported {theme_term} during conversations about {mh}.",
    "This study examines {ai} as a source of support for {population} with {condition}.",
    "We surveyed {k} {population} about their use of {ai} for {mh}.",
    "Concerns about {theme_term} arise when {ai} is used in {mh} care.",
)
RELATED = (
    "{ml} models predicted {condition} from {context} in {k} participants.",
    "We trained {ml} classifiers on {context} to screen for {mh} problems.",
    "Passive sensing with {ml} detected early signs of {condition} among {population}.",
    "{ml} applied to {context} achieved an AUC of 0.{p} for {condition}.",
)
NEWS = (
    "{Product} faces questions after a user with {condition} in {place} was harmed, family members said.",
    "A lawsuit filed in {place} alleges that {Product} encouraged a teenager's {condition}.",
    "Psychiatrists warn of AI psychosis among heavy users of {Product}.",
    "Lawmakers in {place} proposed limits on {ai} for {mh} after reports of {theme_term}.",
    "The company behind {Product} said it would add safeguards for {population}.",
)
TITLE_RELEVANT = ("{Ai} and {mh}: {design_word} of {population}", "Can {ai} support {population} with {condition}?",
                  "{Product} responses to questions about {condition}", "{theme_term_cap} in {ai} for {mh}")
TITLE_RELATED = ("{ml} for predicting {condition} from {context}", "Detecting {condition} with {ml}: a {design_word}")
TITLE_OFF = ("{analyte_cap} and {outcome} in {disease}: a {design_word}", "Outcomes of {disease} in {place}, {y0}-{y1}",
             "{disease_cap} management in primary care: {design_word}")
TITLE_NEWS_OFF = ("Hospital waiting times rise in {place}", "New {disease} drug approved after trial in {place}",
                  "{analyte_cap} test shortages hit clinics in {place}")
TITLE_NEWS = ("{Product} sued over teenager's {condition}", "AI psychosis: families describe {Product}-fuelled delusions",
              "{place} moves to regulate AI therapy chatbots", "Chatbot suicide case puts {Product} under scrutiny")
CONTEXTS = ("smartphone sensor data", "electronic health records", "speech recordings", "social media posts",
            "wearable accelerometry", "MRI scans")
DESIGN_WORDS = {"systematic_review": "systematic review", "rct": "randomized controlled trial", "case_report": "case report",
                "qualitative": "qualitative study", "observational": "cohort study", "evaluation": "evaluation study",
                "commentary": "commentary"}


def _weighted(pairs) -> tuple[list, list]:
    values, weights = zip(*pairs.items()) if isinstance(pairs, dict) else zip(*pairs)
    return list(values), list(accumulate(weights))


class _Vocabulary:
    """The taxonomy's and entity list's words, grouped for the templates."""

    def __init__(self):
        taxonomy = load_taxonomy()
        self.themes = {theme.id: [str(t) for t in theme.terms if len(str(t)) > 3] or [str(t) for t in theme.terms]
                       for theme in taxonomy.themes.values()}
        self.ai = [str(t) for t in taxonomy.ai_terms if " " in t or len(t) > 5][:40]
        self.mh = [str(t) for t in taxonomy.mental_health_terms
                   if any(w in str(t) for w in ("mental", "psychiatr", "psycholog", "depress", "anxi", "well"))][:30] \
            or ["mental health"]
        self.ml = [str(t) for t in taxonomy.ml_methods_terms][:15] or ["machine learning"]
        self.designs = [d for d, _ in taxonomy.study_designs]
        entities = load_entities()
        self.by_type = {}
        for entity in entities:
            self.by_type.setdefault(entity.type, []).append(entity)
        self.entities = entities


def _fill(rng: random.Random, template: str, v: _Vocabulary, facts: dict) -> str:
    values = {
        "analyte": rng.choice(ANALYTES), "disease": rng.choice(DISEASES), "disease2": rng.choice(DISEASES),
        "outcome": rng.choice(OUTCOMES), "outcome2": rng.choice(OUTCOMES), "k": rng.randint(12, 48000),
        "k2": rng.randint(5, 400), "y0": rng.randint(2005, 2015), "y1": rng.randint(2016, 2025), "p": rng.randint(10, 99),
        "pp": rng.randint(2, 60), "m": rng.randint(3, 60), "m2": rng.randint(1, 12), "m3": rng.randint(13, 90),
        "c": rng.randint(2, 40), "ai": rng.choice(v.ai), "mh": rng.choice(v.mh), "ml": rng.choice(v.ml),
        "context": rng.choice(CONTEXTS), "design_word": DESIGN_WORDS.get(facts.get("design"), "cross-sectional study"),
        "place": facts.get("place") or "the United States", "Product": facts.get("product") or "ChatGPT",
        "condition": facts.get("condition") or "depression", "population": facts.get("population") or "adolescents",
        "theme_term": facts.get("theme_term") or "stigma"}
    values["Ai"] = values["ai"][:1].upper() + values["ai"][1:]
    values["theme_term_cap"] = values["theme_term"][:1].upper() + values["theme_term"][1:]
    values["analyte_cap"] = values["analyte"][:1].upper() + values["analyte"][1:]
    values["disease_cap"] = values["disease"][:1].upper() + values["disease"][1:]
    text = template.format(**values)
    return text[:1].upper() + text[1:]


def _abstract_length(rng: random.Random) -> int:
    """Sentences in an abstract: log-normal (median ~7), about 5% with no abstract."""
    if rng.random() < 0.05:
        return 0
    return max(1, min(30, int(rng.lognormvariate(1.95, 0.45))))


class _Builder:
    def __init__(self, conn: sqlite3.Connection, n: int, seed: int):
        self.conn, self.n, self.rng = conn, n, random.Random(seed)
        self.v = _Vocabulary()
        self.version = pipeline_version()
        self.kinds = _weighted(KINDS)
        self.years = _weighted(YEARS)
        self.relevance = _weighted(RELEVANCE)
        self.ids = [f"d{hashlib.sha1(f'{seed}:{i}'.encode()).hexdigest()[:12]}" for i in range(n)]
        self.authors = max(10, n // 4)
        self.evidence_id = 0
        self.counts: dict[str, int] = {}

    def pick(self, table):
        values, cumulative = table
        return values[bisect_left(cumulative, self.rng.random() * cumulative[-1])]

    def entity(self, kind):
        return self.rng.choice(self.v.by_type[kind])

    def document(self, i: int) -> dict:
        """One document's rows: {table: [row tuples]}."""
        rng, v = self.rng, self.v
        kind = self.pick(self.kinds)
        relevance = self.pick(self.relevance)
        if kind in ("news", "guidance", "legislation") and relevance == "off-topic" and rng.random() < 0.3:
            relevance = "relevant"  # the topic's news, guidance and bills are mostly on topic
        year = self.pick(self.years)
        product, condition = self.entity("product"), self.entity("condition")
        place, population = self.entity("jurisdiction"), self.entity("population")
        themes = []
        if relevance == "relevant":
            themes = rng.sample(list(v.themes), rng.choice((1, 1, 2, 2, 3)))
        elif relevance == "related" and rng.random() < 0.6:
            themes = rng.sample(list(v.themes), 1)
        elif rng.random() < 0.03:
            themes = ["diagnosis"]
        design = rng.choice(v.designs) if kind in ("paper", "preprint") and rng.random() < 0.7 else None
        facts = {"product": product.name, "condition": condition.name, "place": place.name, "population": population.name,
                 "design": design, "theme_term": rng.choice(v.themes[themes[0]]) if themes else None}
        if kind == "news":
            title = _fill(rng, rng.choice(TITLE_NEWS if relevance == "relevant" else TITLE_NEWS_OFF), v, facts)
        else:
            bank = {"relevant": TITLE_RELEVANT, "related": TITLE_RELATED}.get(relevance, TITLE_OFF)
            title = _fill(rng, rng.choice(bank), v, facts)
        topical = {"relevant": NEWS if kind == "news" else RELEVANT, "related": RELATED}.get(relevance)
        sentences = []
        for s in range(_abstract_length(rng) if kind != "news" else rng.randint(1, 3)):
            share = 0.5 if topical else 0.0
            template = rng.choice(topical) if topical and (s == 0 or rng.random() < share) else rng.choice(FILLER)
            sentences.append(_fill(rng, template, v, facts))
        # theme evidence: a sentence naming one of the theme's terms, placed in the abstract
        evidence, offsets = [], []
        for theme in themes:
            term = rng.choice(v.themes[theme])
            sentence = f"Participants described {term} when {rng.choice(v.ai)} was used for {rng.choice(v.mh)}."
            sentences.insert(rng.randint(0, len(sentences)), sentence)
            offsets.append((theme, None, sentence, term))
        mentioned = []
        if relevance == "relevant":
            mentioned = [product, condition] + ([place] if kind in ("news", "legislation") else [])
            for entity in mentioned:
                sentence = f"The report concerns {entity.name} and {rng.choice(v.mh)}."
                sentences.append(sentence)
                offsets.append((None, entity.id, sentence, entity.name))
        abstract = " ".join(sentences) or None
        doc_id = self.ids[i]
        for theme, entity_id, sentence, term in offsets:
            start = abstract.index(sentence) + sentence.index(term)
            self.evidence_id += 1
            evidence.append((self.evidence_id, doc_id, theme, entity_id, "abstract", sentence, start, start + len(term),
                             term, "taxonomy" if theme else "entity_ruler", 0, 0, self.version))
        body = None
        if kind == "news":
            body = " ".join(_fill(rng, rng.choice(NEWS if relevance == "relevant" and rng.random() < 0.4 else FILLER), v, facts)
                            for _ in range(rng.randint(8, 25)))
        published = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}" if rng.random() < 0.9 else \
            f"{year}-{rng.randint(1, 12):02d}"
        venue = {"paper": JOURNALS, "preprint": SERVERS, "news": OUTLETS, "guidance": BODIES}.get(kind)
        venue = rng.choice(venue) if venue else None
        content_hash = hashlib.sha256(f"{title}\0{abstract}\0{body}".encode()).hexdigest()
        products = sorted({e.name for e in mentioned if e.type == "product"})
        url = (f"https://news.example/{year}/{doc_id}" if kind == "news" else
               f"https://guidance.example/{doc_id}" if kind == "guidance" else
               f"https://legislature.example/{doc_id}" if kind == "legislation" else None)
        if kind == "paper":
            identifiers = [("pmid", str(30_000_000 + i)), ("doi", f"10.5555/synthetic.{i}")]
        elif kind == "preprint":
            identifiers = [("arxiv", f"{year % 100:02d}{rng.randint(1, 12):02d}.{i % 100000:05d}v{i}"),
                           ("doi", f"10.48550/arxiv.synthetic.{i}")]
        else:
            identifiers = [("url", url)]
        source = {"paper": "pubmed", "preprint": "arxiv", "news": "news", "guidance": "guidance",
                  "legislation": "legislation"}[kind]
        row = (doc_id, kind, title, abstract, body, url, venue, published, year, "en", design, relevance,
               f"synthetic {relevance}", "rules" if design else None, AT, AT, content_hash, self.version, content_hash,
               json.dumps(sorted(themes), separators=(",", ":")), json.dumps(products, separators=(",", ":"),
                                                                            ensure_ascii=False),
               place.name if kind == "legislation" else None,
               f"SB {rng.randint(1, 3000)}" if kind == "legislation" else None,
               rng.choice(("introduced", "passed", "enacted", "failed")) if kind == "legislation" else None)
        authors = []
        if kind in ("paper", "preprint"):
            for position in range(rng.choice((1, 2, 3, 3, 4, 4, 5, 6))):
                authors.append((doc_id, position, f"a{rng.randrange(self.authors):08x}"))
        return {
            "documents": [row],
            "identifiers": [(scheme, value, doc_id) for scheme, value in identifiers],
            "document_sources": [(doc_id, source, identifiers[0][1], url, AT, AT, content_hash)],
            "document_themes": [(doc_id, theme, 1.0, "rules", self.version) for theme in themes],
            "document_entities": [(doc_id, e.id, rng.randint(1, 4)) for e in mentioned],
            "evidence": evidence,
            "document_authors": authors,
        }

    INSERTS = {
        "documents": "INSERT INTO documents (id, kind, title, abstract, body, url, venue, published, year, language, "
                     "study_design, relevance, relevance_reason, study_design_source, first_seen, last_seen, content_hash, "
                     "tagged_version, tagged_hash, themes, products, jurisdiction, bill_identifier, bill_status) "
                     "VALUES (" + ", ".join("?" * 24) + ")",
        "identifiers": "INSERT OR IGNORE INTO identifiers (scheme, value, document_id) VALUES (?, ?, ?)",
        "document_sources": "INSERT INTO document_sources (document_id, source, source_id, url, first_fetched, "
                            "last_fetched, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        "document_themes": "INSERT INTO document_themes (document_id, theme, score, method, pipeline_version) "
                           "VALUES (?, ?, ?, ?, ?)",
        "document_entities": "INSERT INTO document_entities (document_id, entity_id, mentions) VALUES (?, ?, ?)",
        "evidence": "INSERT INTO evidence (id, document_id, theme, entity_id, field, sentence, start, \"end\", matched, "
                    "rule, negated, hedged, pipeline_version) VALUES (" + ", ".join("?" * 13) + ")",
        "document_authors": "INSERT OR IGNORE INTO document_authors (document_id, position, author_id) VALUES (?, ?, ?)",
        "citations": "INSERT OR IGNORE INTO citations (citing_id, cited_id, method) VALUES (?, ?, 'synthetic')",
    }

    def write(self, rows: dict) -> None:
        for table, values in rows.items():
            if values:
                self.conn.executemany(self.INSERTS[table], values)
                self.counts[table] = self.counts.get(table, 0) + len(values)

    def build(self) -> dict:
        conn, rng = self.conn, self.rng
        taxonomy = load_taxonomy()
        with conn:
            conn.executemany("INSERT OR REPLACE INTO themes (id, label, definition) VALUES (?, ?, ?)",
                             [(t.id, t.label, t.definition) for t in taxonomy.themes.values()])
            conn.executemany("INSERT OR REPLACE INTO entities (id, type, name, aliases) VALUES (?, ?, ?, ?)",
                             [(e.id, e.type, e.name, json.dumps(e.aliases, ensure_ascii=False)) for e in self.v.entities])
            conn.executemany("INSERT INTO authors (id, name, last_name, fore_name, initials) VALUES (?, ?, ?, ?, ?)",
                             [(f"a{k:08x}", f"{s} {f[0]}", s, f, f[0]) for k in range(self.authors)
                              for s, f in [(SURNAMES[k % len(SURNAMES)], FORENAMES[(k // len(SURNAMES)) % len(FORENAMES)])]])
        kinds, news = [None] * self.n, []
        for start in range(0, self.n, CHUNK):
            batch: dict[str, list] = {}
            for i in range(start, min(self.n, start + CHUNK)):
                rows = self.document(i)
                kinds[i] = rows["documents"][0][1]
                if kinds[i] == "news" and rows["documents"][0][11] == "relevant":
                    news.append(i)
                for table, values in rows.items():
                    batch.setdefault(table, []).extend(values)
            with conn:
                self.write(batch)
        # citations: works cite earlier or later works in proportion to a Pareto fitness (power-law in-degree)
        works = [i for i in range(self.n) if kinds[i] in ("paper", "preprint")]
        cumulative = list(accumulate(rng.paretovariate(1.2) for _ in works))
        total = cumulative[-1] if cumulative else 0
        for start in range(0, len(works), CHUNK):
            rows = []
            for i in works[start:start + CHUNK]:
                cites = min(len(works) - 1, int(rng.expovariate(1 / 3)))
                for _ in range(cites):
                    j = works[min(len(works) - 1, bisect_left(cumulative, rng.random() * total))]
                    if j != i:
                        rows.append((self.ids[i], self.ids[j]))
            with conn:
                self.write({"citations": rows})
        # incidents with their news reports, half curated, half machine-linked
        incidents, links = [], []
        for k in range(max(5, self.n // 4000)):
            product, harm, place = self.entity("product"), self.entity("condition"), self.entity("jurisdiction")
            incident_id = f"synthetic-incident-{k:05d}"
            year = self.pick(self.years)
            incidents.append((incident_id, f"{product.name} user's {harm.name} in {place.name}",
                              f"Reports describe {harm.name} after conversations with {product.name}.",
                              f"{year}-{rng.randint(1, 12):02d}", f"{year}-{rng.randint(1, 12):02d}", place.name,
                              json.dumps([product.name]), json.dumps([harm.name]), "alleged",
                              "curated" if k % 2 else "machine"))
            for i in rng.sample(news, min(len(news), rng.randint(2, 12))):
                links.append((incident_id, self.ids[i], "report", "curated" if k % 2 else "machine",
                              None if k % 2 else round(rng.uniform(0.5, 0.95), 3), "synthetic"))
        with conn:
            conn.executemany("INSERT INTO incidents (id, title, summary, event_date, first_reported, location, products, "
                             "harms, status, method) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", incidents)
            conn.executemany("INSERT OR IGNORE INTO incident_documents (incident_id, document_id, role, method, score, "
                             "reason) VALUES (?, ?, ?, ?, ?, ?)", links)
        self.counts["incidents"], self.counts["incident_documents"] = len(incidents), len(links)
        self.counts["authors"] = self.authors
        return self.counts


def make_corpus(db_path: str | Path, n: int, seed: int = 18) -> dict:
    """Create `db_path` (it must not exist) with the project's schema and `n` synthetic documents.

    Returns the rows written per table and the build's wall and CPU seconds (`seconds`,
    `cpu_seconds`). Raises
    FileExistsError when `db_path` exists (nothing is overwritten) and ValueError when n < 1.
    """
    path = Path(db_path)
    if n < 1:
        raise ValueError(f"a corpus needs at least one document, not {n}")
    if path.exists():
        raise FileExistsError(f"{path} exists; make_corpus writes a new database only")
    started, cpu = time.perf_counter(), time.process_time()
    database.connect(path).conn.close()  # every migration, as `harvest` itself creates a corpus
    conn = sqlite3.connect(str(path), isolation_level="DEFERRED")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")  # 256 MiB
    try:
        counts = _Builder(conn, n, seed).build()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    counts["seconds"] = round(time.perf_counter() - started, 1)
    counts["cpu_seconds"] = round(time.process_time() - cpu, 1)
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        sys.exit("usage: python benchmarks/synthetic.py DATABASE N")
    print(json.dumps(make_corpus(sys.argv[1], int(sys.argv[2]))))
