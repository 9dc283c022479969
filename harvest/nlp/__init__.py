"""Theme tagging: a spaCy pipeline built from the vocabularies in annotations/, with evidence."""
