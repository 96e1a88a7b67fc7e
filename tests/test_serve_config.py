"""gunicorn.conf.py, the production serve settings: its gevent workers accept more than one waiting
connection per loop turn and write with one send() where one does, and `make serve`'s configuration
streams chats end to end."""

import runpy
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gevent.server import StreamServer

from bench.client import HELLO
from bench.load import run_load
from bench.seed import app_env, seed
from bench.served import ServedApp
from bench.upstream import UpstreamProcess

CONFIG = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))


def test_the_server_keeps_accepting_the_configured_connections_per_loop_turn():
    per_turn = CONFIG["accept_per_turn"]
    assert per_turn > 1
    server_class = CONFIG["accepting_server"](StreamServer, per_turn)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = server_class(listener, handle=lambda sock, address: None)
        assert server.max_accept == per_turn
        server.max_accept = 1  # what gunicorn's gevent worker sets when there is more than one worker
        assert server.max_accept == per_turn
        server.max_accept = per_turn + 10
        assert server.max_accept == per_turn + 10


def test_the_production_config_streams_chats_through_its_gevent_workers(tmp_path):
    tokens = 20
    with UpstreamProcess() as upstream:
        env = app_env(tmp_path, upstream.base_url)
        seeded = seed(env, tmp_path, failover_configs=1, backup_tokens=4, stream_models=[f"ok-{tokens}-0"],
                      catalog_credentials=1)
        with ServedApp(env, tmp_path) as app, ThreadPoolExecutor(1) as thread:
            # The load clients run their own event loop: in a thread of their own, since the browser
            # tests' sync Playwright may have left one running in this one.
            load = thread.submit(
                run_load, app.port, 8, tokens=tokens, interval_ms=0, ramp=0.1, direct=False, chats=2,
                payload={"config_id": seeded.configs[f"ok-{tokens}-0"], "messages": HELLO},
                headers={"Authorization": f"Bearer {seeded.token}"}, path="/api/chat/stream").result()
            log = app.log_path.read_text()
    assert load.errors == [] and load.completed == load.chats == 16
    assert "Booting worker" in log and "Traceback" not in log


class PartialSocket:
    """A socket whose send() takes at most `room` bytes, as a full send buffer does."""

    def __init__(self, room: int):
        self.room, self.wire, self.calls = room, bytearray(), []

    def send(self, data) -> int:
        self.calls.append("send")
        taken = bytes(data[:self.room])
        self.wire += taken
        return len(taken)

    def sendall(self, data) -> None:
        self.calls.append("sendall")
        self.wire += bytes(data)


def test_a_body_write_goes_out_in_one_send_when_the_socket_has_room():
    sock = PartialSocket(room=1 << 20)
    CONFIG["send_first"](sock, b'event: token\ndata: {"text": "Hi"}\n\n', chunked=True)
    assert sock.calls == ["send"]
    assert bytes(sock.wire) == b'23\r\nevent: token\ndata: {"text": "Hi"}\n\n\r\n'


@pytest.mark.parametrize("chunked", [True, False])
def test_what_one_send_could_not_take_is_written_whole_and_in_order(chunked):
    body = bytes(range(256)) * 40
    sock = PartialSocket(room=1000)
    CONFIG["send_first"](sock, body, chunked=chunked)
    assert sock.calls == ["send", "sendall"]
    assert bytes(sock.wire) == (b"%X\r\n%s\r\n" % (len(body), body) if chunked else body)


def test_each_gevent_worker_writes_with_send_first_and_runs_full_collections_less_often(monkeypatch):
    import gc
    import sys

    import gunicorn.util
    from gunicorn.workers import ggevent

    monkeypatch.setattr(gunicorn.util, "write", gunicorn.util.write)
    monkeypatch.setattr(ggevent, "StreamServer", ggevent.StreamServer)
    worker = object.__new__(ggevent.GeventWorker)  # only its class matters to the hook
    interval, threshold = sys.getswitchinterval(), gc.get_threshold()
    try:
        CONFIG["post_worker_init"](worker)
        full_collections_after = gc.get_threshold()[2]
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*threshold)
        gc.unfreeze()
    assert full_collections_after == CONFIG["full_collection_after"] > threshold[2]
    assert gunicorn.util.write is CONFIG["send_first"]
    assert ggevent.StreamServer.__name__ == "AcceptingServer"
