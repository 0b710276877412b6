"""Timeouts are deadlines: an answer that trickles in (a slow-loris server: one byte every
tenth of a second, so no single read ever times out) is cut at the endpoint's timeout, and the
retry policy's total timeout cuts a running attempt. Failures carry no secret in their cause."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

import seedless

TRICKLE_S = 30.0  # how long the server would keep sending if nobody hung up


@pytest.fixture
def loris() -> Iterator[int]:
    """A loopback server that answers every request with headers, then a byte per 0.1 s."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # so that the accept loop sees the stop
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n{"
                )
                deadline = time.monotonic() + TRICKLE_S
                while not stop.is_set() and time.monotonic() < deadline:
                    conn.sendall(b" ")
                    time.sleep(0.1)
            except OSError:
                return  # the client hung up

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(5)


def _client(port: int, *, timeout: float, retry: seedless.RetryPolicy) -> seedless.Client:
    endpoint = seedless.Endpoint(
        name="loris",
        protocol="openai",
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=SecretStr("sk-loris-0123456789"),
        timeout=timeout,
    )
    return seedless.Client(endpoints=[endpoint], retry=retry)


def test_the_endpoint_timeout_ends_a_trickling_answer(loris: int) -> None:
    once = seedless.RetryPolicy(max_attempts=1)
    with _client(loris, timeout=1.0, retry=once) as client:
        started = time.monotonic()
        with pytest.raises(seedless.TimeoutError, match="within 1s") as caught:
            client.generate("a fox", model="loris:flux-dev", seed=1)
        took = time.monotonic() - started
    assert took < TRICKLE_S / 3, took  # cut at its deadline, not when the server stopped
    assert caught.value.retryable


def test_the_total_timeout_cuts_a_running_attempt(loris: int) -> None:
    retry = seedless.RetryPolicy(max_attempts=3, total_timeout=1.5)
    with _client(loris, timeout=60.0, retry=retry) as client:
        started = time.monotonic()
        with pytest.raises(seedless.TimeoutError, match=r"total_timeout of 1\.5s") as caught:
            client.generate("a fox", model="loris:flux-dev", seed=1)
        took = time.monotonic() - started
    assert took < TRICKLE_S / 3, took
    assert not caught.value.retryable


def test_connection_errors_carry_no_secret_in_their_cause_chain() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: the connection is refused
    endpoint = seedless.Endpoint(
        name="gone",
        protocol="openai",
        base_url=f"http://bob:url-pass-4242@127.0.0.1:{port}/v1?key=query-key-4242",
        api_key=SecretStr("sk-header-key-4242"),
    )
    once = seedless.RetryPolicy(max_attempts=1)
    client = seedless.Client(endpoints=[endpoint], retry=once)
    with client, pytest.raises(seedless.ServerError) as caught:
        client.generate("a fox", model="gone:flux-dev", seed=1)
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    requests = [e.request for e in chain if getattr(e, "_request", None) is not None]
    assert requests  # httpx's error is in the chain, with a request
    for request in requests:
        shown = f"{request.url} {dict(request.headers)}"
        for secret in ("url-pass-4242", "query-key-4242", "sk-header-key-4242"):
            assert secret not in shown
