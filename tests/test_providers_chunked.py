"""A chunked answer body is handed over as it arrives, every chunk already received at once, and read
as strictly as a kept-alive connection needs: bad framing is an error, trailers are dropped, and
bytes after the body's end are noticed."""

import http.client

import pytest

from llmcfg.providers.chunked import MAX_LINE, ChunkedBody


class Arrivals:
    """A buffered reader whose read1 hands over the given pieces, one per read (what is over the size
    asked comes with the next), then the end (b"")."""

    def __init__(self, *pieces: bytes):
        self.pieces = list(pieces)
        self.reads = 0

    def read1(self, size: int) -> bytes:
        self.reads += 1
        if not self.pieces:
            return b""
        piece = self.pieces.pop(0)
        if len(piece) > size:
            self.pieces.insert(0, piece[size:])
        return piece[:size]


def read_all(body: ChunkedBody, before_read=None) -> list[bytes]:
    got = []
    while data := body.read(before_read):
        got.append(data)
    return got


def test_every_chunk_received_in_one_read_comes_back_together():
    fp = Arrivals(b"5\r\nfirst\r\n6\r\nsecond\r\n", b"5\r\nthird\r\n0\r\n\r\n")
    body = ChunkedBody(fp, 65536)
    assert read_all(body) == [b"firstsecond", b"third"]
    assert body.ended and not body.overran and fp.reads == 2


def test_a_chunk_split_between_reads_is_handed_over_as_its_parts_arrive():
    body = ChunkedBody(Arrivals(b"b\r\nhello", b" world\r", b"\n0\r\n", b"\r\n"), 65536)
    assert read_all(body) == [b"hello", b" world"]
    assert body.ended


def test_a_size_line_split_between_reads_waits_for_its_end():
    data = b"x" * 16
    body = ChunkedBody(Arrivals(b"1", b"0\r\n" + data + b"\r\n0\r\n\r\n"), 65536)
    assert read_all(body) == [data]


def test_chunk_extensions_and_trailers_are_read_and_dropped():
    body = ChunkedBody(Arrivals(b"5 ;name=value\r\nhello\r\n0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n"), 65536)
    assert read_all(body) == [b"hello"]
    assert body.ended and not body.overran


def test_bare_line_feeds_end_lines_as_http_client_reads_them():
    assert read_all(ChunkedBody(Arrivals(b"5\nhello\n0\n\n"), 65536)) == [b"hello"]


@pytest.mark.parametrize("size_line", [b"zz", b"-5", b"+5", b"0x5", b" 5", b"5_0", b"", b"1" * 17])
def test_a_size_line_that_is_not_a_hexadecimal_number_is_an_error(size_line):
    body = ChunkedBody(Arrivals(size_line + b"\r\nhello\r\n0\r\n\r\n"), 65536)
    with pytest.raises(http.client.IncompleteRead):
        read_all(body)


def test_a_chunk_longer_than_its_size_is_an_error():
    with pytest.raises(http.client.IncompleteRead):
        read_all(ChunkedBody(Arrivals(b"3\r\nhello\r\n0\r\n\r\n"), 65536))


@pytest.mark.parametrize("cut", [b"5\r\nhel", b"5\r\nhello\r\n", b"5\r\nhello\r\n3", b""])
def test_a_body_cut_short_is_an_error(cut):
    with pytest.raises(http.client.IncompleteRead):
        read_all(ChunkedBody(Arrivals(cut), 65536))


def test_a_body_closed_inside_its_trailer_section_still_ends():
    body = ChunkedBody(Arrivals(b"5\r\nhello\r\n0\r\nX-Checksum: 1\r\n"), 65536)
    assert read_all(body) == [b"hello"] and body.ended


def test_bytes_after_the_end_of_the_body_are_noticed_and_never_returned():
    body = ChunkedBody(Arrivals(b"5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"), 65536)
    assert read_all(body) == [b"hello"]
    assert body.ended and body.overran


@pytest.mark.parametrize("line", [b"5;" + b"x" * MAX_LINE, b"0\r\nX-Long: " + b"x" * MAX_LINE])
def test_a_line_longer_than_http_client_allows_is_an_error(line):
    with pytest.raises(http.client.LineTooLong):
        read_all(ChunkedBody(Arrivals(line[: MAX_LINE // 2], line[MAX_LINE // 2:]), 65536))


def test_the_read_mark_runs_before_each_read_of_the_socket_and_only_then():
    fp, marks = Arrivals(b"5\r\nfirst\r\n6\r\nsecon", b"d\r\n0\r\n\r\n"), []

    def mark(drained):
        marks.append((fp.reads, drained))

    body = ChunkedBody(fp, 65536)
    assert body.read(mark) == b"firstsecon"
    assert body.read(mark) == b"d"
    assert body.read(mark) == b""
    # Two reads of the socket, the end already in the second; the first read came back short.
    assert marks == [(0, None), (1, True)]


def test_a_read_that_filled_the_whole_size_asked_does_not_count_as_emptying_the_socket():
    fp, drained = Arrivals(b"8\r\n1234", b"5678\r\n0\r\n\r\n"), []
    body = ChunkedBody(fp, 7)  # the first read returns all 7 bytes asked: more may be waiting
    assert read_all(body, drained.append) == [b"1234", b"5678"]
    assert drained == [None, False, False]  # before the first read, then after each full one
