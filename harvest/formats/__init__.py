"""Pure parsers for file formats: bytes in, plain records out (no database, no network)."""
