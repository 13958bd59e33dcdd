"""Customers: the 360 view, installed base, orders, interactions, consent, export and erasure."""
