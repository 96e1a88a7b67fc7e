"""The data of a chunked answer body, handed over as it arrives: every chunk already received at once.

Every token of a chat is one chunk of its answer. http.client hands a chunked body over one chunk
per call, and each chunk then climbs through httpx's stream layers and the event-stream decoder
on its own. When a worker is busy, several tokens of a chat have arrived by the time it reads
(1.6 to 2.4 chunks per read of the socket with 500 chats open in the served benchmark), so this
reader takes whatever one read brought and returns the data of all its chunks together: the
layers above run once per read instead of once per token, and the busier the worker, the more
that saves.

It reads from the buffered reader http.client read the answer's head with, so the body bytes that
came with the head are not lost. It is as strict as http.client where keeping a connection for
the next request depends on it, and stricter in one place: a size line that is not a hexadecimal
number, a chunk not followed by its line break (which http.client does not check), or a body cut
short is an error; the trailer section is read and dropped (a connection closed inside it still
ends the body, as in http.client); bytes after the body's end keep the connection from serving
again.
"""

import http.client

MAX_LINE = 65536  # a size or trailer line at most this long, as http.client allows
HEX_DIGITS = b"0123456789abcdefABCDEF"
SIZE, DATA, DATA_END, TRAILER, ENDED = range(5)


class ChunkedBody:
    """Read one chunked body from `fp` (a buffered reader): read() returns the data that has arrived."""

    def __init__(self, fp, read_size: int):
        self._fp = fp
        self._read_size = read_size
        self._buffer = b""  # received, not consumed yet: at most a line that has not arrived whole
        self._state = SIZE
        self._left = 0  # bytes of the current chunk's data not received yet
        self.ended = False  # the last chunk and the trailer section have been read
        self.overran = False  # bytes came after the body's end: the connection is out of step
        self._drained: bool | None = None  # the last read returned less than asked; None: no read yet

    def read(self, before_read=None) -> bytes:
        """Return the data of every chunk received so far (reading the socket once more if there is
        none yet); b"" at the end. before_read(drained) runs before each read of the socket
        (waiting.py); drained says the read before came back short, None before the first.

        read_size must be at least fp's buffer size: the first read then takes all fp holds, and a
        short read after it says the socket has nothing more.
        """
        while True:
            data = self._parse()
            if data or self.ended:
                return data
            if before_read is not None:
                before_read(self._drained)
            more = self._fp.read1(self._read_size)
            self._drained = len(more) < self._read_size
            if not more:
                if self._state == TRAILER:  # http.client ends a body closed inside its trailer too
                    self._state, self.ended = ENDED, True
                    return b""
                raise http.client.IncompleteRead(b"")
            self._buffer = self._buffer + more if self._buffer else more

    def _parse(self) -> bytes:
        """Consume what the buffer holds; return the chunk data found in it."""
        buffer, pos, out = self._buffer, 0, []
        end = len(buffer)
        while pos < end:
            state = self._state
            if state == DATA:
                take = min(self._left, end - pos)
                out.append(buffer[pos:pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._state = DATA_END
                continue
            if state == ENDED:
                self.overran = True  # bytes after the body: nothing may read them as the next answer
                pos = end
                break
            line_end = buffer.find(b"\n", pos, pos + MAX_LINE + 1)
            if line_end < 0:
                if end - pos > MAX_LINE:
                    raise http.client.LineTooLong("chunk size" if state == SIZE else "trailer line")
                break  # the rest of the line has not arrived yet
            line, pos = buffer[pos:line_end], line_end + 1
            if state == SIZE:
                size = chunk_size(line)
                data_end = pos + size
                if size and buffer[data_end:data_end + 2] == b"\r\n":  # the whole chunk is here
                    out.append(buffer[pos:data_end])
                    pos = data_end + 2
                else:
                    self._left = size
                    self._state = DATA if size else TRAILER
            elif state == DATA_END:
                if line not in (b"", b"\r"):
                    raise http.client.IncompleteRead(b"")  # the chunk ran past the size it stated
                self._state = SIZE
            elif line in (b"", b"\r"):  # TRAILER: an empty line ends the body
                self._state, self.ended = ENDED, True
        self._buffer = buffer[pos:] if pos < end else b""
        return b"".join(out)


def chunk_size(line: bytes) -> int:
    """The size a chunk's size line states (hexadecimal, at most 16 digits, extensions ignored)."""
    digits = line.partition(b";")[0].rstrip(b" \t\r") if b";" in line else line.rstrip(b"\r")
    if not digits or len(digits) > 16 or digits.strip(HEX_DIGITS):
        raise http.client.IncompleteRead(b"")
    return int(digits, 16)
