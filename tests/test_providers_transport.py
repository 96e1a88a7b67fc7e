"""The upstream transport: finished chats' connections are kept for the next chats, and checking an
idle connection never hands the worker's loop to other requests."""

import socket
import subprocess
import sys
import textwrap
import threading
from contextlib import closing

import httpcore
import httpx
from httpcore._sync.connection_pool import PoolRequest

from llmcfg.providers import provider_for
from llmcfg.providers.base import ChatTarget, Credential
from llmcfg.providers.connection import ACTIVE, IDLE, socket_is_readable
from llmcfg.providers.transport import UpstreamPool, UpstreamTransport
from tests.fakes.plugin import Behavior

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello"}]


def client_with(max_connections: int, max_idle: int) -> httpx.Client:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_idle)
    return httpx.Client(timeout=httpx.Timeout(5.0, pool=2.0), transport=UpstreamTransport(limits))


def openai_chat(fake, client):
    """A generator streaming one chat from the fake (nothing is sent before the first next())."""
    credential = Credential("openai", "sk-test-transport")
    adapter = provider_for(credential, base_urls=fake.base_urls, allow_private=True, client=client)
    return adapter.stream_chat(ChatTarget(1, "cfg", "openai", MODEL, credential, {}), HELLO)


def chat_ports(fake) -> list[int]:
    return [c.client_port for c in fake.calls if c.method == "POST"]


def open_chats(fake, client, count: int) -> list:
    """Start `count` chats at once: each holds its own connection until read to the end."""
    chats = [openai_chat(fake, client) for _ in range(count)]
    for chat in chats:
        next(chat)
    return chats


def test_finished_chats_keep_their_connections_while_more_chats_are_open_than_the_idle_limit(fake_upstream):
    """Room for two idle connections, four chats open: the two that finish serve the next two chats."""
    with closing(client_with(max_connections=10, max_idle=2)) as client:
        chats = open_chats(fake_upstream, client, 4)
        for chat in chats[:2]:
            list(chat)
        finished = set(chat_ports(fake_upstream)[:2])
        chats += open_chats(fake_upstream, client, 2)
        for chat in chats[2:]:
            list(chat)
    ports = chat_ports(fake_upstream)
    assert len(set(ports[:4])) == 4 and set(ports[4:]) == finished


def test_a_chat_waits_for_a_connection_when_the_pool_is_full_and_then_reuses_it(fake_upstream):
    fake_upstream.script("openai", MODEL, Behavior.ok(tokens=5, delay=0.05), times=1)
    with closing(client_with(max_connections=1, max_idle=1)) as client:
        first = openai_chat(fake_upstream, client)
        next(first)  # the only connection is now in use
        second = threading.Thread(target=lambda: list(openai_chat(fake_upstream, client)))
        second.start()
        list(first)
        second.join(timeout=5)
    ports = chat_ports(fake_upstream)
    assert not second.is_alive() and len(ports) == 2 and ports[0] == ports[1]


def test_a_full_pool_closes_an_idle_connection_to_another_host_to_make_room(fake_upstream):
    with closing(client_with(max_connections=1, max_idle=1)) as client:
        list(openai_chat(fake_upstream, client))  # leaves an idle connection to 127.0.0.1
        other_host = fake_upstream.url.replace("127.0.0.1", "localhost")
        response = client.get(other_host + "/openai/v1/models", headers={"Authorization": "Bearer sk-x"})
    assert response.status_code == 200  # not a pool timeout: the idle connection made way


def test_socket_is_readable_tells_waiting_data_and_hang_ups_apart_from_quiet():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert socket_is_readable(ours) is False
        theirs.send(b"x")
        assert socket_is_readable(ours) is True
        ours.recv(1)
        theirs.close()
        assert socket_is_readable(ours) is True  # recv would return b"": the peer hung up
    assert socket_is_readable(ours) is True  # a closed socket cannot be reused either


