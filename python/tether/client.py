"""tether.Client: one controller (or observer) connection to tetherd.

Requests go out as frames [id, op, body] on the syscall socket; replies
come back [id, err, body], possibly out of order, and are matched by id
(replies for other ids wait in a stash until asked for).  Not thread
safe: one thread per Client.
"""
import array
import collections
import errno
import os
import socket
import time

from . import args as A
from . import consts as _consts
from . import handshake as H
from . import wire
from ._sysnr import SYSNR
from .errors import Disconnected, Error, SyscallError, TakenOver
from .paths import default_socket_path

OPS = dict(SYSCALL=2, PERSIST=3, STATUS=4, SHUTDOWN=5, LIST_FDS=6, LABEL=7,
           UNLABEL=8, GC=9, SPAWN=10, PS=11, WAIT=12, KILL=13, STOP=14,
           LOGS=15, ACK=16, PENDING=17, COLLECT=18, CANCEL=19, BATCH=20,
           GET=21, PUT=22, GIVE=23, TAKE=24, MEM_ALLOC=25, MEM_FREE=26,
           MEM_LIST=27, MEM_WRITE=28, MEM_READ=29, POLICY=30, RESPAWN=31,
           SUBMIT=32, REAP=33)
_OP_NAMES = {v: k for k, v in OPS.items()}

# SYSCALL flags
TRIM, NOTRIM, ASYNC, DETACH_CANCEL, SYNC = 1, 2, 4, 8, 16
BATCH_STOP = 1
GC_DRY_RUN = 1


def _error(err, body, op):
    text, cause = body, None
    if isinstance(body, dict):
        text, cause = body.get("text"), body.get("cause")
    if not isinstance(text, str):
        text = os.strerror(err)
    return Error(err if 0 < err < 4096 else errno.EPROTO,
                 "%s: %s" % (_OP_NAMES.get(op, op), text), cause, op)


