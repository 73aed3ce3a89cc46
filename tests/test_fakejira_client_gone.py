"""The fake Jira behind `jiradex demo` says nothing when a client goes away mid-answer.

Quitting the demo during its sync (Ctrl+Q) closes the connections the sync had
open: each answer still on its way printed a BrokenPipeError traceback into the
terminal the TUI had just given back."""

from __future__ import annotations

import socket
import struct
import threading
import time

from fakejira.server import FakeJira


def _request_then_hang_up(port: int, path: str) -> None:
    """Ask, then reset the connection before the (slowed) answer is written."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _wait_for_handlers(timeout: float = 10.0) -> None:
    """Until the server threads answering requests are done (handle_error included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any("process_request" in t.name for t in threading.enumerate()):
            return
        time.sleep(0.02)


def test_a_client_hanging_up_mid_answer_prints_no_traceback(capsys):
    with FakeJira(mode="datacenter", issues=3, latency_ms=300) as fj:
        for path in ("/rest/api/2/serverInfo", "/rest/api/2/issue/DEMO-1"):
            _request_then_hang_up(fj.port, path)
        _wait_for_handlers()
    err = capsys.readouterr().err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
