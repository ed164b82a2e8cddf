"""Issue 21, class 4: a Ray address nobody answers at is one line within seconds (a TCP probe
with a deadline before ``ray.init``, which would retry for many minutes), without Ray's C++
warnings.  Pure sockets on 127.0.0.1: no Ray needed."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import pytest

from ktiw.core.errors import KtiwError
from ktiw.runs import executor as ex


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


@pytest.mark.parametrize(
    ("address", "where"),
    [
        ("127.0.0.1:1", ("127.0.0.1", 1)),
        ("ray://10.0.0.5:10001", ("10.0.0.5", 10001)),
        ("ray://head", ("head", 10001)),
        ("head", ("head", 6379)),
        ("[::1]:6379", ("::1", 6379)),
        ("local", None),
        ("auto", None),
    ],
)
def test_split_address(address: str, where) -> None:
    assert ex.split_address(address) == where


@pytest.mark.parametrize("bad", ["host:notaport", "host:0", "host:70000", ":6379"])
def test_bad_address_is_one_line(bad: str) -> None:
    with pytest.raises(KtiwError, match="--ray-address"):
        ex.split_address(bad)


def test_closed_port_fails_within_seconds() -> None:
    port = closed_port()
    t0 = time.perf_counter()
    with pytest.raises(KtiwError, match=rf"nothing answers at 127\.0\.0\.1:{port}") as info:
        ex.probe_address(f"127.0.0.1:{port}", timeout=2.0)
    assert time.perf_counter() - t0 < 5 and "\n" not in str(info.value)


def test_listening_port_passes() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        ex.probe_address(f"127.0.0.1:{srv.getsockname()[1]}", timeout=2.0)


def test_ray_executor_never_calls_ray_init_on_a_dead_address(monkeypatch) -> None:
    """Before the probe, ``ray.init('127.0.0.1:1')`` retried for more than ten minutes."""
    calls = []
    fake = SimpleNamespace(is_initialized=lambda: False, init=lambda **k: calls.append(k) or time.sleep(3600))
    monkeypatch.setattr(ex, "_ray", lambda: fake)
    port = closed_port()
    t0 = time.perf_counter()
    with pytest.raises(KtiwError, match="nothing answers"):
        ex.make_executor("ray", ray_address=f"127.0.0.1:{port}")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    runner = ex.make_executor("ray")
    with pytest.raises(KtiwError, match="nothing answers"):
        runner.run([ex.Task("t", SimpleNamespace(steps=1), ex.Path("x"))], progress=False)
    assert not calls and time.perf_counter() - t0 < 20
