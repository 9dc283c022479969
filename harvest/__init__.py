"""LLMs & Mental Health Evidence Base: harvest, store, tag and serve the evidence."""

__version__ = "0.1.0"
