"""One project's rate limit shared by every worker, through a real Redis on loopback.

Two processes, each with its own limiter (as two Celery workers would have), start requests
for the same project: together they never exceed the project's rate in any one-second window.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pipeline.defs.resources import SinchCallsResource
from pipeline.projects import Project
from pipeline.sinch.errors import TransportError
from pipeline.sinch.shared_limit import SharedRateLimiter, window_for
from pipeline.sinch.transport import RateLimiter
from tests.conftest import free_port

REDIS = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1 (no persistence), stopped by PID."""
    assert REDIS is not None
    port = free_port()
    with subprocess.Popen(
        [REDIS, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as server:
        try:
            while not _answers(port):
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(timeout=30)


#: A worker: 8 acquisitions on the shared limit of project P, printing each start (epoch s).
WORKER = """
import sys, time
from pipeline.sinch.shared_limit import SharedRateLimiter
limiter = SharedRateLimiter(sys.argv[1], "P", float(sys.argv[2]))
print("ready", flush=True)
sys.stdin.readline()
for _ in range(8):
    limiter.acquire()
    print(time.time(), flush=True)
"""


@needs_redis
@pytest.mark.slow
def test_two_processes_share_one_projects_rate(redis_url):
    rate = 4
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url, str(rate)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers:  # both start together
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    starts: list[float] = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        starts += [float(line) for line in out.split()]
    starts.sort()
    assert len(starts) == 16
    # at most `rate` starts in any one-second window, across both processes
    for first, later in zip(starts, starts[rate:], strict=False):
        assert later - first >= 0.95, (first, later)
    assert starts[-1] - starts[0] >= (16 // rate - 1) * 0.95


@needs_redis
def test_a_project_client_waits_for_the_shared_limit(redis_url):
    resource = SinchCallsResource(
        api_url="http://127.0.0.1:9", rate_limit_per_s=7, rate_limit_store=redis_url
    )
    project = Project(id="acme-eu", key_id_env="K_ID", key_secret_env="K_SECRET")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("K_ID", "id")
        env.setenv("K_SECRET", "secret")
        with resource.build_client(project) as client:
            limiter = client.rate_limiter
    assert isinstance(limiter, SharedRateLimiter)
    assert (limiter.key, limiter.item.amount) == ("acme-eu", 7)
    plain = SinchCallsResource(
        project_id="p", key_id="i", key_secret="s", rate_limit_per_s=7, api_url="http://x"
    )
    with plain.build_client() as client:
        assert isinstance(client.rate_limiter, RateLimiter)


def test_an_unreachable_store_is_a_transport_error_without_its_password():
    port = free_port()  # nothing listens there
    limiter = SharedRateLimiter(f"redis://:hunter2@127.0.0.1:{port}/0", "P", 5)
    with pytest.raises(TransportError, match="shared rate limit store did not answer") as caught:
        limiter.acquire()
    assert "hunter2" not in str(caught.value)


def test_an_unknown_store_is_refused_without_its_password():
    with pytest.raises(ValueError, match=r"cannot use the shared rate limit store \(nope://") as e:
        SharedRateLimiter("nope://user:hunter2@host/0", "P", 5)
    assert "hunter2" not in str(e.value)


@pytest.mark.parametrize(
    ("rate", "window"),
    [(20.0, (20, 1)), (2.5, (2, 1)), (1.0, (1, 1)), (0.5, (1, 2)), (0.3, (1, 4))],
)
def test_the_window_never_exceeds_the_rate(rate, window):
    assert window_for(rate) == window
    requests, seconds = window
    assert requests / seconds <= rate


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_rate_is_refused(rate):
    with pytest.raises(ValueError, match="positive"):
        window_for(rate)


def test_memcached_is_refused_naming_the_stores_that_work():
    """The docs listed memcached://, which never worked (no moving window in ``limits``, and no
    driver installed); it is refused up front, and the schemes named are the ones that work."""
    with pytest.raises(ValueError, match=r"\(memcached://…\)") as caught:
        SharedRateLimiter("memcached://localhost:11211", "p", 5.0)
    assert "schemes: redis://, rediss://, redis+sentinel://, memory://)" in str(caught.value)
