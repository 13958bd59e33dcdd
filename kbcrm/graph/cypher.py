"""Shared Cypher: every query the services run, registered with an example.

Shared queries must stay inside the subset both backends run unchanged
(docs/cypher-subset.md). `cypher()` refuses the constructs known to differ, and the
compatibility test runs every registered query against both backends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kbcrm.graph.errors import NonPortableCypher

# Constructs that behave differently (or not at all) on FalkorDB vs Neo4j.
_FORBIDDEN: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bEXISTS\s*\{", re.I), "EXISTS { } subqueries"),
    (re.compile(r"\bCOUNT\s*\{", re.I), "COUNT { } subqueries"),
    (re.compile(r"\bshortestPath\s*\(", re.I), "shortestPath(); use allShortestPaths on bound endpoints"),
    (re.compile(r"\belementId\s*\(", re.I), "elementId(); use the id property"),
    (re.compile(r"=~"), "regular-expression match =~"),
    (re.compile(r"\bdatetime\s*\(", re.I), "datetime(); pass timestamps as parameters"),
    (re.compile(r"\bexists\s*\(\s*\w+\.\w+\s*\)", re.I), "exists(n.prop); use n.prop IS NOT NULL"),
    (
        re.compile(r"\bCALL\s+(db|dbms|gds|apoc)\.", re.I),
        "procedure calls (backend-specific, keep them in the backend)",
    ),
    (re.compile(r"\bvecf32\s*\(", re.I), "vecf32(); vectors are written by the backend"),
    (re.compile(r"\{\s*\w+\s*:\s*\{", re.I), "map-valued properties"),
)

_WRITE_CLAUSE = re.compile(r"\b(CREATE|MERGE|SET|DELETE|REMOVE|DROP|FOREACH)\b", re.I)


def portability_problems(text: str) -> list[str]:
    """Names of the non-portable constructs found in a query (empty when portable)."""
    stripped = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", text)
    return [reason for pattern, reason in _FORBIDDEN if pattern.search(stripped)]


def is_write(text: str) -> bool:
    """True when the query contains a write clause."""
    stripped = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", text)
    return bool(_WRITE_CLAUSE.search(stripped))


@dataclass(frozen=True)
class Cypher:
    """A named, parameterised, portable query and an example of its parameters."""

    name: str
    text: str
    example: Mapping[str, Any] = field(default_factory=dict)
    ordered: bool = False

    @property
    def writes(self) -> bool:
        """True when the query writes."""
        return is_write(self.text)


REGISTRY: dict[str, Cypher] = {}


def cypher(name: str, text: str, *, example: Mapping[str, Any] | None = None, ordered: bool = False) -> Cypher:
    """Declare a shared query. Raises NonPortableCypher for constructs outside the subset."""
    problems = portability_problems(text)
    if problems:
        raise NonPortableCypher(f"query {name!r} is not portable: {', '.join(problems)}")
    if name in REGISTRY and REGISTRY[name].text != text:
        raise ValueError(f"two different shared queries are named {name!r}")
    query = Cypher(name=name, text=" ".join(text.split()), example=dict(example or {}), ordered=ordered)
    REGISTRY[name] = query
    return query
