"""Shared fixtures: real embedded FalkorDB, real Bolt server (FalkorDB 4.18), real files."""

from __future__ import annotations

import os
import random
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kbcrm.demo.generator import generate
from kbcrm.graph import EmbeddedServer, GraphStore
from kbcrm.graph.embedded import bundled_binaries
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.graph.neo4j_backend import Neo4jStore
from kbcrm.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """One embedded server for the session; tests use separate graphs on it."""
    server = EmbeddedServer(tmp_path_factory.mktemp("graph"))
    server.ensure_running()
    yield server
    server.destroy()


@pytest.fixture
def falkordb_store(embedded: EmbeddedServer) -> Iterator[FalkorDBStore]:
    """A fresh, empty graph with the ontology's schema on the embedded server."""
    store = FalkorDBStore(graph_name=f"t_{uuid.uuid4().hex[:10]}", socket_path=embedded.socket_path)
    store.ensure_schema(vector_dimension=4)
    yield store
    store.drop_graph()
    store.close()


def _free_port() -> int:
    """A free port below 32768: FalkorDB 4.18 silently ignores a larger BOLT_PORT (measured)."""
    for port in random.sample(range(20000, 32767), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32768")


def _bolt_module() -> Path | None:
    configured = os.environ.get("KBCRM_BOLT_MODULE")
    candidates = [Path(configured)] if configured else []
    candidates.append(ROOT / ".cache" / "falkordb-4.18" / "falkordb.so")
    return next((p for p in candidates if p.exists()), None)


@pytest.fixture(scope="session")
def bolt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """FalkorDB 4.18 with its Bolt listener, password-protected (the listener binds every interface)."""
    module = _bolt_module()
    if module is None:
        pytest.skip("FalkorDB 4.18 module not found: run the suite through `make test`, which fetches it")
    server_bin, _ = bundled_binaries()
    directory = tmp_path_factory.mktemp("bolt")
    port, password = _free_port(), secrets.token_hex(12)
    process = subprocess.Popen(
        [
            str(server_bin),
            "--port",
            "0",
            "--unixsocket",
            str(directory / "s.sock"),
            "--dir",
            str(directory),
            "--requirepass",
            password,
            "--save",
            "",
            "--loadmodule",
            str(module),
            "BOLT_PORT",
            str(port),
        ],
        stdout=(directory / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail(f"FalkorDB 4.18 Bolt listener did not start: {(directory / 'redis.log').read_text()[-800:]}")
    yield f"bolt://127.0.0.1:{port}", password
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def _bolt_session_store(bolt_server: tuple[str, str]) -> Iterator[Neo4jStore]:
    # One driver (one connection pool) for the session: FalkorDB 4.18's Bolt listener was
    # measured to hang the handshake of a new client after an earlier client disconnected.
    uri, password = bolt_server
    store = Neo4jStore(uri, user="falkordb", password=password, database="t_bolt")
    store.falkordb_bolt = True  # type: ignore[attr-defined]  # lets the contract suite name measured gaps
    yield store
    store.close()


@pytest.fixture
def bolt_store(_bolt_session_store: Neo4jStore) -> Iterator[Neo4jStore]:
    """The Neo4j backend's code path, through the official driver, against FalkorDB's Bolt listener."""
    _bolt_session_store.database = f"t_{uuid.uuid4().hex[:10]}"
    yield _bolt_session_store
    _bolt_session_store.clear()


@pytest.fixture
def neo4j_store() -> Iterator[Neo4jStore]:
    """A real Neo4j, when NEO4J_URI (and NEO4J_USER / NEO4J_PASSWORD) are set."""
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        pytest.skip("NEO4J_URI is not set")
    store = Neo4jStore(
        uri,
        user=os.environ.get("NEO4J_USER", "neo4j"),
        password=os.environ.get("NEO4J_PASSWORD", ""),
        database=os.environ.get("NEO4J_DATABASE", "neo4j"),
    )
    store.clear()
    store.ensure_schema(vector_dimension=4)
    yield store
    store.clear()
    store.close()


BACKENDS = ["falkordb", "bolt", "neo4j"]


@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest) -> GraphStore:
    """Each backend in turn: the contract suite runs against all of them."""
    store: GraphStore = request.getfixturevalue(f"{request.param}_store")
    return store


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated demo data set (40 customers)."""
    directory = tmp_path_factory.mktemp("demo")
    generate(directory, customers=40, seed=11)
    return directory


@pytest.fixture(scope="session")
def demo_store(embedded: EmbeddedServer, demo_dir: Path) -> Iterator[FalkorDBStore]:
    """The small demo set loaded into its own graph (read-only for tests that use it)."""
    from kbcrm.demo.load import load_demo

    store = FalkorDBStore(graph_name="demo_session", socket_path=embedded.socket_path)
    store.drop_graph()
    store.ensure_schema(vector_dimension=4)
    load_demo(store, demo_dir)
    yield store
    store.drop_graph()
    store.close()


def load_knowledge_graph(embedded: EmbeddedServer, name: str, demo_dir: Path, data_dir: Path) -> FalkorDBStore:
    """A fresh graph with the demo set loaded as `make run` loads it: articles ingested, notes linked, KCS reuse."""
    from ingest.articles import ingest_articles
    from ingest.notes import NoteLinker, link_notes
    from kbcrm.demo.kcs_reuse import seed_kcs_reuse
    from kbcrm.demo.load import load_demo

    store = FalkorDBStore(graph_name=name, socket_path=embedded.socket_path)
    store.drop_graph()
    store.ensure_schema(vector_dimension=384)
    load_demo(store, demo_dir, include_articles=False)
    linker = NoteLinker.from_graph(store)
    ingest_articles(store, demo_dir / "articles", data_dir=data_dir, linker=linker)
    link_notes(store, linker)
    seed_kcs_reuse(store)
    return store


@pytest.fixture(scope="session")
def portal_store(
    embedded: EmbeddedServer, demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FalkorDBStore]:
    """The small demo set loaded as `make run` loads it (articles ingested, notes linked, demo logins)."""
    from kbcrm.access.demo import ensure_demo_users

    store = load_knowledge_graph(embedded, "portal_session", demo_dir, tmp_path_factory.mktemp("portal_data"))
    ensure_demo_users(store, enabled=True)
    yield store
    store.drop_graph()
    store.close()


@pytest.fixture(scope="session")
def portal_kb(portal_store: FalkorDBStore, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The knowledge base of the portal graph (built once: it loads the embedders)."""
    from knowledge_transfer.answers.service import KnowledgeBase

    return KnowledgeBase.from_graph(portal_store, Settings(data_dir=tmp_path_factory.mktemp("portal_kb")))
