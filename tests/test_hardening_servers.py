"""Addresses given as a Dask scheduler that are not one: a listener that accepts and never
answers, one that answers HTTP, a port where nothing listens, an empty address. Each is exit 2
naming the address within the connect timeout; nothing hangs. Only loopback listeners started
here are used."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import CONFIGS, assert_clean_error, run_cli

from nnlearn.errors import NnlearnError

ENV = {"NNLEARN_THREADS": "1"}


@contextlib.contextmanager
def listener(reply: bytes | None) -> Iterator[str]:
    """A loopback TCP server: sends ``reply`` to whoever connects (None: says nothing) and
    keeps the connection open until the block ends. Yields its tcp:// address."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)
            if reply is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"  # closed again: nothing listens


HTTP = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\n<html></html>" * 4


@pytest.mark.parametrize("reply", [None, HTTP, b"\xff" * 64], ids=["silent", "http", "garbage"])
def test_a_listener_that_is_not_a_scheduler_is_refused_in_time(reply):
    pytest.importorskip("distributed")
    from nnlearn.sweeps.sweep import dask_executor

    with listener(reply) as address:
        started = time.monotonic()
        with pytest.raises(NnlearnError, match="Dask scheduler at " + address), \
                dask_executor(address, timeout=0.5):
            pass
        assert time.monotonic() - started < 10


def test_a_port_where_nothing_listens_is_refused():
    pytest.importorskip("distributed")
    from nnlearn.sweeps.sweep import dask_executor

    address = closed_port()
    with pytest.raises(NnlearnError, match=address), dask_executor(address, timeout=0.5):
        pass


def test_a_client_made_after_the_timeout_is_closed_not_left_connected():
    from nnlearn.sweeps.sweep import _connect

    made, closed = threading.Event(), threading.Event()

    class SlowClient:  # answers, but only after the caller has given up
        def __init__(self, address, timeout):
            time.sleep(timeout + 1.5)
            made.set()

        def close(self):
            closed.set()

    with pytest.raises(NnlearnError, match="no answer within 0.1 s"):
        _connect(SlowClient, "tcp://127.0.0.1:1", 0.1)
    assert made.wait(10) and closed.wait(10)


def test_a_client_made_in_time_is_returned_open():
    from nnlearn.sweeps.sweep import _connect

    class Client:
        closed = False

        def __init__(self, address, timeout):
            self.address = address

        def close(self):
            self.closed = True

    client = _connect(Client, "tcp://127.0.0.1:1", 5.0)
    assert client.address == "tcp://127.0.0.1:1" and not client.closed


@pytest.mark.parametrize("address", ["", "   "])
def test_an_empty_scheduler_address_is_a_usage_error(tmp_path, address):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"base: {CONFIGS / 'xor.yaml'}\n")
    proc = run_cli("sweep", sweep, "--scheduler", address, "--out", tmp_path / "out",
                   env=ENV, timeout=60)
    assert_clean_error(proc, 2, "--scheduler")
    assert not (tmp_path / "out").exists()


def test_the_cli_gives_exit_2_naming_a_silent_address_within_its_timeout(tmp_path):
    pytest.importorskip("distributed")
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"base: {CONFIGS / 'xor.yaml'}\n")
    with listener(None) as address:
        proc = run_cli("sweep", sweep, "--scheduler", address, "--connect-timeout", "0.5",
                       "--out", tmp_path / "out", env=ENV, timeout=60)
    # the timeout is named: "no answer within 0.5 s", or with an older distributed whose own
    # handshake timeout fires first, "after 0.5 s"
    assert_clean_error(proc, 2, address, "0.5 s")


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1"])
def test_the_connect_timeout_must_be_a_positive_finite_number(tmp_path, value):
    proc = run_cli("sweep", tmp_path / "s.yaml", "--scheduler", "tcp://127.0.0.1:1",
                   "--connect-timeout", value, env=ENV, timeout=60)
    assert_clean_error(proc, 2, "--connect-timeout")
