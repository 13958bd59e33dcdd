"""KBCRM configuration: one settings class, read from `KBCRM_*` environment variables.

Every field is documented in README.md (section "Settings"); a test fails when one is not.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Models are only ever loaded from filesystem paths; never let a library reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class Settings(BaseSettings):
    """All KBCRM settings. Environment variable = `KBCRM_` + field name in capitals."""

    model_config = SettingsConfigDict(env_prefix="KBCRM_", extra="ignore")

    data_dir: Path = Field(
        default=Path("var"),
        description="Directory for the embedded graph, demo data and run files.",
    )
    graph_uri: str = Field(
        default="",
        description=(
            "Graph backend. Empty or falkordb+embedded:///PATH = embedded FalkorDB "
            "(default PATH: DATA_DIR/graph); bolt://, neo4j://, neo4j+s:// = Neo4j."
        ),
    )
    graph_name: str = Field(default="kbcrm", description="Graph (FalkorDB) or database (Neo4j) name.")
    graph_user: str = Field(default="neo4j", description="User name for Neo4j connections.")
    graph_password: SecretStr = Field(default=SecretStr(""), description="Password for Neo4j connections.")
    graph_pool_size: int = Field(default=16, ge=1, description="Maximum connections in the driver's pool.")
    graph_query_timeout_ms: int = Field(
        default=30_000, ge=1, description="Time limit for read queries (analyst queries included)."
    )
    appendfsync: Literal["everysec", "always"] = Field(
        default="everysec",
        description="Embedded FalkorDB AOF fsync policy: everysec (default) or always.",
    )
    server_start_timeout_s: float = Field(
        default=30.0, gt=0, description="How long to wait for the embedded server to answer."
    )
    identity_threshold: float = Field(
        default=6.0, description="Identity resolution's link threshold (higher: fewer, surer merges)."
    )
    embedding_dim: int = Field(
        default=384, ge=1, description="Dimension of the vector index on knowledge articles (MiniLM: 384)."
    )
    auth_secret: SecretStr = Field(
        default=SecretStr("change-me-in-production"),
        description="Secret for signing session cookies and CSRF tokens.",
    )
    demo_users: bool = Field(default=True, description="Create the demo logins (set false in production).")
    host: str = Field(default="127.0.0.1", description="Address the web server binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the web server binds.")
    demo_customers: int = Field(default=300, ge=10, description="Customers in the demo data set `make run` generates.")
    demo_seed: int = Field(default=7, description="Random seed of the demo data set.")

    @property
    def graph_dir(self) -> Path:
        """Directory of the embedded graph server's files."""
        if self.graph_uri.startswith("falkordb+embedded://"):
            path = self.graph_uri.removeprefix("falkordb+embedded://")
            if path not in ("", "/"):
                return Path(path)
        return self.data_dir / "graph"

    @property
    def is_embedded(self) -> bool:
        """True when the embedded FalkorDB backend is selected."""
        return self.graph_uri == "" or self.graph_uri.startswith("falkordb+embedded://")


@cache
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
