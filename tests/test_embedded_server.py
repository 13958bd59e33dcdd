"""Life cycle of the embedded FalkorDB server: durability, crash leftovers, start-up race, orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbcrm.graph import EmbeddedServer
from kbcrm.graph.falkordb_backend import FalkorDBStore

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from kbcrm.graph import EmbeddedServer
    from kbcrm.graph.falkordb_backend import FalkorDBStore
    server = EmbeddedServer(Path(sys.argv[1]), appendfsync=sys.argv[2])
    store = FalkorDBStore(graph_name="crash", socket_path=server.ensure_running())
    store.ensure_schema(vector_dimension=4)
    print("pid", server.running_pid(), flush=True)
    batch, n = 500, 0
    while True:
        rows = [{"id": f"t{n + i:08d}", "name": "x"} for i in range(batch)]
        store.upsert_nodes("Topic", rows)
        n += batch
        print("acked", n, flush=True)  # printed only after the server acknowledged the write
    """
)


def _our_servers(socket_path: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"redis-server" in b" ".join(cmdline) and f"unixsocket:{socket_path}".encode() in b" ".join(cmdline):
                pids.append(int(entry.name))
    return pids


def _count(server: EmbeddedServer, graph: str, label: str = "Topic") -> int:
    store = FalkorDBStore(graph_name=graph, socket_path=server.ensure_running())
    try:
        return store.count_nodes(label)
    finally:
        store.close()


@pytest.mark.parametrize("appendfsync", ["everysec", "always"])
def test_kill_client_and_server_mid_write_keeps_every_acknowledged_write(tmp_path: Path, appendfsync: str) -> None:
    directory = tmp_path / "graph"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), appendfsync], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    server_pid, acknowledged = 0, 0
    deadline = time.monotonic() + 120
    while acknowledged < 20_000 and time.monotonic() < deadline:
        word, value = writer.stdout.readline().split()
        if word == "pid":
            server_pid = int(value)
        else:
            acknowledged = int(value)
    assert server_pid and acknowledged >= 20_000
    # kill -9 both while the writer is still writing
    os.kill(server_pid, signal.SIGKILL)
    writer.kill()
    writer.wait(10)
    server = EmbeddedServer(directory, appendfsync=appendfsync)
    for _ in range(100):
        if server.running_pid() is None:
            break
        time.sleep(0.05)
    assert (directory / "redis.pid").exists(), "the killed server leaves its pid file behind"
    try:
        store = FalkorDBStore(graph_name="crash", socket_path=server.ensure_running())
        store.ensure_schema(vector_dimension=4)  # as every KBCRM process does at start-up; waits for indexes
        ids = [f"t{i:08d}" for i in range(acknowledged)]
        present = store.read("UNWIND $ids AS id MATCH (t:Topic {id: id}) RETURN count(t) AS n", ids=ids)[0]["n"]
        assert present == acknowledged
        store.close()
    finally:
        server.destroy()


def test_stale_pid_and_socket_files_are_recovered(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "graph")
    try:
        server.ensure_running()
        first = server.running_pid()
        assert first is not None
        os.kill(first, signal.SIGKILL)
        time.sleep(0.3)
        assert server.pid_path.exists() and server.socket_path.exists()  # leftovers of the crash
        server.ensure_running()
        second = server.running_pid()
        assert second is not None and second != first
        # A pid file naming a live process that is not our server is stale too.
        server.stop()
        server.pid_path.write_text(str(os.getpid()))
        server.ensure_running()
        assert server.running_pid() not in (None, os.getpid())
    finally:
        server.destroy()


RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from kbcrm.graph import EmbeddedServer
    start_at = float(sys.argv[2])
    while time.time() < start_at:
        time.sleep(0.001)
    server = EmbeddedServer(Path(sys.argv[1]))
    server.ensure_running()
    print(server.running_pid(), flush=True)
    """
)


def test_two_processes_starting_at_once_share_one_server(tmp_path: Path) -> None:
    directory = tmp_path / "graph"
    start_at = str(time.time() + 1.5)
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, str(directory), start_at], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    pids = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    server = EmbeddedServer(directory)
    try:
        assert len(pids) == 1
        assert _our_servers(server.socket_path) == [int(pids.pop())]
    finally:
        server.destroy()


def test_orphaned_server_is_reattached_and_stopped_by_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "graph"
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from kbcrm.graph import EmbeddedServer
        from kbcrm.graph.falkordb_backend import FalkorDBStore
        server = EmbeddedServer(Path(sys.argv[1]))
        store = FalkorDBStore(graph_name="kbcrm", socket_path=server.ensure_running())
        store.upsert_nodes("Topic", [{"id": "kept", "name": "written before the owner died"}])
        print(server.running_pid(), flush=True)
        time.sleep(60)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script, str(directory)], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    orphan_pid = int(owner.stdout.readline())
    owner.kill()
    owner.wait(10)
    server = EmbeddedServer(directory)
    try:
        assert server.running_pid() == orphan_pid  # still alive after its owner was killed
        server.ensure_running()
        assert server.running_pid() == orphan_pid  # reattached, not restarted
        assert _count(server, "kbcrm") == 1

        from kbcrm.cli import app
        from kbcrm.settings import get_settings

        monkeypatch.setenv("KBCRM_GRAPH_URI", f"falkordb+embedded://{directory}")
        get_settings.cache_clear()
        result = CliRunner().invoke(app, ["store", "stop"])
        assert result.exit_code == 0, result.output
        assert "stopped" in result.output
        assert server.running_pid() is None and _our_servers(server.socket_path) == []
        assert _count(server, "kbcrm") == 1  # the clean stop kept the data
    finally:
        get_settings.cache_clear()
        server.destroy()


def test_config_turns_on_the_append_only_file(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "graph", appendfsync="always")
    try:
        server.ensure_running()
        config = server.config_path.read_text()
        assert "appendonly yes" in config and "appendfsync always" in config
        assert (server.directory / "appendonlydir").is_dir()
    finally:
        server.destroy()
