"""One module per source of documents."""
