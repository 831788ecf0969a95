"""Attaching to tetherd (tether-protocol(7), HANDSHAKE).

Make two socket pairs, connect a SOCK_SEQPACKET socket to the listening
path (SOCK_STREAM if that is refused with EPROTOTYPE: a service manager
may have made a stream socket), check who listens (SO_PEERCRED) before a
byte goes out, send one HELLO packet with the server's ends as
SCM_RIGHTS, close our copies of them, read the one-frame answer (at most
4096 bytes).
"""
import array
import errno
import os
import socket
import struct
import time

from . import wire
from .errors import Error

OP_HELLO = 1
VERSION = 1
TAKEOVER, OBSERVE, PROBE, CAUSE = 1, 2, 4, 8

RETRY_FIRST = 0.01   # EAGAIN (and EBUSY while the old controller is
RETRY_FOR = 2.0      # gone but not yet seen gone): first pause, limit
ANSWER_WITHIN = 30   # seconds, as libtether: $TETHER_CONNECT_TIMEOUT


def answer_within():
    """Seconds the HELLO's answer may take (None: no limit), as libtether
    reads TETHER_CONNECT_TIMEOUT: a stopped or hung tetherd still takes
    the connection into its backlog, and would never answer."""
    v = os.environ.get("TETHER_CONNECT_TIMEOUT", "")
    if v.isdigit() and int(v) <= 86400:
        return int(v) or None
    return ANSWER_WITHIN


def _dial(path, server_uid):
    from .paths import check_dir_chain
    if len(os.fsencode(path)) >= 108:
        raise Error(errno.ENAMETOOLONG, "socket path too long: %s" % path)
    try:
        check_dir_chain(os.path.dirname(path) or ".", also=server_uid)
    except Error as e:
        if e.errno == errno.ENOENT:
            raise Error(errno.ECONNREFUSED, "no tetherd at %s" % path)
        raise
    try:
        s = _connect(path, socket.SOCK_SEQPACKET)
    except OSError as e:
        if e.errno == errno.EPROTOTYPE:
            s = _connect(path, socket.SOCK_STREAM)
        else:
            raise
    s = _check_peer(s, path, server_uid)
    s.settimeout(answer_within())
    return s


def _connect(path, kind):
    s = socket.socket(socket.AF_UNIX, kind)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        if e.errno == errno.EPROTOTYPE and kind == socket.SOCK_SEQPACKET:
            raise
        if e.errno in (errno.ENOENT, errno.ECONNREFUSED):
            raise Error(errno.ECONNREFUSED, "no tetherd at %s" % path)
        raise Error(e.errno, "connect %s: %s" % (path, e.strerror))
    return s


def _check_peer(s, path, server_uid):
    pid, uid, gid = struct.unpack("3i", s.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    if uid not in (0, os.geteuid()) and uid != server_uid:
        s.close()
        raise Error(errno.EACCES, "tetherd at %s runs as uid %d, not ours: "
                    "refusing to talk to it (pass server_uid if this is "
                    "intended)" % (path, uid))
    return s


def _answer(s):
    """The answer packet: the status map, or Error."""
    for tries in range(2):
        try:
            data = s.recv(wire.HANDSHAKE_MAX)
            break
        except socket.timeout:
            pid = struct.unpack("3i", s.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED,
                struct.calcsize("3i")))[0]
            raise Error(errno.ETIMEDOUT, "tetherd (pid %d) did not answer "
                        "the handshake in %d s: stopped or hung? (see "
                        "TETHER_CONNECT_TIMEOUT)" % (pid, s.gettimeout()),
                        "connection")
        except ConnectionResetError:
            # answered and closed before it read our HELLO: the answer
            # is on the next read
            if tries:
                raise Error(errno.ECONNRESET, "handshake: connection reset")
    if len(data) < wire.FRAME_HDR:
        raise Error(errno.ECONNRESET,
                    "tetherd closed the handshake without answer")
    # on a stream the frame may come in pieces: read it to its length
    if s.type == socket.SOCK_STREAM:
        want = wire.FRAME_HDR + struct.unpack(">I", data[:4])[0]
        while len(data) < want <= wire.HANDSHAKE_MAX:
            more = s.recv(want - len(data))
            if not more:
                break
            data += more
    try:
        msg = wire.unpack(data[wire.FRAME_HDR:])
        _id, err, body = msg
    except Exception:
        raise Error(errno.EPROTO, "malformed handshake answer")
    if err:
        text, cause = body, None
        if isinstance(body, dict):
            text, cause = body.get("text"), body.get("cause")
        raise Error(err if 0 < err < 4096 else errno.EPROTO, text, cause,
                    "HELLO")
    if not isinstance(body, dict):
        raise Error(errno.EPROTO, "handshake answer is not a map")
    return body


def hello(path, flags, generation=0, server_uid=None):
    """One HELLO.  Returns (status map, syscall socket, data socket), the
    sockets None for a PROBE."""
    s = _dial(path, server_uid)
    pairs = []
    try:
        body = [VERSION, flags, os.getpid()]
        if generation:
            body.append(generation)
        pkt = wire.frame([1, OP_HELLO, body])
        anc = []
        if flags != PROBE:
            pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                     for _ in range(2)]
            fds = array.array("i", [pairs[0][1].fileno(),
                                    pairs[1][1].fileno()])
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)]
        try:
            s.sendmsg([pkt], anc, socket.MSG_NOSIGNAL)
        except (BrokenPipeError, ConnectionResetError) as e:
            # refused at accept: the answer is there and says why
            _answer(s)
            raise Error(e.errno, "sending HELLO: %s" % e.strerror)
        # the server holds its ends now; ours must go, or its EOF on our
        # death would never come
        for p in pairs:
            p[1].close()
        st = _answer(s)
        if not pairs:
            return st, None, None
        mine = (pairs[0][0], pairs[1][0])
        pairs = []
        return st, mine[0], mine[1]
    finally:
        for p in pairs:
            p[0].close()
            p[1].close()
        s.close()


def _gone(pid):
    """No such process, or a zombie (its sockets are closed already)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except (OSError, IndexError):
        return False


def attach(path, flags, generation=0, server_uid=None, busy_wait=RETRY_FOR):
    """HELLO, tried again on EAGAIN (a busy server) and on EBUSY when the
    controller the server still sees attached is us or a dead process (it
    has not yet read that one's end) -- for up to busy_wait seconds."""
    delay, waited = RETRY_FIRST, 0.0
    while True:
        try:
            return hello(path, flags, generation, server_uid)
        except Error as e:
            if e.errno == errno.EAGAIN:
                pass
            elif e.errno == errno.EBUSY and not generation and \
                    not flags & (TAKEOVER | OBSERVE):
                try:
                    st, _, _ = hello(path, PROBE, 0, server_uid)
                except Error:
                    raise e
                pid = st.get("controller_pid", 0)
                if st.get("attached") and pid not in (0, os.getpid()) \
                        and not _gone(pid):
                    raise
            else:
                raise
            if waited >= (busy_wait if e.errno == errno.EBUSY
                          else RETRY_FOR):
                raise
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.2)
