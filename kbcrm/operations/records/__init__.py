"""CSV export of operations records, in the column layout the bundled ingest mappings read back."""
