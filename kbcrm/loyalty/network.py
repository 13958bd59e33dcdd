"""The customer relationship graph: referrals, company groups, shared contacts and shared products.

Edge weights: a referral or a parent/subsidiary link counts 1, each shared contact 1, and owning
the same product 1 / (number of owners − 1) (a niche product shared says more than a popular
one). PageRank gives each customer's centrality; Louvain (seeded) gives communities.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx


@dataclass(frozen=True)
class Structure:
    """Centrality, communities and the named relationships of each customer."""

    centrality: dict[str, float]
    centrality_rank: dict[str, float]  # percentile 0..1, 1 = most central
    community: dict[str, str]
    referrals_made: dict[str, int]
    subsidiaries: dict[str, int]
    parent: dict[str, str]


def build(
    customers: Iterable[str],
    relationships: Iterable[Mapping[str, Any]],
    shared_contacts: Iterable[Mapping[str, Any]],
    owners: Mapping[str, list[str]],
) -> nx.Graph:
    """The weighted customer graph (see the module docstring for the weights)."""
    graph = nx.Graph()
    graph.add_nodes_from(customers)

    def add(a: str, b: str, weight: float) -> None:
        if a == b or a not in graph or b not in graph:
            return
        previous = graph.get_edge_data(a, b, default={"weight": 0.0})["weight"]
        graph.add_edge(a, b, weight=previous + weight)

    for edge in relationships:
        add(edge["source"], edge["target"], 1.0)
    for edge in shared_contacts:
        add(edge["source"], edge["target"], float(edge["shared"]))
    for product_owners in owners.values():
        if 1 < len(product_owners) <= 200:  # a product everyone owns says nothing about a relationship
            weight = 1.0 / (len(product_owners) - 1)
            for i, a in enumerate(product_owners):
                for b in product_owners[i + 1 :]:
                    add(a, b, weight)
    return graph


def analyse(
    customers: list[str],
    relationships: Sequence[Mapping[str, Any]],
    shared_contacts: Sequence[Mapping[str, Any]],
    owners: Mapping[str, list[str]],
    *,
    seed: int = 7,
) -> Structure:
    """PageRank, Louvain communities, referrals made and company-group links per customer."""
    graph = build(customers, relationships, shared_contacts, owners)
    centrality = (
        nx.pagerank(graph, weight="weight")
        if graph.number_of_edges()
        else {c: 1 / max(len(customers), 1) for c in customers}
    )
    ordered = sorted(customers, key=lambda c: (centrality.get(c, 0.0), c))
    rank = {c: (i + 1) / len(ordered) for i, c in enumerate(ordered)}
    community: dict[str, str] = {}
    if graph.number_of_edges():
        groups = nx.community.louvain_communities(graph, weight="weight", seed=seed)
        for number, members in enumerate(sorted(groups, key=lambda g: (-len(g), min(g)))):
            for member in members:
                community[member] = f"community-{number + 1}"
    referrals: dict[str, int] = {}
    subsidiaries: dict[str, int] = {}
    parent: dict[str, str] = {}
    for edge in relationships:
        if edge["kind"] == "REFERRED":
            referrals[edge["source"]] = referrals.get(edge["source"], 0) + 1
        else:
            subsidiaries[edge["target"]] = subsidiaries.get(edge["target"], 0) + 1
            parent[edge["source"]] = edge["target"]
    return Structure(
        centrality=dict(centrality),
        centrality_rank=rank,
        community=community,
        referrals_made=referrals,
        subsidiaries=subsidiaries,
        parent=parent,
    )
