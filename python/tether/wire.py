"""The bytes on the wire: frames, msgpack bodies, data-socket chunks.

tether-protocol(7), FRAMING, LIMITS and THE DATA SOCKET.  Only Debian's
python3-msgpack is needed; python3-xxhash, when present, checks the
XXH3-64 the server reports for every data-socket stream.
"""
import errno
import select
import socket
import struct
import time

import msgpack

try:  # optional: without it a transfer is checked by its byte count
    import xxhash as _xxhash
    if not hasattr(_xxhash, "xxh3_64"):
        _xxhash = None
except ImportError:  # pragma: no cover - depends on the machine
    _xxhash = None

from .errors import Disconnected, Error

FRAME_HDR = 4
FRAME_MAX = 2 << 20          # payload bytes of one frame, both ways
CHUNK_MAX = 1 << 20          # DATA chunk payload
HANDSHAKE_MAX = 4096         # HELLO packet, and its answer

CHUNK_DATA, CHUNK_END, CHUNK_ABORT = 0, 1, 2

HAVE_XXH3 = _xxhash is not None

_HDR = struct.Struct(">I")
_CHUNK = struct.Struct(">II")


def pack(value):
    """One msgpack value: bytes as bin, str as str (surrogates kept)."""
    return msgpack.packb(value, use_bin_type=True,
                         unicode_errors="surrogateescape")


def unpack(payload):
    """The one msgpack value of a payload (strs that are not UTF-8, such
    as odd file names, come back with surrogates: os.fsencode them)."""
    return msgpack.unpackb(payload, raw=False, strict_map_key=False,
                           unicode_errors="surrogateescape")


def frame(value):
    """A frame: 4-byte big-endian length, then the payload."""
    payload = pack(value)
    if len(payload) > FRAME_MAX:
        raise Error(errno.E2BIG, "frame of %d bytes exceeds the limit of %d"
                    % (len(payload), FRAME_MAX))
    return _HDR.pack(len(payload)) + payload


def u64(v):
    """An integer the server writes signed (hashes, addresses) as the
    unsigned 64-bit value it is."""
    return v % (1 << 64)


def send_all(sock, data):
    """Write everything, with MSG_NOSIGNAL: a connection the server
    closed (a take-over) is EPIPE here, never SIGPIPE."""
    view = memoryview(data)
    while view:
        n = sock.send(view, socket.MSG_NOSIGNAL)
        view = view[n:]


class FrameReader:
    """Frames out of a stream socket, which may split and merge them."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def _take(self):
        """One whole frame's value from the buffer, or None."""
        if len(self.buf) < FRAME_HDR:
            return None
        (n,) = _HDR.unpack_from(self.buf)
        if n > FRAME_MAX:
            raise Error(errno.EPROTO, "tetherd sent a frame of %d bytes" % n)
        if len(self.buf) < FRAME_HDR + n:
            return None
        payload = bytes(self.buf[FRAME_HDR:FRAME_HDR + n])
        del self.buf[:FRAME_HDR + n]
        try:
            return unpack(payload)
        except Exception as e:
            raise Error(errno.EPROTO, "malformed frame from tetherd: %s" % e)

    def next(self, deadline=None):
        """The next frame's value, reading as needed; Disconnected at the
        end of the connection, ETIMEDOUT at deadline (time.monotonic();
        what was read so far is kept for the next call)."""
        while True:
            v = self._take()
            if v is not None:
                return v
            if self.eof:
                raise Disconnected()
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                if not select.select([self.sock], [], [], left)[0]:
                    raise Error(errno.ETIMEDOUT, "no reply from tetherd "
                                "within the time limit", "timeout")
            try:
                data = self.sock.recv(1 << 16)
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                continue
            self.buf += data

    def leftovers(self):
        """What is still readable after the connection failed: the frames
        already sent (a take-over's notice among them), without waiting."""
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    data = self.sock.recv(1 << 16)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                if not data:
                    break
                self.buf += data
        finally:
            try:
                self.sock.setblocking(True)
            except OSError:
                pass
        while True:
            try:
                v = self._take()
            except Error:
                break
            if v is None:
                break
            out.append(v)
        return out


class Hasher:
    """XXH3-64 of a stream when xxhash is there; else only the count."""

    def __init__(self):
        self.h = _xxhash.xxh3_64() if _xxhash else None
        self.bytes = 0

    def update(self, data):
        self.bytes += len(data)
        if self.h:
            self.h.update(data)

    def check(self, done):
        """Compare with a transfer's final reply {bytes, xxh3}."""
        if done.get("bytes") != self.bytes:
            raise Error(errno.EIO, "transfer: tetherd counted %s bytes, "
                        "we %d" % (done.get("bytes"), self.bytes))
        if self.h and "xxh3" in done and \
                u64(done["xxh3"]) != self.h.intdigest():
            raise Error(errno.EIO, "transfer: XXH3 mismatch (tetherd "
                        "%016x, we %016x)" % (u64(done["xxh3"]),
                                              self.h.intdigest()))


def _recv_exact(sock, n):
    """n bytes, read into one buffer (chunks are up to 1 MiB)."""
    out = bytearray(n)
    view, got = memoryview(out), 0
    while got < n:
        k = sock.recv_into(view[got:])
        if not k:
            raise Disconnected("data socket closed mid-chunk")
        got += k
    return out


def send_stream(sock, source, hasher, limit=None):
    """Send source (bytes-like, or a binary file object) as DATA chunks
    and END.  A local read error sends ABORT with its errno (the server
    answers with it) and is raised after the request's final reply by
    the caller: it is returned here."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        for i in range(0, len(view), CHUNK_MAX):
            part = view[i:i + CHUNK_MAX]
            hasher.update(part)
            send_all(sock, _CHUNK.pack(len(part), CHUNK_DATA))
            send_all(sock, part)
        send_all(sock, _CHUNK.pack(0, CHUNK_END))
        return None
    while True:
        want = CHUNK_MAX if limit is None else min(CHUNK_MAX,
                                                   limit - hasher.bytes)
        try:
            part = source.read(want) if want > 0 else b""
        except OSError as e:
            send_all(sock, _CHUNK.pack(e.errno or errno.EIO, CHUNK_ABORT))
            return e
        if not part:
            break
        hasher.update(part)
        send_all(sock, _CHUNK.pack(len(part), CHUNK_DATA))
        send_all(sock, part)
    send_all(sock, _CHUNK.pack(0, CHUNK_END))
    return None


def recv_stream(sock, sink, hasher):
    """Read a chunk stream up to END or ABORT, each DATA chunk to
    sink(bytes).  A sink that fails does not stop the reading (the
    stream must be drained to stay in step): its error is returned.
    ABORT raises Error with the server's errno."""
    failed = None
    while True:
        length, kind = _CHUNK.unpack(_recv_exact(sock, _CHUNK.size))
        if kind == CHUNK_END:
            return failed
        if kind == CHUNK_ABORT:
            raise Error(length if 0 < length < 4096 else errno.ECANCELED,
                        "tetherd aborted the transfer")
        if kind != CHUNK_DATA or length > CHUNK_MAX:
            raise Error(errno.EPROTO, "bad chunk from tetherd (kind %d, "
                        "%d bytes)" % (kind, length))
        data = _recv_exact(sock, length)
        hasher.update(data)
        if failed is None:
            try:
                sink(data)
            except OSError as e:
                failed = e
