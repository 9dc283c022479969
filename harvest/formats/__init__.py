"""Pure parsers of formats: bytes in, records out."""
