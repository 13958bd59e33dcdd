"""Opportunities: pipeline stages, stage history, won/lost reasons, weighted forecast."""
