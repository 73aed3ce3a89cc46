"""A stop ends requests in flight at once, even to a server that never answers.

Not a Jira exchange (no cassette can wait for ever): the "server" here accepts
connections and then says nothing, as a hung proxy or an overloaded node does.
Before, a cancelled sync, a TUI quitting mid-sync and Ctrl-C on `jiradex sync` all
sat out the client's 30 s read timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from indexer import config
from indexer.jira import JiraClient
from indexer.jira.errors import JiraRetryAborted
from indexer.store import Store
from indexer.sync import sync_datasource

PROMPT_S = 5.0  # well under the 30 s read timeout every request here would wait


class SilentServer:
    """Accepts TCP connections on loopback and answers nothing, or (`answers_info`)
    only `/rest/api/2/serverInfo`, as a Data Center: a sync then hangs further on,
    in the listing or the fetch, on a thread of its own rather than the main one."""

    SERVER_INFO = (
        b'{"version": "9.12.2", "versionNumbers": [9, 12, 2], '
        b'"deploymentType": "Server", "buildNumber": 912002, "serverTitle": "Jira"}'
    )

    def __init__(self, answers_info: bool = False) -> None:
        self.answers_info = answers_info
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = threading.Event()  # a request is waiting for its answer
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            if not (self.answers_info and b"/rest/api/2/serverInfo" in head.split(b"\r\n")[0]):
                self.accepted.set()
                continue  # never answered
            body = self.SERVER_INFO
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )

    def close(self) -> None:
        self.listener.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def hangs_after_info():
    server = SilentServer(answers_info=True)
    yield server
    server.close()


def _asking(client: JiraClient, silent: SilentServer):
    """A thread asking `client` for /myself, started and waiting in recv for the
    silent server's answer; and the list its outcome (None or the error) goes to."""
    outcome: list[BaseException | None] = []

    def ask() -> None:
        try:
            client.myself()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the test reports what it got
            outcome.append(exc)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    assert silent.accepted.wait(PROMPT_S)
    time.sleep(0.1)  # the request is sent and its thread is waiting in recv
    return asker, outcome


def test_abort_requests_ends_a_request_waiting_for_an_answer(silent):
    client = JiraClient(silent.url, token="pat-0000silent", deployment="datacenter")
    asker, outcome = _asking(client, silent)
    started = time.monotonic()
    client.stopping.set()
    client.abort_requests()
    asker.join(PROMPT_S)
    assert not asker.is_alive(), "the request still waits for its read timeout"
    assert time.monotonic() - started < PROMPT_S
    assert isinstance(outcome[0], JiraRetryAborted)
    with pytest.raises(JiraRetryAborted):  # a stopped client sends nothing more
        client.myself()
    client.close()


def _datasource(url: str) -> config.Datasource:
    return config.add_datasource(
        config.Datasource(name="hung", endpoint=url, token="pat-0000silent", project_key="HUNG")
    )


def test_a_cancelled_sync_stops_at_once_while_its_request_hangs(silent, tmp_path):
    ds = _datasource(silent.url)
    cancel = threading.Event()
    result = []
    with Store(tmp_path / "index.db") as store:
        syncing = threading.Thread(
            target=lambda: result.append(sync_datasource(ds, store=store, cancel=cancel)),
            daemon=True,
        )
        syncing.start()
        assert silent.accepted.wait(PROMPT_S)
        time.sleep(0.1)
        started = time.monotonic()
        cancel.set()  # the TUI's cancel key, or the app quitting
        syncing.join(PROMPT_S)
        assert not syncing.is_alive(), "the cancel waited for the read timeout"
        assert time.monotonic() - started < PROMPT_S
        assert result[0].status == "cancelled", result[0].error
        assert store.runs("hung")[0]["status"] == "cancelled"


def _python(args: list[str], home) -> subprocess.Popen:
    """A Python child (jiradex's CLI, or a script driving the TUI) on `home`."""
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "JIRADEX_HOME": str(home)},
    )


def test_ctrl_c_on_sync_exits_at_once_while_a_request_hangs(hangs_after_info, jiradex_home):
    silent = hangs_after_info
    _datasource(silent.url)
    proc = _python(["-m", "cli", "sync"], jiradex_home)
    try:
        assert silent.accepted.wait(30), "the sync never reached the server"
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=PROMPT_S + 5)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert took < PROMPT_S, f"Ctrl-C took {took:.1f}s"
    assert "interrupted" in err


# A TUI that quits when told (argv[1]: the file whose existence says so), busy
# with what argv[3] names: "sync" (of the datasource "hung") or "settings-test"
# (Settings › Test connection to argv[2]).
TUI_QUITS = """
import os, sys, threading, time
from textual.widgets import Input
from tui.app import JiradexApp

go, url, busy = sys.argv[1:4]
app = JiradexApp(start_sync=["hung"] if busy == "sync" else None)

def test_connection():
    screen = app.mode_screen("settings")
    screen.query_one("#base_url", Input).value = url
    screen.query_one("#email", Input).value = "me@example.com"
    screen.query_one("#api_token", Input).value = "tok-0000silent"
    screen.action_test()

def drive():
    if busy == "settings-test":
        while not app.is_running:
            time.sleep(0.05)
        app.call_from_thread(app.go, "settings")
        time.sleep(0.5)
        app.call_from_thread(test_connection)
    while not os.path.exists(go):
        time.sleep(0.05)
    app.call_from_thread(app.exit)

threading.Thread(target=drive, daemon=True).start()
app.run(headless=True)
"""