GEVENT_CHECK = textwrap.dedent(
    """
    from gevent import monkey; monkey.patch_all()
    import gevent, socket, time
    from llmcfg.providers.connection import socket_is_readable
    ran = []
    def busy():
        while True:
            time.sleep(0)
            ran.append(1)
    gevent.spawn(busy)
    gevent.sleep(0.01)
    ours, theirs = socket.socketpair()
    before = len(ran)
    answers = {socket_is_readable(ours) for _ in range(100)}
    print(len(ran) - before, answers)
    """
)


def test_checking_an_idle_connection_under_gevent_does_not_run_other_greenlets():
    """gevent's own poll(0) switches to the loop; the pool holds its lock during the check."""
    done = subprocess.run([sys.executable, "-c", GEVENT_CHECK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(maxsplit=1) == ["0", "{False}\n"]


def test_only_the_idle_connection_about_to_be_used_is_asked_whether_its_server_hung_up(fake_upstream, monkeypatch):
    """Asking costs a poll of the socket: once per request, not once per idle connection."""
    from llmcfg.providers import connection

    with closing(client_with(max_connections=10, max_idle=10)) as client:
        for chat in open_chats(fake_upstream, client, 5):
            list(chat)  # five idle connections now
        asked = []
        monkeypatch.setattr(connection, "socket_is_readable", lambda sock: asked.append(sock) or False)
        list(openai_chat(fake_upstream, client))
    ports = chat_ports(fake_upstream)
    assert len(asked) == 1 and ports[-1] in ports[:5]


class IdleStandIn:
    """A connection in the pool's eyes only: idle, alive, to any origin (the pool's pass alone is tested)."""

    def __init__(self, state=IDLE):
        self.state, self.claimed_by = state, None

    def has_expired(self):
        return False

    def can_handle_request(self, origin):
        return True

    def is_available(self):
        return self.state == IDLE

    def hung_up(self):
        return False


def pool_with(connections, max_connections=10, max_idle=10) -> UpstreamPool:
    pool = UpstreamPool(max_connections=max_connections, max_keepalive_connections=max_idle)
    pool._connections = list(connections)
    return pool


def queue(pool: UpstreamPool) -> PoolRequest:
    """A request arriving at the pool, as httpcore's handle_request queues it."""
    request = PoolRequest(httpcore.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))
    pool._requests.append(request)
    return request


def test_a_connection_handed_out_but_not_started_on_is_neither_handed_out_again_nor_closed():
    """Between the pool's pass and the request's start, the connection still says IDLE."""
    given = IdleStandIn()
    pool = pool_with([given], max_connections=1)
    first = queue(pool)
    pool._assign_requests_to_connections()
    pool._max_keepalive_connections = 0  # an idle connection now would be closed
    second = queue(pool)
    closing = pool._assign_requests_to_connections()
    assert first.connection is given and given.claimed_by is first
    assert second.is_queued() and closing == [] and pool._connections == [given]


def test_a_connection_whose_request_left_before_starting_on_it_serves_the_next():
    given = IdleStandIn()
    pool = pool_with([given], max_connections=1)
    cancelled = queue(pool)
    pool._assign_requests_to_connections()
    pool._requests.remove(cancelled)  # what httpcore does when a request is cancelled
    pool._assign_requests_to_connections()  # and then it runs the pass again
    assert given.claimed_by is None  # the cancelled request is not kept alive by its connection
    waiting = queue(pool)
    pool._assign_requests_to_connections()
    assert waiting.connection is given and given.claimed_by is waiting


def test_starting_a_request_on_a_connection_clears_its_claim(fake_upstream):
    with closing(client_with(max_connections=2, max_idle=2)) as client:
        chat = openai_chat(fake_upstream, client)
        next(chat)  # started, still streaming
        pool = client._transport._pool
        assert [(c.state, c.claimed_by) for c in pool._connections] == [(ACTIVE, None)]
        list(chat)
