"""Analyst queries: read-only Cypher and SPARQL with time and row limits, saved queries, CSV/JSON output."""