class Client:
    """A connection to tetherd at path (None: the default socket, as
    libtether finds it).  takeover replaces an attached controller (only
    the one attached now: the generation is probed first, unless given);
    observe attaches read-only.  busy_wait: seconds to keep trying while
    the server still counts a dead controller (or ourselves) as attached,
    i.e. has not yet read the end of a connection that is already gone.
    server_uid: a uid besides ours and root's trusted to run tetherd.
    timeout: seconds to wait for a reply (None: as long as it takes); a
    wait that runs out raises Error ETIMEDOUT (cause "timeout"), and the
    request goes on in the server."""

    def __init__(self, path=None, *, takeover=False, observe=False,
                 generation=None, server_uid=None, busy_wait=H.RETRY_FOR,
                 causes=True, timeout=None):
        self.path = os.fspath(path) if path is not None \
            else default_socket_path()
        self.server_uid = server_uid
        self.timeout = timeout
        self.sock = self.data = None
        self._causes = causes
        self._connect(takeover, observe, generation, busy_wait)

    # ---- attaching --------------------------------------------------

    def _connect(self, takeover, observe, generation, busy_wait):
        flags = (H.TAKEOVER if takeover else 0) | (H.OBSERVE if observe
                                                    else 0)
        if takeover and not observe and generation is None:
            generation = self.probe(self.path, self.server_uid)["generation"]
        gen = generation or 0
        try:
            st, s, d = H.attach(self.path, flags | (H.CAUSE if self._causes
                                                    else 0),
                                gen, self.server_uid, busy_wait)
        except Error as e:
            # a tetherd older than CAUSE refuses the flag: ask without
            if not self._causes or e.errno != errno.EINVAL or \
                    "unknown HELLO flags" not in str(e.strerror):
                raise
            st, s, d = H.attach(self.path, flags, gen, self.server_uid,
                                busy_wait)
        self.sock, self.data = s, d
        self.info = st
        self.generation = st.get("generation")
        self.observer = bool(st.get("observer"))
        self.server_pid = st.get("pid")
        # System call numbers and flags are the server's architecture's;
        # a server older than "arch" runs on this machine (the handshake
        # passes fds, so it is local): its uname is the best guess.
        self.arch = st.get("arch") or os.uname().machine
        self.arch_reported = "arch" in st
        self._sysnr = SYSNR.get(self.arch, {})
        self.consts = _consts.for_arch(self.arch) \
            if self.arch in _consts.ARCHES else None
        self._reader = wire.FrameReader(s)
        self._stash = collections.defaultdict(collections.deque)
        self._next = 1
        self._dead = None
        self._submitted = {}        # id -> entry, until reaped
        self.__dict__.pop("_sysname", None)

    @staticmethod
    def probe(path=None, server_uid=None):
        """The server's status without attaching (a PROBE): generation,
        attached, controller_pid ..."""
        path = path if path is not None else default_socket_path()
        try:
            st, _, _ = H.attach(path, H.PROBE, 0, server_uid)
        except Error as e:
            # a tetherd older than PROBE: ask as an observer
            if e.errno != errno.EINVAL:
                raise
            st, s, d = H.attach(path, H.OBSERVE, 0, server_uid)
            s.close()
            d.close()
        return st

    def reconnect(self, takeover=False, generation=None,
                  busy_wait=H.RETRY_FOR):
        """Close this connection and attach again (as a controller)."""
        self._close_socks()
        self._connect(takeover, False, generation, busy_wait)
        return self

    def close(self):
        """Detach: the server reads our end and keeps everything else."""
        self._close_socks()

    def _close_socks(self):
        for s in (self.sock, self.data):
            if s is not None:
                s.close()
        self.sock = self.data = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fileno(self):
        """The syscall socket, to poll for replies (see poll_replies)."""
        return self.sock.fileno()

    # ---- requests and replies ----------------------------------------

    def send(self, op, body):
        """Send a request; its id (for reply())."""
        if self._dead:
            raise self._dead
        if self.sock is None:
            raise Disconnected("not connected")
        rid = self._next
        self._next += 1
        try:
            wire.send_all(self.sock, wire.frame([rid, op, body]))
        except (BrokenPipeError, ConnectionResetError):
            raise self._lost()
        return rid

    def _lost(self):
        """The connection ended: keep the replies that made it, and say
        why -- a take-over's notice, if it is among them."""
        dead = Disconnected()
        for msg in self._reader.leftovers():
            dead = self._file(msg) or dead
        self._dead = dead
        return dead

    def _file(self, msg):
        """Stash one reply; a notice is returned as the error it is."""
        if not isinstance(msg, list) or len(msg) != 3:
            return Error(errno.EPROTO, "malformed reply from tetherd")
        rid, err, body = msg
        if rid != 0:
            self._stash[rid].append((err, body))
            return None
        if err == errno.ECONNABORTED and isinstance(body, dict):
            return TakenOver(body.get("text", "taken over"), body.get("pid"),
                             body.get("uid"), body.get("generation"))
        return _error(err, body, None)

    def _pump(self, deadline=None):
        """Read one frame into the stash."""
        try:
            msg = self._reader.next(deadline)
        except Disconnected:
            raise self._lost()
        err = self._file(msg)
        if err is not None:
            if isinstance(err, TakenOver):
                self._dead = err
                self._close_socks()
            raise err

    def reply(self, rid, op=None, timeout=None):
        """The next reply to request rid: its body, or Error.  timeout
        (seconds; default the Client's): Error ETIMEDOUT when no reply
        came by then -- the request goes on, and reply(rid) may be asked
        again."""
        timeout = self.timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        q = self._stash.get(rid)
        while not q:
            if self._dead:
                raise self._dead
            if self.sock is None:
                raise Disconnected("not connected")
            self._pump(deadline)
            q = self._stash.get(rid)
        err, body = q.popleft()
        if not q:
            del self._stash[rid]
        if err:
            raise _error(err, body, op)
        return body

    def poll_replies(self):
        """Read what has arrived without waiting; the ids with replies."""
        self.sock.setblocking(False)
        try:
            while True:
                self._pump()
        except BlockingIOError:
            pass
        finally:
            if self.sock is not None:
                self.sock.setblocking(True)
        return list(self._stash)

    def request(self, op, body=()):
        """One request, one reply: the reply's body."""
        if isinstance(op, str):
            op = OPS[op]
        return self.reply(self.send(op, list(body)), op)

    # ---- system calls ------------------------------------------------

    def nr(self, name):
        """A system call's number on the server's architecture."""
        if isinstance(name, int):
            return name
        try:
            return self._sysnr[name]
        except KeyError:
            raise Error(errno.ENOSYS, "no system call %r on %s%s" % (
                name, self.arch, "" if self._sysnr else
                " (no table for this architecture: pass numbers)"))

    def name_of(self, nr):
        """A system call's name from its number (the number itself when
        the table lacks it)."""
        if not hasattr(self, "_sysname"):
            self._sysname = {v: k for k, v in self._sysnr.items()}
        return self._sysname.get(nr, nr)

    @staticmethod
    def _body(nr, args, flags, timeout_ms):
        body = [nr, A.encode(args)]
        if flags or timeout_ms:
            body.append(flags)
        if timeout_ms:
            body.append(timeout_ms)
        return body

    def _result(self, name, body, args):
        if isinstance(body, dict) and "async_id" in body:
            return A.Result(name, async_id=body["async_id"],
                            state=body.get("state"))
        if not isinstance(body, list) or len(body) < 2:
            raise Error(errno.EPROTO, "SYSCALL reply is not [ret, outs]")
        r = A.Result(name, body[0], body[1],
                     body[2] if len(body) > 2 else None)
        A.fill(args, r.outs)
        return r

    def syscall(self, name, *args, flags=0, timeout_ms=0):
        """Run one system call: its Result, whether it failed or not
        (a refused request still raises Error)."""
        op = OPS["SYSCALL"]
        rid = self.send(op, self._body(self.nr(name), args, flags,
                                       timeout_ms))
        din = [a for a in args if isinstance(a, A.DataIn)]
        body = self.reply(rid, op)
        if din:
            # the interim {send: true}: now the buffer's bytes
            h = wire.Hasher()
            wire.send_stream(self.data, din[0].source, h, din[0].size)
            body = self.reply(rid, op)
        r = self._result(name, body, args)
        for a, o in zip(args, r.outs):
            if isinstance(a, A.DataOut) and isinstance(o, dict):
                parts = []
                wire.recv_stream(self.data, parts.append, wire.Hasher())
                a.value = b"".join(parts)
                r.outs[r.outs.index(o)] = a.value
        return r

    def call(self, name, *args, flags=0, timeout_ms=0):
        """Run one system call and return its result; OSError (a
        SyscallError) with its errno if it failed."""
        if flags & ASYNC:
            raise Error(errno.EINVAL, "call: use call_async for ASYNC")
        r = self.syscall(name, *args, flags=flags, timeout_ms=timeout_ms)
        if r.errno:
            raise SyscallError(r.errno, str(name), r)
        return r.ret

    def call_async(self, name, *args, flags=0, timeout_ms=0,
                   detach_cancel=False):
        """Start a call in the server's ring or a helper: a Result with
        async_id (COLLECT it later), or, for a call that runs directly,
        the finished Result."""
        flags |= ASYNC | (DETACH_CANCEL if detach_cancel else 0)
        return self.syscall(name, *args, flags=flags, timeout_ms=timeout_ms)

    def batch(self, entries, stop=False):
        """Run [(name, arg...), ...] in one request (a Ref(k) argument is
        entry k's result).  A list of Result, with .stopped_at and
        .completed."""
        body = [[self._body(self.nr(e[0]), e[1:], 0, 0) for e in entries]]
        if stop:
            body.append(BATCH_STOP)
        rep = self.request("BATCH", body)
        out = _Batch(self._result(e[0], r, e[1:])
                     for e, r in zip(entries, rep["results"]))
        out.stopped_at, out.completed = rep["stopped_at"], rep["completed"]
        return out

    def submit(self, entries):
        """SUBMIT: start [(name, arg...), ...] side by side, each as an
        ASYNC call (no Ref, no DataIn/DataOut); their ids, in entry
        order.  The server checks them all first: a bad one raises Error
        naming the entry, and none runs.  Out buffers are filled when
        reap() hands their call back."""
        if any(isinstance(a, (A.Ref, A.DataIn, A.DataOut))
               for e in entries for a in e[1:]):
            raise Error(errno.EINVAL, "submit: no Ref, DataIn or DataOut")
        body = [[self._body(self.nr(e[0]), e[1:], 0, 0) for e in entries]]
        ids = self.request("SUBMIT", body)["ids"]
        if len(ids) != len(entries):
            raise Error(errno.EPROTO, "SUBMIT reply: %d ids for %d entries"
                        % (len(ids), len(entries)))
        for i, e in zip(ids, entries):
            self._submitted[i] = e
        return ids

    def reap(self, min=1, max=1024, wait_ms=-1):
        """REAP: [(id, Result), ...] of the calls this Client submitted,
        in the order they completed, once at least min have (or all that
        are still out, if fewer) or wait_ms ran out (-1: no limit, 0: at
        once; then maybe none)."""
        rep = self.request("REAP", [min, max, wait_ms])
        out = []
        for cid, res in rep["completions"]:
            e = self._submitted.pop(cid, None) or (None,)
            out.append((cid, self._result(e[0], res, e[1:])))
        return out

    def submitted(self):
        """How many submitted calls have not been reaped."""
        return len(self._submitted)

    def pending(self):
        """PENDING: {pending: [...], parked_lost, parked_bytes}, asked a
        page at a time (newest first) as libtether does."""
        out, before = None, 0
        while True:
            page = self.request("PENDING", [before])
            nxt = page.pop("next", 0)
            if out is None:
                out = page
            else:
                out["pending"].extend(page["pending"])
            if not nxt or (before and nxt >= before):
                return out
            before = nxt

    def collect(self, async_id, wait_ms=-1):
        """COLLECT a call's record (a dict; "result" as a Result)."""
        rec = self.request("COLLECT", [async_id, wait_ms])
        if isinstance(rec.get("result"), list):
            res = rec["result"]
            rec["result"] = A.Result(self.name_of(rec.get("nr")), res[0],
                                     res[1])
        return rec

    def cancel(self, async_id):
        return self.request("CANCEL", [async_id])

    # ---- the server --------------------------------------------------

    def status(self):
        """STATUS, as a dict."""
        return self.request("STATUS", [])

    def persist(self):
        return self.request("PERSIST", [])

    def policy(self):
        return self.request("POLICY", [])

    def shutdown(self, force=False):
        """Shut the server down (force: stop its workers too)."""
        self.request("SHUTDOWN", [True] if force else [])

    # ---- descriptors and labels --------------------------------------

    def fds(self, internal=False):
        """Every descriptor the server holds (dicts: fd, kind, target,
        label ...), its own too with internal."""
        out, frm = [], 0
        while True:
            rep = self.request("LIST_FDS", [frm])
            out += rep["fds"]
            if internal and frm == 0:
                out += rep["internal"]
            frm = rep["next"]
            if not frm:
                return out

    def labels(self):
        """{label: fd} of the labeled descriptors."""
        return {e["label"]: e["fd"] for e in self.fds() if e.get("label")}

    def label(self, fd, name):
        return self.request("LABEL", [fd, name])

    def unlabel(self, name_or_fd):
        return self.request("UNLABEL", [name_or_fd])

    def gc(self, keep=(), dry_run=False):
        """Close what nobody owns (not labeled, not in keep)."""
        return self.request("GC", [list(keep),
                                   GC_DRY_RUN if dry_run else 0])

    # ---- workers -----------------------------------------------------

    def spawn(self, argv, env=None, fds=None, **opts):
        """Start a worker.  env: a dict or "K=V" strings; fds: {child_fd:
        server_fd} or pairs; other SPAWN keys as keywords (cwd, label,
        capture, setsid, log_max, user, uid, gid, cgroup, rlimits,
        policy, clear_env ...)."""
        body = {"argv": list(argv)}
        if env is not None:
            body["env"] = ["%s=%s" % kv for kv in env.items()] \
                if isinstance(env, dict) else list(env)
        if fds is not None:
            pairs = fds.items() if isinstance(fds, dict) else fds
            body["fds"] = [[int(c), int(s)] for c, s in pairs]
        body.update({k: v for k, v in opts.items() if v is not None})
        return self.reply(self.send(OPS["SPAWN"], body), OPS["SPAWN"])

    def ps(self):
        """Every worker record (a list of dicts, oldest first)."""
        out, frm = [], 0
        while True:
            rep = self.request("PS", [frm])
            out += rep["workers"]
            frm = rep["next"]
            if not frm:
                return out

    def wait(self, target, timeout_ms=-1):
        return self.request("WAIT", [target, timeout_ms])

    def kill(self, target, signal):
        return self.request("KILL", [target, signal])

    def stop(self, target, grace_ms=None):
        return self.request("STOP", [target] if grace_ms is None
                            else [target, grace_ms])

    def ack(self, target):
        return self.request("ACK", [target])

    def respawn(self, target):
        return self.request("RESPAWN", [target])

    def logs(self, target, offset=0, follow=False):
        """A worker's captured output, as (bytes, offset after them)
        pieces; the last piece's offset is where to go on."""
        op = OPS["LOGS"]
        rid = self.send(op, [target, offset, bool(follow)])
        while True:
            rep = self.reply(rid, op)
            data = rep.get("data") or b""
            yield data, rep["offset"] + len(data)
            if rep.get("end"):
                return

    def read_logs(self, target, offset=0):
        """The captured output from offset to its end now: (bytes, the
        offset to go on from)."""
        parts, end = [], offset
        for data, end in self.logs(target, offset):
            parts.append(data)
        return b"".join(parts), end

    # ---- bulk data ---------------------------------------------------

    def get(self, path, dest=None):
        """A server file's bytes (or written to dest, a binary file:
        then the byte count)."""
        op = OPS["GET"]
        rid = self.send(op, [path])
        self.reply(rid, op)                       # {size, mode}
        parts = []
        h = wire.Hasher()
        failed = self._recv_stream(rid, op, dest.write if dest is not None
                                   else parts.append, h)
        h.check(self.reply(rid, op))
        if failed:
            raise failed
        return h.bytes if dest is not None else b"".join(parts)

    def put(self, path, source, mode=None):
        """Write bytes (or a binary file's contents) to a server file,
        atomically: the final reply {done, bytes, xxh3, path}."""
        op = OPS["PUT"]
        rid = self.send(op, [path] if mode is None else [path, mode])
        self.reply(rid, op)                       # {ready: true}
        h = wire.Hasher()
        failed = wire.send_stream(self.data, source, h)
        try:
            done = self.reply(rid, op)
        except Error:
            # our ABORT, answered with its errno: the local error says more
            if failed:
                raise failed from None
            raise
        h.check(done)
        return done

    def give(self, fd):
        """A duplicate of the server's fd, as a descriptor of ours."""
        self.request("GIVE", [fd])
        msg, fds, _flags, _addr = socket.recv_fds(
            self.data, 1, 1, socket.MSG_CMSG_CLOEXEC)
        if msg != b"F" or len(fds) != 1:
            for f in fds:
                os.close(f)
            raise Error(errno.EBADMSG, "GIVE: no descriptor came")
        return fds[0]

    def take(self, fd, label=None):
        """Put a duplicate of our fd in the server's table: its number
        there."""
        # MSG_NOSIGNAL like every write of ours: never SIGPIPE
        self.data.sendmsg([b"F"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                    array.array("i", [fd]))],
                          socket.MSG_NOSIGNAL)
        return self.request("TAKE", [] if label is None else [label])["fd"]

    def mem_alloc(self, size):
        return wire.u64(self.request("MEM_ALLOC", [size])["addr"])

    def mem_free(self, addr):
        self.request("MEM_FREE", [addr])

    def mem_list(self):
        return self.request("MEM_LIST", [])["mems"]

    def mem_write(self, addr, data):
        op = OPS["MEM_WRITE"]
        rid = self.send(op, [addr, len(data)])
        self.reply(rid, op)
        h = wire.Hasher()
        wire.send_stream(self.data, data, h)
        h.check(self.reply(rid, op))

    def mem_read(self, addr, size):
        op = OPS["MEM_READ"]
        rid = self.send(op, [addr, size])
        self.reply(rid, op)
        parts, h = [], wire.Hasher()
        self._recv_stream(rid, op, parts.append, h)
        h.check(self.reply(rid, op))
        return b"".join(parts)

    def _recv_stream(self, rid, op, sink, h):
        """A server-to-client stream; an ABORT is followed by the final
        reply, which says why (and is raised)."""
        try:
            return wire.recv_stream(self.data, sink, h)
        except Error as e:
            if e.errno == errno.EPROTO or isinstance(e, Disconnected):
                raise
            self.reply(rid, op)
            raise


class _Batch(list):
    stopped_at = -1
    completed = 0