def test_quitting_the_tui_mid_sync_does_not_wait_for_a_hung_request(
    hangs_after_info, jiradex_home, tmp_path
):
    """The TUI cancels its sync workers as it exits; the process then ended only
    when the hung request's 30 s read timeout ran out (a blank terminal meanwhile).
    Timed from the quit, once the request hangs: not the start-up, which a loaded
    machine makes slow."""
    _datasource(hangs_after_info.url)
    _assert_quits_at_once("sync", hangs_after_info, jiradex_home, tmp_path)


def _assert_quits_at_once(busy: str, server: SilentServer, home, tmp_path) -> None:
    """Run TUI_QUITS busy with `busy` against `server`; once its request hangs
    there, tell it to quit: it must exit 0 at once. Timed from the quit, not the
    start-up, which a loaded machine makes slow."""
    go = tmp_path / "quit-now"
    proc = _python(["-c", TUI_QUITS, str(go), server.url, busy], home)
    try:
        assert server.accepted.wait(60), "the TUI never reached the server"
        time.sleep(0.3)
        started = time.monotonic()
        go.touch()
        _, err = proc.communicate(timeout=PROMPT_S + 30)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert took < PROMPT_S, f"quitting took {took:.1f}s"


def test_a_connection_test_against_a_silent_server_gives_up_after_one_short_wait(
    silent, monkeypatch
):
    """A person testing a connection waited 91 s (three 30 s read timeouts): an
    interactive action now waits one shorter timeout and does not ask again."""
    from cli_runner import run

    from indexer.jira import client_for_datasource

    monkeypatch.setattr("indexer.jira.client.INTERACTIVE_TIMEOUT", 0.5)
    ds = _datasource(silent.url)
    started = time.monotonic()
    result = run("datasource", "test", "hung")
    took = time.monotonic() - started
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"jiradex: Connection to {silent.url} timed out: check the site URL and your network"
    )
    assert took < PROMPT_S
    assert len(silent.connections) == 1, "the timed-out request was sent again"
    with client_for_datasource(ds) as sync_client:  # a sync still tries 3 times
        assert sync_client.retry.max_network_attempts == 3


class _Stream:
    """What httpcore's trace hook hands over: a network stream and its socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str):
        return self.sock if name == "socket" else None


@pytest.mark.parametrize(
    "event",
    [
        "connection.connect_tcp.complete",
        "connection.start_tls.complete",
        "proxy.start_tls.complete",  # the tunnel through an HTTPS_PROXY
        "socks.connect_tcp.complete",
    ],
)
def test_abort_reaches_connections_made_directly_or_through_a_proxy(event):
    ours, peer = socket.socketpair()
    client = JiraClient("https://example.atlassian.net", token="pat-0000silent")
    client._trace(event, {"return_value": _Stream(ours)})
    client.stopping.set()
    client.abort_requests()
    peer.settimeout(2)
    assert peer.recv(1) == b"", "the connection was not shut down"
    ours.close(), peer.close(), client.close()


def test_a_connection_made_after_the_abort_is_cut_at_once():
    """A request past the stopped check connects after abort_requests went round."""
    ours, peer = socket.socketpair()
    client = JiraClient("https://example.atlassian.net", token="pat-0000silent")
    client.stopping.set()
    client.abort_requests()
    client._trace("connection.connect_tcp.complete", {"return_value": _Stream(ours)})
    peer.settimeout(2)
    assert peer.recv(1) == b""
    ours.close(), peer.close(), client.close()


def test_end_reads_in_flight_ends_reads_and_lets_a_post_finish(silent):
    """What a quitting TUI calls: every client's reads end now; a client posting a
    comment is left alone, so the post is known (and recorded) before the exit."""
    from indexer.jira import end_reads_in_flight

    reader = JiraClient(silent.url, token="pat-0000reader", deployment="datacenter")
    poster = JiraClient(silent.url, token="pat-0000poster", deployment="datacenter")
    reading, outcome = _asking(reader, silent)
    with poster._posting():
        end_reads_in_flight()
        assert poster.posting and not poster.stopping.is_set()
    reading.join(PROMPT_S)
    assert not reading.is_alive(), "the read still waits for its timeout"
    assert isinstance(outcome[0], JiraRetryAborted)
    assert not poster.posting
    reader.close()
    poster.close()


def test_quitting_the_tui_during_a_connection_test_does_not_wait_for_it(
    silent, jiradex_home, tmp_path
):
    """Settings › Test connection against a server that never answers, then quit:
    the process waited for the test's thread, up to its 15 s timeout."""
    _assert_quits_at_once("settings-test", silent, jiradex_home, tmp_path)
