"""LLMs & Mental Health Evidence Base: harvest, store, tag and serve the evidence.

Where each concern lives:

- harvest/sources/: one module per source (PubMed, Europe PMC, JMIR, arXiv, Crossref, news,
  guidance, legislation, the seed list, imports of citation files, landing pages), each a `harvest.sources.Source`: `start` plans a live
  run's first requests, `ingest` turns one archived answer into rows and follow-up requests;
  the registry (`harvest.sources.NAMES`, `harvest.sources.get`) serves the CLI and rebuild.
- harvest/engine.py: the one run loop (`harvest.engine.run_live`) and loading of saved files
  (`harvest.engine.load_files`); harvest/rebuild.py replays archives through the same ingest.
- harvest/formats/: pure parsers (bytes in, records out): PubMed XML and MEDLINE, JATS, feeds,
  page extraction, citation files and landing pages' meta tags.
- harvest/http.py: the only network access; harvest/archive.py: the WARC archive, each record
  with its role; harvest/runs.py: the run rows.
- harvest/store.py and harvest/db.py: schema and writes; harvest/nlp/: the tagger;
  harvest/graph.py, harvest/incidents.py, harvest/crosswalk.py, harvest/stories.py,
  harvest/cite.py, harvest/lookup.py: what is built from the corpus; harvest/resolve.py: completing
  starter records through the sources; harvest/cli.py: the `harvest` command, wiring only.
"""

__version__ = "0.1.0"
