"""A real redis-server on a loopback port for the tests: nothing saved to disk, stopped afterwards.

A pytest plugin (listed in tests/conftest.py): `redis_url` is the session's server, emptied for each
test; `dead_redis_url` is an address where nothing listens. Without a redis-server binary the tests
that need one skip, unless LLMCFG_REQUIRE_REDIS=1 (CI), where that is a failure.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
from redis import Redis, RedisError

START_TIMEOUT_S = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_binary() -> str:
    """Return the redis-server path; skip the test without one, unless LLMCFG_REQUIRE_REDIS=1 (CI)."""
    binary = shutil.which("redis-server")
    if binary:
        return binary
    if os.environ.get("LLMCFG_REQUIRE_REDIS") == "1":
        pytest.fail("LLMCFG_REQUIRE_REDIS=1 but redis-server is missing (apt-get install redis-server)")
    pytest.skip("redis-server is missing: install it to run the shared-store tests")


class RedisServer:
    """One redis-server process; `start(port)` again after `stop()` restarts it on the same port."""

    def __init__(self, binary: str):
        self.binary = binary
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.folder = tempfile.mkdtemp(prefix="llmcfg-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, port: int | None = None) -> "RedisServer":
        self.port = port or free_port()
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                try:
                    probe.ping()
                    return self
                except RedisError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                    time.sleep(0.02)  # bounded by START_TIMEOUT_S
        finally:
            probe.close()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    """One redis-server for the whole session (prefer `redis_url`, which empties it per test)."""
    server = RedisServer(redis_binary())
    for attempt in range(3):  # the free port may be taken before redis-server binds it
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
    yield server
    server.remove()


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis, emptied for this test."""
    with Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def peek(redis_url):
    """A plain client for looking at what the app stored."""
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def dead_redis_url():
    """A Redis URL where nothing listens (connections are refused at once)."""
    return f"redis://127.0.0.1:{free_port()}/0"
