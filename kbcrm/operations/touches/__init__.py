"""Touches on every channel and the customer timeline."""
