"""Knowledge-article versions: one writer for article ingest and the KCS actions.

`<article id>@v<n>` holds what version n of the article said (title, body, audience,
language, confidence) and who made it (`edited_by`) and when (`created_at`). Version 1
is the author's; every later change — an edited file re-ingested, a KCS edit or state
change — writes the new content as the next version, so the history's last entry is the
article as it reads now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kbcrm.graph import GraphStore
from ontology.terms import Label, Rel

FIELDS = ("title", "body", "audience", "language", "confidence")


def version_node(article_id: str, version: int, content: Mapping[str, Any], *, by: str) -> dict[str, Any]:
    """The ArticleVersion row for version `version` of an article with this content, made by `by`."""
    return {
        "id": f"{article_id}@v{version}",
        "version": version,
        **{k: content.get(k) for k in FIELDS},
        "edited_by": by,
    }


def write_versions(store: GraphStore, versions: Sequence[dict[str, Any]]) -> None:
    """Store version rows and link each to its article."""
    if not versions:
        return
    store.upsert_nodes(Label.ArticleVersion, list(versions))
    store.upsert_relationships(
        Rel.HAS_VERSION,
        [{"start": v["id"].rsplit("@v", 1)[0], "end": v["id"]} for v in versions],
        start_label=Label.KnowledgeArticle,
        end_label=Label.ArticleVersion,
    )
