"""KBCRM configuration: one settings class, read from `KBCRM_*` environment variables.

Every field is documented in README.md (section "Settings"); a test fails when one is not.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Models are only ever loaded from filesystem paths; never let a library reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# Vector dimension per embedder name (KBCRM_EMBEDDER, KBCRM_MULTILINGUAL_EMBEDDER).
EMBEDDING_DIMENSIONS = {"minilm-int8": 384, "minilm": 384, "use-int8": 512, "use": 512}
# The embedders that read Chinese (the values KBCRM_MULTILINGUAL_EMBEDDER takes besides "none").
MULTILINGUAL_EMBEDDERS = frozenset({"use-int8", "use"})


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
        default=0.0,
        description=(
            "Identity resolution's link threshold: the log2-odds that two records are one customer, "
            "under the model fitted to the data (0: even odds; higher: fewer, surer merges)."
        ),
    )
    embedder: Literal["minilm-int8", "minilm", "use-int8", "use"] = Field(
        default="minilm-int8",
        description=(
            "Dense retriever for English: minilm-int8 (all-MiniLM-L6-v2 with int8 weights on onnxruntime, 384-d), "
            "minilm (the same model in float32, numpy port), use-int8 or use (USE multilingual, 512-d)."
        ),
    )
    multilingual_embedder: Literal["use-int8", "use", "none"] = Field(
        default="use-int8",
        description=(
            "Dense retriever for questions with Chinese text and for Chinese documents: use-int8 (USE multilingual v3 "
            "with int8 weights on onnxruntime), use (the same model in float32, numpy) or none."
        ),
    )
    fusion_lexical_weight: float = Field(
        default=0.2,
        ge=0,
        description="Weight of the BM25 score as a share of the question's best (0..1), next to z(dense) (1.0).",
    )
    fusion_lexical_weight_multilingual: float = Field(
        default=2.0, ge=0, description="Lexical weight when the multilingual embedder ranks (Chinese questions)."
    )
    boost_linked_entity: float = Field(
        default=1.0,
        ge=0,
        description="Boost (z units) for a document linked to a product/symptom/code the question names.",
    )
    boost_linked_code: float = Field(
        default=2.0,
        ge=0,
        description=(
            "Boost (z units) for a document linked to an error code the question names, in place of the linked-entity "
            "boost: a code reads the same in every language, so it outweighs the same-language boost."
        ),
    )
    boost_linked_symptom: float = Field(
        default=2.0,
        ge=0,
        description=(
            "Boost (z units) for a document linked to a symptom the question names, in place of the linked-entity "
            "boost: the problem named decides the answer more than the product named, which is context."
        ),
    )
    boost_installed_base: float = Field(
        default=0.4, ge=0, description="Boost for a document about a product the customer owns or the case is about."
    )
    boost_validated: float = Field(default=0.2, ge=0, description="Boost for a validated article.")
    boost_feedback: float = Field(
        default=0.6, ge=0, description="Boost per unit of smoothed helpful-minus-not-helpful rate ((h-n)/(h+n+2))."
    )
    boost_reuse: float = Field(default=0.1, ge=0, description="Boost per log(1 + times linked to a case).")
    knowledge_poll_seconds: float = Field(
        default=15.0,
        ge=0,
        description=(
            "How often the server checks the graph for knowledge changed by another process (an ingest): "
            "articles, versions, resolved cases, notes; 0 turns the check off."
        ),
    )
    weak_match_similarity: float = Field(
        default=0.20,
        ge=0,
        le=1,
        description=(
            "An answer is a weak match when the question names nothing in the catalogue and no document it may "
            "see reaches this semantic similarity (cosine, either embedder): the portal says nothing matches well, "
            "case deflection suggests nothing, the expert finder names nobody (kbcrm eval weak-match)."
        ),
    )
    boost_same_language: float = Field(
        default=1.0,
        ge=0,
        description=(
            "Boost for a document in the question's language (Chinese or English): each language's documents are "
            "judged by a different embedder, so without it a translation can outrank the original."
        ),
    )
    feedback_other_audience_weight: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description=(
            "How much a vote from the other audience (staff for the portal, customers for engineers) counts in "
            "the feedback boost, against 1 for the answer audience's own votes."
        ),
    )
    clv_model: Literal["bgnbd", "pareto-nbd"] = Field(
        default="pareto-nbd",
        description=(
            "Purchase model of `kbcrm loyalty run` (Pareto/NBD lets one-time buyers lapse; BG/NBD keeps them alive)."
        ),
    )
    clv_horizon_months: int = Field(default=12, ge=1, le=120, description="Months of future purchases counted in CLV.")
    clv_annual_discount: float = Field(
        default=0.10, ge=0, le=1, description="Yearly discount rate applied to CLV (monthly compounding)."
    )
    churn_horizon_days: int = Field(
        default=180,
        ge=30,
        description="A customer has churned when they place no order for this many days; also the training look-ahead.",
    )
    loyalty_vip_share: float = Field(
        default=0.10, gt=0, lt=1, description="Share of buyers in the VIP tier (highest loyalty score)."
    )
    loyalty_loyal_share: float = Field(
        default=0.25, ge=0, lt=1, description="Share of buyers in the loyal tier (next after VIP)."
    )
    auth_secret: SecretStr = Field(
        default=SecretStr("change-me-in-production"),
        description="Secret for signing session cookies and CSRF tokens.",
    )
    demo_users: bool = Field(default=True, description="Create the demo logins (set false in production).")
    sla_timezone: str = Field(default="UTC", description="Time zone of the service desk's business hours (IANA name).")
    sla_business_hours: str = Field(
        default="09:00-17:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$", description="Opening hours of a working day."
    )
    sla_workdays: str = Field(default="mon tue wed thu fri", description="Working days (mon … sun, space-separated).")
    sla_holidays: str = Field(default="", description="Holidays (ISO dates, comma-separated): no SLA clock runs.")
    sla_warning_share: float = Field(
        default=0.75, gt=0, lt=1, description="Share of an SLA target elapsed at which a case is at risk (warned)."
    )
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (set true behind TLS)."
    )
    analyst_query_timeout_ms: int = Field(
        default=10_000, ge=1, description="Time limit of an analyst's Cypher or SPARQL query."
    )
    analyst_row_limit: int = Field(default=1000, ge=1, description="Rows an analyst query returns at most.")
    host: str = Field(default="127.0.0.1", description="Address the web server binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the web server binds.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "Web server processes (uvicorn workers). Each holds its own knowledge base (the login throttle "
            "is shared through the graph); more than one pays off only with spare cores (see Benchmarks)."
        ),
    )
    password_checks: int = Field(
        default=0,
        ge=0,
        le=64,
        description=(
            "Password checks (argon2, about 10 ms of one core each) a server process runs at the same time; "
            "0: the machine's cores divided by KBCRM_WORKERS, at least 1. Up to four logins per check are in "
            "progress at once; further logins wait on the event loop, holding no thread."
        ),
    )
    password_check_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description=(
            "How much lower the CPU priority of a server process's password checks is than its requests "
            "(a thread nice value, Linux only; 0 = the same). On a busy machine searches and reads get the cores "
            "first, so a burst or a flood of logins slows logins, not the rest of the portal."
        ),
    )
    session_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description=(
            "How long a server process keeps a signed-in user (role, customer, session version) after reading it "
            "from the graph, so a request with a session cookie needs no graph read; 0 = read it on every request. "
            "A logout, an admin's change of the login or an erasure through this process applies at once; one "
            "through another process (the other workers, the CLI) within this many seconds."
        ),
    )
    access_log: bool = Field(
        default=True,
        description="Log every request (uvicorn's access log); turn off behind a proxy that logs them already.",
    )
    public_url: str = Field(
        default="",
        pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$",
        description=(
            "Address of the portal as its users reach it (e.g. https://crm.example.com); links in e-mails and "
            "printed by the CLI start with it. Empty: the address the request came to (never used for e-mail)."
        ),
    )
    smtp_host: str = Field(
        default="", description="SMTP server for invitation e-mails; empty: e-mail is off and staff pass links on."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (submission, port 587), tls (implicit, port 465) or none."
    )
    smtp_user: str = Field(default="", description="SMTP login (empty: no login).")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password.")
    smtp_timeout_s: float = Field(default=10.0, gt=0, description="Seconds to wait for the SMTP server.")
    mail_from: str = Field(default="", description="Sender address of KBCRM's e-mails (needed when e-mail is on).")
    demo_customers: int = Field(default=300, ge=10, description="Customers in the demo data set `make run` generates.")
    demo_seed: int = Field(default=7, description="Random seed of the demo data set.")

    @model_validator(mode="after")
    def _mail_needs_sender_and_address(self) -> Settings:
        if self.smtp_host and (not self.mail_from or "@" not in self.mail_from):
            raise ValueError("KBCRM_MAIL_FROM: a sender address is needed when KBCRM_SMTP_HOST is set")
        if self.smtp_host and not self.public_url:
            # A link built from the request's Host header could point anywhere: e-mailed links use this only.
            raise ValueError("KBCRM_PUBLIC_URL: the portal's address is needed when KBCRM_SMTP_HOST is set")
        return self

    @property
    def embedding_dim(self) -> int:
        """Dimension of the English embedder's vectors (the graph's vector index uses it)."""
        return EMBEDDING_DIMENSIONS[self.embedder]

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
