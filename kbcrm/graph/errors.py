"""The store's own exception types: callers never see a driver's exceptions."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every graph store error."""


class StoreUnavailable(StoreError):
    """The graph server cannot be reached or started."""


class QueryError(StoreError):
    """The database rejected a query (syntax, semantics, type)."""


class QueryTimeout(QueryError):
    """A query ran past its time limit."""


class ConstraintViolation(QueryError):
    """A write broke a uniqueness constraint."""


class ReadOnlyViolation(QueryError):
    """A write was attempted through a read-only call."""


class VocabularyError(StoreError):
    """Code tried to write a label, relationship type or property the ontology does not declare."""


class NonPortableCypher(StoreError):
    """A shared query uses a construct outside the Cypher subset both backends run."""
